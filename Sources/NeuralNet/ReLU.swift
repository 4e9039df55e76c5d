/// The rectifier y = max(x, 0), elementwise over any shape. Backward passes the gradient where
/// the output is positive. Cost: one pass each way, split over cores.
public final class ReLU: Layer {
    private var output = Tensor(shape: [0])

    public init() {}

    public var label: String { "ReLU" }

    public func outputShape(for shape: [Int]) throws -> [Int] { shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        output = Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xb in
                ComputeThreads.parallelFor(x.count, grain: 1 << 15) { range in
                    for i in range { y[i] = max(xb[i], 0) }
                }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "ReLU: output gradient shape \(dy.shape) is not \(output.shape)")
        return Tensor(shape: dy.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
            output.data.withUnsafeBufferPointer { y in
                ComputeThreads.parallelFor(dy.count, grain: 1 << 15) { range in
                    for i in range { dx[i] = y[i] > 0 ? g[i] : 0 }
                }
            }}
        }
    }
}
