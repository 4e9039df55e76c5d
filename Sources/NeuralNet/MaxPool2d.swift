/// Max pooling over square windows of NCHW planes, without padding (PyTorch's `nn.MaxPool2d`
/// with `padding=0`, `ceil_mode=False`). The first maximum of a window wins ties, as in PyTorch;
/// its position is kept for backward, which routes each output gradient there.
/// Cost: one pass over the input forward, one over the output and a cleared input backward.
public final class MaxPool2d: Layer {
    public let kernel: Int, stride: Int

    private var inputShape: [Int] = []
    /// For each output value, the index of its maximum within the input plane.
    private var argmax: [Int32] = []

    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? 1) > 0, "MaxPool2d: kernel and stride must be positive")
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public var label: String { "MaxPool2d(\(kernel)×\(kernel), s\(stride))" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[1] >= kernel, shape[2] >= kernel else {
            throw ShapeError("\(label) needs an input of [C, H, W] with H, W ≥ \(kernel), got \(shape)")
        }
        return [shape[0], (shape[1] - kernel) / stride + 1, (shape[2] - kernel) / stride + 1]
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[2] >= kernel && x.shape[3] >= kernel,
                     "\(label): input shape \(x.shape) is not [N, C, H, W] with H, W ≥ \(kernel)")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], height = x.shape[2], width = x.shape[3]
        let outHeight = (height - kernel) / stride + 1, outWidth = (width - kernel) / stride + 1
        let inPlane = height * width, outPlane = outHeight * outWidth
        let kernel = kernel, stride = stride
        if argmax.count != planes * outPlane { argmax = [Int32](repeating: 0, count: planes * outPlane) }
        return Tensor(shape: [x.shape[0], x.shape[1], outHeight, outWidth]) { out in
            x.data.withUnsafeBufferPointer { xb in
            argmax.withUnsafeMutableBufferPointer { ab in
                ComputeThreads.parallelFor(planes, grain: max(1, 16384 / inPlane)) { range in
                    for p in range {
                        let src = xb.baseAddress! + p * inPlane
                        let dst = out.baseAddress! + p * outPlane, arg = ab.baseAddress! + p * outPlane
                        for oh in 0..<outHeight {
                            for ow in 0..<outWidth {
                                var best = (oh * stride) * width + ow * stride
                                var bestValue = src[best]
                                for kh in 0..<kernel {
                                    let row = (oh * stride + kh) * width + ow * stride
                                    for kw in 0..<kernel {
                                        let v = src[row + kw]
                                        if v > bestValue || v.isNaN { best = row + kw; bestValue = v }
                                    }
                                }
                                dst[oh * outWidth + ow] = bestValue
                                arg[oh * outWidth + ow] = Int32(best)
                            }
                        }
                    }
                }
            }}
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let planes = inputShape[0] * inputShape[1], inPlane = inputShape[2] * inputShape[3]
        let outPlane = dy.count / max(1, planes)
        precondition(dy.count == argmax.count && dy.shape.prefix(2) == inputShape.prefix(2),
                     "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        var dx = Tensor(shape: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dxb in
        dy.data.withUnsafeBufferPointer { g in
        argmax.withUnsafeBufferPointer { ab in
            ComputeThreads.parallelFor(planes, grain: max(1, 16384 / inPlane)) { range in
                for p in range {
                    let dst = dxb.baseAddress! + p * inPlane
                    for i in p * outPlane ..< (p + 1) * outPlane { dst[Int(ab[i])] += g[i] }
                }
            }
        }}}
        return dx
    }
}
