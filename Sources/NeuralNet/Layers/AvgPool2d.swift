/// Average pooling over square windows of NCHW planes, without padding (PyTorch's
/// `nn.AvgPool2d` with `padding=0`): each output is the mean of its kernel² window.
/// Cost: one pass over the input forward, one over the input backward.
public final class AvgPool2d: Layer {
    public let kernel: Int, stride: Int
    private var inputShape: [Int] = []

    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? 1) > 0, "AvgPool2d: kernel and stride must be positive")
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public var label: String { "AvgPool2d(\(kernel)×\(kernel), s\(stride))" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        try pooledShape(shape, kernel: kernel, stride: stride, label: label)
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[2] >= kernel && x.shape[3] >= kernel,
                     "\(label): input shape \(x.shape) is not [N, C, H, W] with H, W ≥ \(kernel)")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], width = x.shape[3]
        let outHeight = (x.shape[2] - kernel) / stride + 1, outWidth = (width - kernel) / stride + 1
        let inPlane = x.shape[2] * width, outPlane = outHeight * outWidth
        let kernel = kernel, stride = stride, scale = 1 / Float(kernel * kernel)
        return Tensor(shape: [x.shape[0], x.shape[1], outHeight, outWidth]) { out in
            x.data.withUnsafeBufferPointer { xb in
                ComputeThreads.parallelFor(planes, grain: max(1, 16384 / inPlane)) { range in
                    for p in range {
                        let src = xb.baseAddress! + p * inPlane, dst = out.baseAddress! + p * outPlane
                        for oh in 0..<outHeight {
                            for ow in 0..<outWidth {
                                var sum: Float = 0
                                for kh in 0..<kernel {
                                    let row = src + (oh * stride + kh) * width + ow * stride
                                    for kw in 0..<kernel { sum += row[kw] }
                                }
                                dst[oh * outWidth + ow] = sum * scale
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let planes = inputShape[0] * inputShape[1], width = inputShape[3]
        let inPlane = inputShape[2] * width
        let outHeight = (inputShape[2] - kernel) / stride + 1, outWidth = (width - kernel) / stride + 1
        precondition(dy.shape == [inputShape[0], inputShape[1], outHeight, outWidth],
                     "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        let outPlane = outHeight * outWidth
        let kernel = kernel, stride = stride, scale = 1 / Float(kernel * kernel)
        var dx = Tensor(shape: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dxb in
        dy.data.withUnsafeBufferPointer { g in
            ComputeThreads.parallelFor(planes, grain: max(1, 16384 / inPlane)) { range in
                for p in range {
                    let dst = dxb.baseAddress! + p * inPlane, src = g.baseAddress! + p * outPlane
                    for oh in 0..<outHeight {
                        for ow in 0..<outWidth {
                            let share = src[oh * outWidth + ow] * scale
                            for kh in 0..<kernel {
                                let row = dst + (oh * stride + kh) * width + ow * stride
                                for kw in 0..<kernel { row[kw] += share }
                            }
                        }
                    }
                }
            }
        }}
        return dx
    }
}
