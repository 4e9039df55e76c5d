import CBLAS

/// C ← α·op(A)·op(B) + β·C on row-major Float matrices through OpenBLAS's `cblas_sgemm`,
/// where op transposes when asked: C is m×n, op(A) m×k, op(B) k×n. Makes sure the thread bound
/// is applied first. Cost: 2·m·n·k flops, over `ComputeThreads.count` cores.
@inline(__always)
func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
           beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    ComputeThreads.configure()
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
