/// A fully connected layer y = x·Wᵀ + b on [N, in] tensors (PyTorch's `nn.Linear`), one
/// `cblas_sgemm` each for the output, the weight gradient and the input gradient.
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

    public var namedParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 2 && x.shape[1] == inFeatures,
                     "\(label): input shape \(x.shape) is not [N, \(inFeatures)]")
        input = x
        let batch = x.shape[0], inFeatures = inFeatures, outFeatures = outFeatures
        let biasValues = bias?.value.data
        return Tensor(shape: [batch, outFeatures]) { y in
            // Start from the bias (or zero) in every row, then add x·Wᵀ.
            for n in 0..<batch {
                if let biasValues {
                    biasValues.withUnsafeBufferPointer { (y.baseAddress! + n * outFeatures).update(from: $0.baseAddress!, count: outFeatures) }
                } else {
                    (y.baseAddress! + n * outFeatures).update(repeating: 0, count: outFeatures)
                }
            }
            x.data.withUnsafeBufferPointer { xb in
            weight.value.data.withUnsafeBufferPointer { wb in
                sgemm(transposeB: true, m: batch, n: outFeatures, k: inFeatures, xb.baseAddress!, lda: inFeatures,
                      wb.baseAddress!, ldb: inFeatures, beta: 1, y.baseAddress!, ldc: outFeatures)
            }}
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let batch = x.shape[0], inFeatures = inFeatures, outFeatures = outFeatures
        precondition(dy.shape == [batch, outFeatures], "\(label): output gradient shape \(dy.shape) is not [\(batch), \(outFeatures)]")
        dy.data.withUnsafeBufferPointer { g in
            x.data.withUnsafeBufferPointer { xb in
            weight.grad.data.withUnsafeMutableBufferPointer { dw in
                // dW += dyᵀ · x
                sgemm(transposeA: true, m: outFeatures, n: inFeatures, k: batch, g.baseAddress!, lda: outFeatures,
                      xb.baseAddress!, ldb: inFeatures, beta: 1, dw.baseAddress!, ldc: inFeatures)
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
                // dx = dy · W
                sgemm(m: batch, n: inFeatures, k: outFeatures, g.baseAddress!, lda: outFeatures,
                      wb.baseAddress!, ldb: inFeatures, beta: 0, dx.baseAddress!, ldc: inFeatures)
            }}
        }
    }
}
