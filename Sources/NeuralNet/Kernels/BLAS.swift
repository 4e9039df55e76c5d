import CBLAS

/// C ← α·op(A)·op(B) + β·C on row-major Float matrices through OpenBLAS's `cblas_sgemm`,
/// where op transposes when asked: C is m×n, op(A) m×k, op(B) k×n. Makes sure the thread bound
/// is applied first. With β = 0, C is cleared here and the product added with β = 1, to the
/// same bits: OpenBLAS (0.3.21, Zen kernels) clears C one float per store, which took 9 % of a
/// resnet8 training step, where `update(repeating:)` stores whole vectors.
/// Cost: 2·m·n·k flops on the calling thread, plus clearing C when β = 0.
@inline(__always)
func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
           beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    ComputeThreads.configure()
    if beta == 0 {
        for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta == 0 ? 1 : beta, c, Int32(ldc))
}
