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
        try pooledShape(shape, kernel: kernel, stride: stride, label: label)
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
                    var range = range
                    if outWidth < 8 {   // too narrow for the row-wise fast path: eight planes side by side
                        range = eightPlanesAtATime(xb.baseAddress!, out.baseAddress!, ab.baseAddress!, planes: range,
                                                   width: width, inPlane: inPlane, outHeight: outHeight, outWidth: outWidth)
                    }
                    for p in range {
                        let src = xb.baseAddress! + p * inPlane
                        let dst = out.baseAddress! + p * outPlane, arg = ab.baseAddress! + p * outPlane
                        var first = 0   // the output columns the 2×2 fast path has done, per row
                        if kernel == 2 && stride == 2 {
                            first = pool2x2(src, dst, arg, width: width, outHeight: outHeight, outWidth: outWidth)
                        }
                        for oh in 0..<outHeight {
                            for ow in first..<outWidth {
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

    /// The 2×2, stride-2 windows of one plane, eight outputs at a time: sixteen floats of an input
    /// row hold the left (even lanes) and right (odd lanes) values of eight windows. The same
    /// rule as the scalar loop (first maximum wins, NaN propagates), without branches. Returns
    /// how many output columns of each row it did; the caller does the rest.
    private func pool2x2(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                         _ arg: UnsafeMutablePointer<Int32>, width: Int, outHeight: Int, outWidth: Int) -> Int {
        let done = outWidth / 8 * 8
        let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
        for oh in 0..<outHeight {
            let top = src + 2 * oh * width, bottom = top + width
            for ow in Swift.stride(from: 0, to: done, by: 8) {
                let a = UnsafeRawPointer(top + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                let b = UnsafeRawPointer(bottom + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                let corner = lanes &+ Int32(2 * oh * width + 2 * ow)
                var best = a.evenHalf, index = corner
                @inline(__always) func consider(_ v: SIMD8<Float>, _ offset: Int) {
                    let take = (v .> best) .| (v .!= v)
                    best.replace(with: v, where: take)
                    index.replace(with: corner &+ Int32(offset), where: take)
                }
                consider(a.oddHalf, 1)
                consider(b.evenHalf, width)
                consider(b.oddHalf, width + 1)
                UnsafeMutableRawPointer(dst + oh * outWidth + ow).storeBytes(of: best, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(arg + oh * outWidth + ow).storeBytes(of: index, as: SIMD8<Int32>.self)
            }
        }
        return done
    }

    /// Small planes (4×4, 2×2), whose windows the scalar loop would pick by unpredictable
    /// branches: the same window of eight planes at once, one SIMD lane per plane, by the scalar
    /// loop's rule (first maximum wins, NaN propagates). Returns the planes of `planes` left over.
    private func eightPlanesAtATime(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                    _ arg: UnsafeMutablePointer<Int32>, planes: Range<Int>, width: Int, inPlane: Int,
                                    outHeight: Int, outWidth: Int) -> Range<Int> {
        let outPlane = outHeight * outWidth
        @inline(__always) func gather(_ base: UnsafePointer<Float>, _ offset: Int) -> SIMD8<Float> {
            var v = SIMD8<Float>()
            for l in 0..<8 { v[l] = base[l &* inPlane &+ offset] }
            return v
        }
        var first = planes.lowerBound
        while first + 8 <= planes.upperBound {
            let base = src + first * inPlane
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let corner = (oh * stride) * width + ow * stride
                    var best = gather(base, corner), index = SIMD8<Int32>(repeating: Int32(corner))
                    for kh in 0..<kernel {
                        for kw in 0..<kernel where kh + kw > 0 {
                            let offset = corner + kh * width + kw
                            let v = gather(base, offset)
                            let take = (v .> best) .| (v .!= v)
                            best.replace(with: v, where: take)
                            index.replace(with: Int32(offset), where: take)
                        }
                    }
                    let position = first * outPlane + oh * outWidth + ow
                    for l in 0..<8 {
                        dst[position &+ l &* outPlane] = best[l]
                        arg[position &+ l &* outPlane] = index[l]
                    }
                }
            }
            first += 8
        }
        return first ..< planes.upperBound
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
