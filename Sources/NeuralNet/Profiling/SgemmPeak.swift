import Foundation

/// The machine's matrix-product rate, measured on the spot: every worker runs `sgemm` on
/// square matrices of its own, as kd's layers do (OpenBLAS single-threaded, kd's workers side
/// by side), for about `seconds`. The figure a layer's GFLOP/s is compared with. Cost: the
/// measuring time and three 512×512 matrices per worker.
public enum SgemmPeak {
    /// Floating-point operations per second of all workers together (2 per multiply-add).
    public static func measure(threads: Int, seconds: Double = 1) throws -> Double {
        try ComputeThreads.set(threads)
        let n = 512, workers = ComputeThreads.count
        let matrices = (0..<workers).map { w in
            (0..<3).map { k in [Float](repeating: Float(k + w + 1) * 1e-3, count: n * n) }
        }
        var outputs = matrices.map { $0[2] }
        // One product each to warm up, then rounds until the time is spent.
        func round() {
            outputs.withUnsafeMutableBufferPointer { out in
                ComputeThreads.parallelParts(workers) { _, range in
                    for w in range {
                        matrices[w][0].withUnsafeBufferPointer { a in
                        matrices[w][1].withUnsafeBufferPointer { b in
                        out[w].withUnsafeMutableBufferPointer { c in
                            sgemm(m: n, n: n, k: n, a.baseAddress!, lda: n, b.baseAddress!, ldb: n, beta: 0,
                                  c.baseAddress!, ldc: n)
                        }}}
                    }
                }
            }
        }
        round()
        let started = Date()
        var rounds = 0
        repeat {
            round()
            rounds += 1
        } while Date().timeIntervalSince(started) < seconds
        return 2 * Double(n * n * n) * Double(workers * rounds) / Date().timeIntervalSince(started)
    }
}
