/// A 2-D convolution over NCHW tensors (PyTorch's `nn.Conv2d` with square kernel, stride and
/// zero padding), computed as im2col + one `cblas_sgemm` per group of images.
///
/// Images are taken in groups whose column matrix stays within a fixed budget (a few MB, reused
/// across calls) yet holds enough output positions for an efficient matrix product, so deep
/// layers with 2×2 planes still multiply wide matrices. A 1×1, stride-1, unpadded convolution
/// multiplies the image itself. Cost per image: 2·outC·inC·k²·outH·outW flops forward, twice
/// that backward (weight and input gradients), plus the im2col copies.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// [outChannels, inChannels, kernel, kernel]
    public let weight: Parameter
    /// [outChannels], or nil for a convolution without bias.
    public let bias: Parameter?

    private var input = Tensor(shape: [0])
    private var columns: [Float] = []       // the column matrix of one group, reused
    private var groupProduct: [Float] = []  // outC × (group · outH·outW), reused

    /// Output positions a group should reach so that the product is wide enough for BLAS.
    private static let minimumGroupColumns = 2048
    /// The most floats a group's column matrix may take (16 MB).
    private static let columnBudget = 4 << 20

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0,
                     "Conv2d: sizes must be positive and padding non-negative")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        weight = Parameter(Tensor(shape: [outChannels, inChannels, kernel, kernel]))
        self.bias = bias ? Parameter(Tensor(shape: [outChannels])) : nil
    }

    public var label: String {
        "Conv2d(\(inChannels)→\(outChannels), \(kernel)×\(kernel), s\(stride), p\(padding)"
            + (bias == nil ? ", no bias)" : ")")
    }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[0] == inChannels,
              shape[1] + 2 * padding >= kernel, shape[2] + 2 * padding >= kernel else {
            throw ShapeError("\(label) needs an input of [\(inChannels), H, W] with H, W ≥ "
                             + "\(max(1, kernel - 2 * padding)), got \(shape)")
        }
        let g = geometry(height: shape[1], width: shape[2])
        return [outChannels, g.outHeight, g.outWidth]
    }

    public var namedParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    private func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inChannels, height: height, width: width,
                     kernel: kernel, stride: stride, padding: padding)
    }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Images per group for a batch of `batch` under geometry `g`.
    private func groupSize(batch: Int, _ g: ConvGeometry) -> Int {
        let wanted = (Self.minimumGroupColumns + g.outSpatial - 1) / g.outSpatial
        let affordable = max(1, Self.columnBudget / (g.rows * g.outSpatial))
        return max(1, min(batch, wanted, affordable))
    }

    /// Fills `columns` with the column matrix of images `first..<first+count` of `x`, side by side.
    private func fillColumns(_ x: UnsafePointer<Float>, first: Int, count: Int, _ g: ConvGeometry,
                             _ cols: UnsafeMutablePointer<Float>) {
        let ld = count * g.outSpatial
        let items = count * inChannels
        ComputeThreads.parallelFor(items, grain: max(1, 32768 / (kernel * kernel * g.outSpatial))) { range in
            for item in range {
                let (image, c) = item.quotientAndRemainder(dividingBy: inChannels)
                g.im2col(channel: c, image: x + (first + image) * inChannels * g.inSpatial,
                         columns: cols + image * g.outSpatial, ld: ld)
            }
        }
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                     "\(label): input shape \(x.shape) is not [N, \(inChannels), H, W]")
        input = x
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        let spatial = g.outSpatial, rows = g.rows
        let group = groupSize(batch: batch, g)
        let direct = group == 1   // the product of one image is already its NCHW output
        if !(direct && isPointwise) && columns.count < rows * group * spatial {
            columns = [Float](repeating: 0, count: rows * group * spatial)
        }
        if !direct && groupProduct.count < outChannels * group * spatial {
            groupProduct = [Float](repeating: 0, count: outChannels * group * spatial)
        }
        let outChannels = outChannels
        let biasValues = bias?.value.data ?? []
        return Tensor(shape: [batch, outChannels, g.outHeight, g.outWidth]) { out in
            let out = out.baseAddress!
            x.data.withUnsafeBufferPointer { xb in
            weight.value.data.withUnsafeBufferPointer { wb in
            columns.withUnsafeMutableBufferPointer { cb in
            groupProduct.withUnsafeMutableBufferPointer { pb in
            biasValues.withUnsafeBufferPointer { bb in
                let x = xb.baseAddress!, w = wb.baseAddress!
                for first in Swift.stride(from: 0, to: batch, by: group) {
                    let count = min(group, batch - first)
                    let width = count * spatial
                    let b: UnsafePointer<Float>
                    if direct && isPointwise {
                        b = x + first * inChannels * g.inSpatial
                    } else {
                        fillColumns(x, first: first, count: count, g, cb.baseAddress!)
                        b = UnsafePointer(cb.baseAddress!)
                    }
                    let c = direct ? out + first * outChannels * spatial : pb.baseAddress!
                    sgemm(m: outChannels, n: width, k: rows, w, lda: rows, b, ldb: width, beta: 0, c, ldc: width)
                    // Scatter the group's product into NCHW order, adding the bias on the way.
                    let product = UnsafePointer(c)
                    ComputeThreads.parallelFor(count * outChannels, grain: max(1, 16384 / spatial)) { range in
                        for item in range {
                            let (image, o) = item.quotientAndRemainder(dividingBy: outChannels)
                            let src = product + o * width + image * spatial
                            let dst = out + ((first + image) * outChannels + o) * spatial
                            let shift = bb.isEmpty ? 0 : bb[o]
                            if direct {
                                if shift != 0 { for i in 0..<spatial { dst[i] += shift } }
                            } else {
                                for i in 0..<spatial { dst[i] = src[i] + shift }
                            }
                        }
                    }
                }
            }}}}}
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        precondition(dy.shape == [batch, outChannels, g.outHeight, g.outWidth],
                     "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        let spatial = g.outSpatial, rows = g.rows
        let group = groupSize(batch: batch, g)
        let direct = group == 1
        let outChannels = outChannels
        // A direct pointwise product writes every input-gradient value; col2im only adds.
        var dx = direct && isPointwise ? Tensor(shape: x.shape) { _ in } : Tensor(shape: x.shape)
        if let bias {
            dy.data.withUnsafeBufferPointer { dyb in
            bias.grad.data.withUnsafeMutableBufferPointer { db in
                ComputeThreads.parallelFor(outChannels, grain: max(1, 8192 / (batch * spatial))) { range in
                    for o in range {
                        var sum: Float = 0
                        for n in 0..<batch {
                            sum += sumOf(dyb.baseAddress! + (n * outChannels + o) * spatial, spatial)
                        }
                        db[o] += sum
                    }
                }
            }}
        }
        x.data.withUnsafeBufferPointer { xb in
        dy.data.withUnsafeBufferPointer { dyb in
        dx.data.withUnsafeMutableBufferPointer { dxb in
        weight.value.data.withUnsafeBufferPointer { wb in
        weight.grad.data.withUnsafeMutableBufferPointer { dwb in
        columns.withUnsafeMutableBufferPointer { cb in
        groupProduct.withUnsafeMutableBufferPointer { pb in
            let x = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress!
            for first in Swift.stride(from: 0, to: batch, by: group) {
                let count = min(group, batch - first)
                let width = count * spatial
                // The group's output gradient as outC × (count · spatial).
                let dyGroup: UnsafePointer<Float>
                if direct {
                    dyGroup = dyp + first * outChannels * spatial
                } else {
                    let p = pb.baseAddress!
                    ComputeThreads.parallelFor(count * outChannels, grain: max(1, 16384 / spatial)) { range in
                        for item in range {
                            let (image, o) = item.quotientAndRemainder(dividingBy: outChannels)
                            (p + o * width + image * spatial).update(
                                from: dyp + ((first + image) * outChannels + o) * spatial, count: spatial)
                        }
                    }
                    dyGroup = UnsafePointer(p)
                }
                let cols: UnsafePointer<Float>
                if direct && isPointwise {
                    cols = x + first * inChannels * g.inSpatial
                } else {
                    fillColumns(x, first: first, count: count, g, cb.baseAddress!)
                    cols = UnsafePointer(cb.baseAddress!)
                }
                // dW += dY · colsᵀ
                sgemm(transposeB: true, m: outChannels, n: rows, k: width,
                      dyGroup, lda: width, cols, ldb: width, beta: 1, dwb.baseAddress!, ldc: rows)
                // dcols = Wᵀ · dY, then back onto the images.
                if direct && isPointwise {
                    sgemm(transposeA: true, m: rows, n: width, k: outChannels, wb.baseAddress!, lda: rows,
                          dyGroup, ldb: width, beta: 0, dxp + first * inChannels * g.inSpatial, ldc: width)
                    continue
                }
                let dcols = cb.baseAddress!
                sgemm(transposeA: true, m: rows, n: width, k: outChannels, wb.baseAddress!, lda: rows,
                      dyGroup, ldb: width, beta: 0, dcols, ldc: width)
                ComputeThreads.parallelFor(count * inChannels,
                                           grain: max(1, 32768 / (kernel * kernel * spatial))) { range in
                    for item in range {
                        let (image, c) = item.quotientAndRemainder(dividingBy: inChannels)
                        g.col2im(channel: c, columns: dcols + image * spatial, ld: width,
                                 image: dxp + (first + image) * inChannels * g.inSpatial)
                    }
                }
            }
        }}}}}}}
        return dx
    }
}
