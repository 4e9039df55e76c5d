/// A residual block y = body(x) + shortcut(x), the shortcut being the identity when absent (the
/// blocks of ResNet and WRN; a ReLU after the sum is a separate layer). The body's parameters
/// keep their own names (`conv1.weight` for a body `Sequential([("conv1", …), …])`), the
/// shortcut's are prefixed `shortcut.`, as in the common PyTorch CIFAR ResNets.
/// Cost: that of body and shortcut plus one pass to add.
public final class Residual: Layer {
    public let body: any Layer
    public let shortcut: (any Layer)?

    public init(body: any Layer, shortcut: (any Layer)?) {
        self.body = body
        self.shortcut = shortcut
    }

    public var label: String { shortcut == nil ? "Residual" : "Residual(with shortcut)" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        let out = try body.outputShape(for: shape)
        let skip = try shortcut?.outputShape(for: shape) ?? shape
        guard out == skip else {
            throw ShapeError("\(label): the body gives \(out) but the shortcut gives \(skip)")
        }
        return out
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let out = body.forward(x, mode: mode)
        let skip = shortcut?.forward(x, mode: mode) ?? x
        precondition(out.shape == skip.shape, "\(label): body output \(out.shape) but shortcut \(skip.shape)")
        return elementwiseSum(out, skip)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dBody = body.backward(dy)
        let dSkip = shortcut?.backward(dy) ?? dy
        return elementwiseSum(dBody, dSkip)
    }

    public var namedParameters: [(String, Parameter)] {
        body.namedParameters + (shortcut?.namedParameters.map { ("shortcut." + $0.0, $0.1) } ?? [])
    }

    public var namedBuffers: [(String, Parameter)] {
        body.namedBuffers + (shortcut?.namedBuffers.map { ("shortcut." + $0.0, $0.1) } ?? [])
    }

    private func elementwiseSum(_ a: Tensor, _ b: Tensor) -> Tensor {
        Tensor(shape: a.shape) { out in
            a.data.withUnsafeBufferPointer { ab in
            b.data.withUnsafeBufferPointer { bb in
                ComputeThreads.parallelFor(a.count, grain: 1 << 15) { range in
                    addVectors(ab.baseAddress! + range.lowerBound, bb.baseAddress! + range.lowerBound,
                               out.baseAddress! + range.lowerBound, range.count)
                }
            }}
        }
    }
}
