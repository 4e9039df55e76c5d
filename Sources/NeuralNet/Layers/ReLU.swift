/// The rectifier y = max(x, 0), elementwise over any shape. Backward passes the gradient where
/// the output is positive. Cost: one pass each way, split over cores.
public final class ReLU: Layer {
    private var output = Tensor(shape: [0])

    public init() {}

    public var label: String { "ReLU" }

    public func outputShape(for shape: [Int]) throws -> [Int] { shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        rectifier(of: x, adding: nil, mode: mode)
    }

    /// The rectifier of x + r, the sum computed on the way: a residual block's two paths
    /// meeting and the ReLU after them in one pass, with no tensor for the sum. Its backward
    /// is `backward`'s (the sum's gradient, which both paths take).
    public func forward(_ x: Tensor, adding r: Tensor, mode: Mode) -> Tensor {
        precondition(r.shape == x.shape, "ReLU: \(r.shape) added to \(x.shape)")
        return rectifier(of: x, adding: r, mode: mode)
    }

    private func rectifier(of x: Tensor, adding r: Tensor?, mode: Mode) -> Tensor {
        let y = Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xb in
            r.withUnsafeValues { other in
                ComputeThreads.parallelFor(x.count, grain: 1 << 15) { range in
                    let source = xb.baseAddress! + range.lowerBound, target = y.baseAddress! + range.lowerBound
                    if let other {
                        addRectify(source, other + range.lowerBound, target, range.count)
                    } else {
                        rectify(source, target, range.count)
                    }
                }
            }}
        }
        output = mode.keepsCaches ? y : Tensor(shape: [0])
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "ReLU: output gradient shape \(dy.shape) is not \(output.shape)")
        return Tensor(shape: dy.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
            output.data.withUnsafeBufferPointer { y in
                ComputeThreads.parallelFor(dy.count, grain: 1 << 15) { range in
                    rectifyGradient(g.baseAddress! + range.lowerBound, output: y.baseAddress! + range.lowerBound,
                                    dx.baseAddress! + range.lowerBound, range.count)
                }
            }}
        }
    }
}
