/// The rectifier y = max(x, 0), elementwise over any shape. Backward passes the gradient where
/// the output is positive. Cost: one pass each way, split over cores.
public final class ReLU: Layer {
    private var output = Tensor(shape: [0])

    public init() {}

    public var label: String { "ReLU" }

    public func outputShape(for shape: [Int]) throws -> [Int] { shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let y = Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xb in
                ComputeThreads.parallelFor(x.count, grain: 1 << 15) { range in
                    rectify(xb.baseAddress! + range.lowerBound, y.baseAddress! + range.lowerBound, range.count)
                }
            }
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
