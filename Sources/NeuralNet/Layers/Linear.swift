/// A fully connected layer y = x·Wᵀ + b on [N, in] tensors (PyTorch's `nn.Linear`), one
/// `sgemm` each for the output, the weight gradient and the input gradient, split over the
/// workers by rows (so no partial sums).
/// Cost: 2·N·in·out flops forward, twice that backward.
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    /// [outFeatures, inFeatures]
    public let weight: Parameter
    /// [outFeatures], or nil without bias.
    public let bias: Parameter?

    private var input = Tensor(shape: [0])

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: sizes must be positive")
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Parameter(Tensor(shape: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(shape: [outFeatures])) : nil
    }

    public var label: String { "Linear(\(inFeatures)→\(outFeatures)\(bias == nil ? ", no bias" : ""))" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape == [inFeatures] else {
            throw ShapeError("\(label) needs an input of [\(inFeatures)], got \(shape)")
        }
        return [outFeatures]
    }

    public var ownParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 2 && x.shape[1] == inFeatures,
                     "\(label): input shape \(x.shape) is not [N, \(inFeatures)]")
        input = mode.keepsCaches ? x : Tensor(shape: [0])
        let batch = x.shape[0], inFeatures = inFeatures, outFeatures = outFeatures
        let biasValues = bias?.value.data ?? []
        return Tensor(shape: [batch, outFeatures]) { y in
            x.data.withUnsafeBufferPointer { xb in
            weight.value.data.withUnsafeBufferPointer { wb in
            biasValues.withUnsafeBufferPointer { bb in
                // Rows of the batch split over the workers: y = bias, then y += x·Wᵀ.
                ComputeThreads.parallelFor(batch, grain: rowsWorthAThread) { rows in
                    let out = y.baseAddress! + rows.lowerBound * outFeatures
                    for n in 0..<rows.count {
                        if !bb.isEmpty {
                            (out + n * outFeatures).update(from: bb.baseAddress!, count: outFeatures)
                        } else {
                            (out + n * outFeatures).update(repeating: 0, count: outFeatures)
                        }
                    }
                    sgemm(transposeB: true, m: rows.count, n: outFeatures, k: inFeatures,
                          xb.baseAddress! + rows.lowerBound * inFeatures, lda: inFeatures,
                          wb.baseAddress!, ldb: inFeatures, beta: 1, out, ldc: outFeatures)
                }
            }}}
        }
    }

    /// The fewest rows (or output features) worth a worker: about 64K multiply-adds.
    private var rowsWorthAThread: Int { max(1, 65536 / (inFeatures * outFeatures)) }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let batch = x.shape[0], inFeatures = inFeatures, outFeatures = outFeatures
        precondition(dy.shape == [batch, outFeatures], "\(label): output gradient shape \(dy.shape) is not [\(batch), \(outFeatures)]")
        dy.data.withUnsafeBufferPointer { g in
            x.data.withUnsafeBufferPointer { xb in
            weight.grad.data.withUnsafeMutableBufferPointer { dw in
                // dW += dyᵀ · x, output features split over the workers.
                ComputeThreads.parallelFor(outFeatures, grain: max(1, 65536 / (inFeatures * batch))) { features in
                    sgemm(transposeA: true, m: features.count, n: inFeatures, k: batch,
                          g.baseAddress! + features.lowerBound, lda: outFeatures, xb.baseAddress!, ldb: inFeatures,
                          beta: 1, dw.baseAddress! + features.lowerBound * inFeatures, ldc: inFeatures)
                }
            }}
            if let bias {
                bias.grad.data.withUnsafeMutableBufferPointer { db in
                    for n in 0..<batch { for o in 0..<outFeatures { db[o] += g[n * outFeatures + o] } }
                }
            }
        }
        return Tensor(shape: x.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
            weight.value.data.withUnsafeBufferPointer { wb in
                // dx = dy · W, rows split over the workers.
                ComputeThreads.parallelFor(batch, grain: rowsWorthAThread) { rows in
                    sgemm(m: rows.count, n: inFeatures, k: outFeatures,
                          g.baseAddress! + rows.lowerBound * outFeatures, lda: outFeatures,
                          wb.baseAddress!, ldb: inFeatures, beta: 0,
                          dx.baseAddress! + rows.lowerBound * inFeatures, ldc: inFeatures)
                }
            }}
        }
    }
}
