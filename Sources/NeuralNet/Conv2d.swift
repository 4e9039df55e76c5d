/// A 2-D convolution over NCHW tensors (PyTorch's `nn.Conv2d` with square kernel, stride and
/// zero padding), computed as im2col + `sgemm`: output = W · columns.
///
/// The batch is split into one contiguous run of images per worker; each worker takes its run in
/// groups whose column matrix stays within a fixed budget (reused across calls) yet holds enough
/// output positions for an efficient product, so deep layers with 2×2 planes still multiply wide
/// matrices. A 1×1, stride-1, unpadded convolution multiplies the image itself. Backward, each
/// worker rebuilds its columns, adds dY·columnsᵀ into its own partial weight gradient (summed
/// in worker order afterwards) and sends Wᵀ·dY back through col2im.
/// Cost per image: 2·outC·inC·k²·outH·outW flops forward, twice that backward, plus im2col.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// [outChannels, inChannels, kernel, kernel]
    public let weight: Parameter
    /// [outChannels], or nil for a convolution without bias.
    public let bias: Parameter?

    private var input = Tensor(shape: [0])
    /// Per worker: the column matrix of a group, the group's outC × positions product (or
    /// gathered output gradient), and the partial weight gradient.
    private let scratch = WorkerScratch(buffersPerWorker: 3)

    /// Output positions a group should reach so that the product is wide enough for BLAS.
    private static let minimumGroupColumns = 8192
    /// The most floats a group's column matrix may take (8 MB).
    private static let columnBudget = 2 << 20

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

    /// Images per group for a run of `images` images under geometry `g`.
    private func groupSize(images: Int, _ g: ConvGeometry) -> Int {
        let wanted = (Self.minimumGroupColumns + g.outSpatial - 1) / g.outSpatial
        let affordable = max(1, Self.columnBudget / (g.rows * g.outSpatial))
        return max(1, min(images, wanted, affordable))
    }

    /// Writes the column matrix of images `first..<first+count` of `x`, side by side, into `cols`.
    private func fillColumns(_ x: UnsafePointer<Float>, first: Int, count: Int, _ g: ConvGeometry,
                             _ cols: UnsafeMutablePointer<Float>) {
        let ld = count * g.outSpatial
        for image in 0..<count {
            let source = x + (first + image) * inChannels * g.inSpatial
            for c in 0..<inChannels {
                g.im2col(channel: c, image: source, columns: cols + image * g.outSpatial, ld: ld)
            }
        }
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                     "\(label): input shape \(x.shape) is not [N, \(inChannels), H, W]")
        input = x
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        let spatial = g.outSpatial, rows = g.rows, outChannels = outChannels, inChannels = inChannels
        let pointwise = isPointwise
        scratch.prepare(workers: ComputeThreads.parts(for: batch))
        let biasValues = bias?.value.data ?? []
        return Tensor(shape: [batch, outChannels, g.outHeight, g.outWidth]) { out in
            let out = out.baseAddress!
            x.data.withUnsafeBufferPointer { xb in
            weight.value.data.withUnsafeBufferPointer { wb in
            biasValues.withUnsafeBufferPointer { bb in
                let x = xb.baseAddress!, w = wb.baseAddress!
                ComputeThreads.parallelParts(batch) { part, images in
                    let buffers = scratch.buffers(part)
                    let group = groupSize(images: images.count, g)
                    let direct = group == 1   // one image's product is already its NCHW output
                    let cols = direct && pointwise ? nil : buffers[0].reserve(rows * group * spatial)
                    let product = direct ? nil : buffers[1].reserve(outChannels * group * spatial)
                    for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: group) {
                        let count = min(group, images.upperBound - first)
                        let width = count * spatial
                        let b: UnsafePointer<Float>
                        if let cols {
                            fillColumns(x, first: first, count: count, g, cols)
                            b = UnsafePointer(cols)
                        } else {
                            b = x + first * inChannels * g.inSpatial
                        }
                        let c = product ?? out + first * outChannels * spatial
                        sgemm(m: outChannels, n: width, k: rows, w, lda: rows, b, ldb: width, beta: 0, c, ldc: width)
                        // Into NCHW order (unless already there), adding the bias on the way.
                        for image in 0..<count {
                            for o in 0..<outChannels {
                                let dst = out + ((first + image) * outChannels + o) * spatial
                                let shift = bb.isEmpty ? 0 : bb[o]
                                if let product {
                                    addScalar(product + o * width + image * spatial, dst, spatial, shift)
                                } else if shift != 0 {
                                    addScalar(dst, dst, spatial, shift)
                                }
                            }
                        }
                    }
                }
            }}}
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        precondition(dy.shape == [batch, outChannels, g.outHeight, g.outWidth],
                     "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        let spatial = g.outSpatial, rows = g.rows, outChannels = outChannels, inChannels = inChannels
        let pointwise = isPointwise
        let workers = ComputeThreads.parts(for: batch)
        scratch.prepare(workers: workers)
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
        let dx = Tensor(shape: x.shape) { dxb in
            x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
            weight.value.data.withUnsafeBufferPointer { wb in
                let x = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress!, w = wb.baseAddress!
                ComputeThreads.parallelParts(batch) { part, range in
                    let buffers = scratch.buffers(part)
                    let group = groupSize(images: range.count, g)
                    let direct = group == 1
                    let cols = direct && pointwise ? nil : buffers[0].reserve(rows * group * spatial)
                    let gathered = direct ? nil : buffers[1].reserve(outChannels * group * spatial)
                    let weightGrad = buffers[2].reserve(outChannels * rows)
                    for first in Swift.stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        let count = min(group, range.upperBound - first)
                        let width = count * spatial
                        // The group's output gradient as outC × (count · spatial).
                        let dyGroup: UnsafePointer<Float>
                        if let gathered {
                            for image in 0..<count {
                                for o in 0..<outChannels {
                                    (gathered + o * width + image * spatial).update(
                                        from: dyp + ((first + image) * outChannels + o) * spatial, count: spatial)
                                }
                            }
                            dyGroup = UnsafePointer(gathered)
                        } else {
                            dyGroup = dyp + first * outChannels * spatial
                        }
                        let images = dxp + first * inChannels * g.inSpatial
                        // dW (+)= dY · columnsᵀ, the worker's first group setting its partial sum.
                        let beta: Float = first == range.lowerBound ? 0 : 1
                        if let cols {
                            fillColumns(x, first: first, count: count, g, cols)
                            sgemm(transposeB: true, m: outChannels, n: rows, k: width,
                                  dyGroup, lda: width, cols, ldb: width, beta: beta, weightGrad, ldc: rows)
                        } else {
                            sgemm(transposeB: true, m: outChannels, n: rows, k: width,
                                  dyGroup, lda: width, x + first * inChannels * g.inSpatial, ldb: width,
                                  beta: beta, weightGrad, ldc: rows)
                        }
                        // dcolumns = Wᵀ · dY, summed back into the images by col2im.
                        guard let cols else {
                            sgemm(transposeA: true, m: rows, n: width, k: outChannels, w, lda: rows,
                                  dyGroup, ldb: width, beta: 0, images, ldc: width)
                            continue
                        }
                        sgemm(transposeA: true, m: rows, n: width, k: outChannels, w, lda: rows,
                              dyGroup, ldb: width, beta: 0, cols, ldc: width)
                        for image in 0..<count {
                            for c in 0..<inChannels {
                                g.col2im(channel: c, columns: cols + image * spatial, ld: width,
                                         image: images + image * inChannels * g.inSpatial)
                            }
                        }
                    }
                }
            }}}
        }
        // The workers' partial weight gradients, added in worker order.
        let partials = (0..<workers).map { UnsafePointer(scratch.buffers($0)[2].pointer) }
        weight.grad.data.withUnsafeMutableBufferPointer { dw in
            ComputeThreads.parallelFor(dw.count, grain: 1 << 14) { range in
                for i in range {
                    var sum = dw[i]
                    for partial in partials { sum += partial[i] }
                    dw[i] = sum
                }
            }
        }
        return dx
    }
}
