/// The mean of each NCHW plane, keeping the shape [N, C, 1, 1] (PyTorch's
/// `nn.AdaptiveAvgPool2d(1)`); a `Flatten` after it gives the [N, C] feature vector.
/// Cost: one pass over the input forward and backward.
public final class GlobalAvgPool: Layer {
    private var inputShape: [Int] = []

    public init() {}

    public var label: String { "GlobalAvgPool" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape.count == 3 else { throw ShapeError("\(label) needs an input of [C, H, W], got \(shape)") }
        return [shape[0], 1, 1]
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 4, "\(label): input shape \(x.shape) is not [N, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
        return Tensor(shape: [x.shape[0], x.shape[1], 1, 1]) { out in
            x.data.withUnsafeBufferPointer { xb in
                ComputeThreads.parallelFor(planes, grain: max(1, 16384 / plane)) { range in
                    for p in range { out[p] = sumOf(xb.baseAddress! + p * plane, plane) / Float(plane) }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let planes = inputShape[0] * inputShape[1], plane = inputShape[2] * inputShape[3]
        precondition(dy.count == planes, "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        return Tensor(shape: inputShape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                ComputeThreads.parallelFor(planes, grain: max(1, 16384 / plane)) { range in
                    for p in range {
                        (dx.baseAddress! + p * plane).update(repeating: g[p] / Float(plane), count: plane)
                    }
                }
            }
        }
    }
}
