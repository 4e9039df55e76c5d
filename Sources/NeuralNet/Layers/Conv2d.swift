/// A 2-D convolution over NCHW tensors (PyTorch's `nn.Conv2d` with square kernel, stride and
/// zero padding), computed as im2col + `sgemm`: output = W · columns.
///
/// The batch is split into one contiguous run of images per worker. Large planes (16×16 and up)
/// go image by image, in bands of output rows whose column matrix stays in the core's L2 cache,
/// the product landing straight in the NCHW output. Small planes go in groups of images side by
/// side, so that deep layers with 2×2 planes still multiply wide matrices. A 1×1, stride-1,
/// unpadded convolution multiplies the image itself; a stride-2 3×3 one halving a large even
/// plane (the residual networks' downsampling) first splits each image into its four phases,
/// whose im2col and col2im move whole planes (`ConvGeometry.isPhaseSplit`). Backward, each worker rebuilds its columns,
/// adds dY·columnsᵀ into its own partial weight gradient (summed in worker order afterwards) and
/// sends Wᵀ·dY back through col2im. Scratch space is kept and reused across calls, one set per calling thread for all layers
/// (`ConvolutionScratch`).
///
/// 3×3 convolutions with stride 1 and padding 1 on planes 4×4 and up, with 16 channels or more
/// in and out — most of the seed networks' work — take Winograd's F(2×2, 3×3)
/// instead (`WinogradConvolution`) for all three products — forward, input gradient and weight
/// gradient: 2.25× fewer multiply-adds and no im2col (measured: a training step of s1 288 →
/// 231 ms with the weight gradient, after 12–20 % off s1, s2 and the teacher for the other two).
/// Where F(4×4, 3×3) (`Winograd4x4Convolution`) takes its tiles in rows — planes 16×16 and
/// 32×32 — it computes the forward and input-gradient products instead (`fourByFour`); the
/// weight gradient stays with F(2×2).
/// Cost per image: 2·outC·inC·k²·outH·outW flops forward, twice that backward, plus im2col.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// [outChannels, inChannels, kernel, kernel]
    public let weight: Parameter
    /// [outChannels], or nil for a convolution without bias.
    public let bias: Parameter?

    /// False for the first layer of a network that trains: nothing reads the gradient of its
    /// input (the images), so `backward` computes only the parameter gradients — no Wᵀ·dY,
    /// col2im or adjoint convolution — and returns an empty tensor. Set by `Model.backward`.
    public var computesInputGradient = true

    private var input = Tensor(shape: [0])
    /// The calling thread's scratch (`ConvolutionScratch`), taken at the start of each forward
    /// and backward so that the workers of the call use the caller's set.
    private var shared = ConvolutionScratch.current
    /// Per worker: the column matrix of a band or group, a group's outC × positions product (or
    /// gathered output gradient), the partial weight gradient, and a phase-split image's phases
    /// (and its gradient's).
    private var scratch: WorkerScratch { shared.workers }
    /// Winograd-transformed kernels (`WinogradConvolution.transformKernels`), rebuilt every call.
    private var transformedKernels: ScratchBuffer { shared.kernels }
    /// `ConvGeometry.offsetTable()` for the plane size of the last grouped call.
    private var offsets: (height: Int, width: Int, table: [Int32]) = (0, 0, [])

    /// Planes of at least this many output positions go image by image, in bands.
    private static let bandedPlane = 256
    /// The most floats a band's column matrix may take (512 KB, within a core's L2 cache).
    private static let bandBudget = 1 << 17
    /// Output positions a group of small planes should reach for an efficient product.
    private static let minimumGroupColumns = 512
    /// The most floats a group's column matrix may take (8 MB).
    private static let groupBudget = 2 << 20

    /// Fewest channels, in and out, for Winograd to pay: its products are as deep as the
    /// channels summed and as tall as the channels produced.
    static let winogradMinimumChannels = 16
    /// Smallest plane side for Winograd: on 2×2 planes (one tile an image) it measured no faster.
    static let winogradMinimumPlane = 4
    /// Tiles a Winograd product should span for an efficient product …
    private static let winogradTiles = 512
    /// … and for F(4×4), whose 36 transform-domain matrices per group would otherwise outgrow
    /// the L2 cache (16 channels: 147 KB each for the transformed input and the products;
    /// 64 tiles measured faster than 128, 256 or 512) …
    private static let winogradTiles4x4 = 64
    /// … within this many floats of transformed input and products per worker (8 MB).
    private static let winogradBudget = 2 << 20

    /// The Winograd F(2×2, 3×3) form of this layer's convolution on `height`×`width` planes, when
    /// the layer is 3×3 with stride 1 and padding 1, the channels reach
    /// `winogradMinimumChannels` and the plane `winogradMinimumPlane`.
    private func winograd(height: Int, width: Int) -> WinogradConvolution? {
        guard kernel == 3 && stride == 1 && padding == 1,
              min(height, width) >= Self.winogradMinimumPlane,
              min(inChannels, outChannels) >= Self.winogradMinimumChannels else { return nil }
        return WinogradConvolution(inChannels: inChannels, outChannels: outChannels, height: height, width: width)
    }

    /// F(4×4, 3×3) for the convolution `w` (forward, or the adjoint for the input gradient)
    /// where it takes its tiles in rows (`WinogradTiling.Layout`: planes 29 wide and up, or 13 to
    /// 16 wide with an even number of tile rows), else nil for F(2×2). Measured there (training
    /// steps of six equal layers, one core, CPU time): 16→16 on 32×32 5 % and 32→32 on 16×16
    /// 9 % less than F(2×2); on 8×8 planes (two tiles a row, gathered lane by lane) 8 % more.
    private static func fourByFour(_ w: WinogradConvolution) -> Winograd4x4Convolution? {
        let f = Winograd4x4Convolution(w)
        return f.tiling.layout == .gathered ? nil : f
    }

    /// Images per Winograd group for a worker with `images` images: enough tiles for efficient
    /// products, within the scratch budget for transformed inputs and products.
    private func winogradGroup<W: WinogradForm>(_ w: W, images: Int) -> Int {
        let t = w.tiling, perImage = t.points * (t.inChannels + t.outChannels) * t.tilesPerImage
        let wanted = t.tile == 4 ? Self.winogradTiles4x4 : Self.winogradTiles
        return max(1, min(images, (wanted + t.tilesPerImage - 1) / t.tilesPerImage,
                          Self.winogradBudget / perImage))
    }

    /// Runs `w` over images `range` of `x` into `y` in groups of images sized by the budget,
    /// with the worker's scratch buffers, each group's output finished (`Finish`) as it lands.
    private func convolve<W: WinogradForm>(_ w: W, _ x: UnsafePointer<Float>, images range: Range<Int>,
                                           kernels: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                           _ y: UnsafeMutablePointer<Float>, finish: Finish = Finish(),
                                           scratch buffers: [ScratchBuffer]) {
        let t = w.tiling, group = winogradGroup(w, images: range.count)
        let v = buffers[0].reserve(t.inputSize(tiles: group * t.tilesPerImage))
        let m = buffers[1].reserve(t.productSize(tiles: group * t.tilesPerImage))
        let padded = buffers[3].reserve(t.paddedSize(images: group))
        let inPlanes = t.inChannels * t.height * t.width, outPlanes = t.outChannels * t.height * t.width
        for first in Swift.stride(from: range.lowerBound, to: range.upperBound, by: group) {
            let count = min(group, range.upperBound - first)
            w.convolve(x + first * inPlanes, count: count, kernels: kernels, bias: bias,
                       y + first * outPlanes, v: v, m: m, padded: padded)
            finish.apply(y, images: first ..< first + count, imageSize: outPlanes)
        }
    }

    /// What is done to a convolution's output right after computing it, while it is still in
    /// cache, instead of in a pass over memory each: in prediction, add a residual (a block's
    /// shortcut, NCHW like the output), then rectify; in training, measure the `PlaneMoments`
    /// the batch norm after it needs.
    private struct Finish {
        var residual: UnsafePointer<Float>? = nil
        var rectify = false
        /// Where the output planes' moments go (`PlaneMoments.size`), with the plane size.
        var moments: UnsafeMutablePointer<Double>? = nil
        var spatial = 0

        /// Finishes the outputs of `images` in `y`, `imageSize` floats each.
        func apply(_ y: UnsafeMutablePointer<Float>, images: Range<Int>, imageSize: Int) {
            let out = y + images.lowerBound * imageSize, n = images.count * imageSize
            switch (residual.map { $0 + images.lowerBound * imageSize }, rectify) {
            case (let r?, true): addRectify(out, r, out, n)
            case (let r?, false): addVectors(out, r, out, n)
            case (nil, true): NeuralNet.rectify(out, out, n)
            case (nil, false): break
            }
            if let moments {
                let planes = imageSize / spatial
                PlaneMoments.measure(out, first: images.lowerBound * planes, count: images.count * planes, spatial: spatial,
                                     into: moments)
            }
        }
    }

    /// The convolution of `x` by `w` with `weights` plus `bias` (empty for none), each worker's
    /// output finished as `finish` says.
    private func convolve<W: WinogradForm>(_ w: W, _ x: Tensor, weights: [Float], bias: [Float], finish: Finish) -> Tensor {
        let kernels = transformedKernels.reserve(w.tiling.kernelSize), batch = x.shape[0]
        weights.withUnsafeBufferPointer { w.transformKernels($0.baseAddress!, adjoint: false, into: kernels) }
        return Tensor(shape: [batch, outChannels, w.tiling.height, w.tiling.width]) { out in
            x.data.withUnsafeBufferPointer { xb in
            bias.withUnsafeBufferPointer { bb in
                ComputeThreads.parallelParts(batch) { part, range in
                    convolve(w, xb.baseAddress!, images: range, kernels: kernels, bias: bb.isEmpty ? nil : bb.baseAddress,
                             out.baseAddress!, finish: finish, scratch: scratch.buffers(part))
                }
            }}
        }
    }

    /// How a run of images is cut into matrix products.
    private enum Plan {
        /// Image by image, `bandRows` output rows per product (the whole plane for a pointwise
        /// convolution, which multiplies the image itself).
        case banded(bandRows: Int)
        /// `images` images side by side per product, the result scattered into NCHW order.
        case grouped(images: Int)
    }

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

    public var ownParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    private func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inChannels, height: height, width: width,
                     kernel: kernel, stride: stride, padding: padding)
    }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    private func plan(images: Int, _ g: ConvGeometry) -> Plan {
        if isPointwise && g.outSpatial >= Self.bandedPlane { return .banded(bandRows: g.outHeight) }
        if g.outSpatial >= Self.bandedPlane {
            return .banded(bandRows: max(1, min(g.outHeight, Self.bandBudget / (g.rows * g.outWidth))))
        }
        let wanted = (Self.minimumGroupColumns + g.outSpatial - 1) / g.outSpatial
        let affordable = max(1, Self.groupBudget / (g.rows * g.outSpatial))
        return .grouped(images: max(1, min(images, wanted, affordable)))
    }

    /// The offset table of geometry `g`, built when the plane size changes (outside parallel loops).
    private func offsetTable(_ g: ConvGeometry) -> [Int32] {
        if offsets.height != g.height || offsets.width != g.width {
            offsets = (g.height, g.width, g.offsetTable())
        }
        return offsets.table
    }

    /// Writes the column matrix of images `first..<first+count` of `x`, side by side, into `cols`.
    private func fillColumns(_ x: UnsafePointer<Float>, first: Int, count: Int, _ g: ConvGeometry,
                             _ cols: UnsafeMutablePointer<Float>, _ table: UnsafePointer<Int32>) {
        for image in 0..<count {
            let source = x + (first + image) * inChannels * g.inSpatial
            for c in 0..<inChannels {
                g.im2col(channel: c, image: source, columns: cols + image * g.outSpatial, ld: count * g.outSpatial,
                         table: table)
            }
        }
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        forward(x, mode: mode, finish: Finish())
    }

    private func forward(_ x: Tensor, mode: Mode, finish: Finish) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                     "\(label): input shape \(x.shape) is not [N, \(inChannels), H, W]")
        input = mode.keepsCaches ? x : Tensor(shape: [0])
        return convolve(x, weights: weight.value.data, bias: bias?.value.data ?? [], finish: finish)
    }

    /// `forward`, measuring the output's `PlaneMoments` on the way for the batch norm that
    /// follows in training (`BatchNorm2d.forward(_:mode:rectify:moments:)`).
    func forwardMeasuringMoments(_ x: Tensor, mode: Mode) -> (output: Tensor, moments: [Double]) {
        let g = geometry(height: x.shape[2], width: x.shape[3])
        var moments = [Double](repeating: 0, count: PlaneMoments.size(batch: x.shape[0], channels: outChannels))
        let y = moments.withUnsafeMutableBufferPointer { mb in
            forward(x, mode: mode, finish: Finish(moments: mb.baseAddress, spatial: g.outSpatial))
        }
        return (y, moments)
    }

    /// A prediction through this convolution, `bn` after it, `residual` added (when given) and,
    /// with `relu`, a rectifier after that, as one layer: the batch norm (its running statistics)
    /// folded into the weights and bias — W·s and b·s + (β − s·μ) with s = γ/√(σ² + ε) — and the
    /// sum and rectifier applied to each worker's output as it lands (`Finish`). Equal to the
    /// layers one by one up to rounding, without their passes and tensors.
    /// Cost: the convolution's, plus one pass over the weights.
    public func predict(_ x: Tensor, foldingIn bn: BatchNorm2d, adding residual: Tensor? = nil, relu: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels && bn.channels == outChannels,
                     "\(label): input shape \(x.shape) is not [N, \(inChannels), H, W], or \(bn.label) does not follow it")
        input = Tensor(shape: [0])
        let (scale, shift) = bn.inferenceScaleShift()
        let perOutput = inChannels * kernel * kernel
        var weights = weight.value.data
        for o in 0..<outChannels {
            for i in o * perOutput ..< (o + 1) * perOutput { weights[i] *= scale[o] }
        }
        let biasValues = bias?.value.data
        let folded = (0..<outChannels).map { o in (biasValues?[o] ?? 0) * scale[o] + shift[o] }
        let g = geometry(height: x.shape[2], width: x.shape[3])
        let shape = [x.shape[0], outChannels, g.outHeight, g.outWidth]
        precondition(residual == nil || residual!.shape == shape,
                     "\(label): residual \(residual!.shape) added to an output of \(shape)")
        return residual.withUnsafeValues { r in
            convolve(x, weights: weights, bias: folded, finish: Finish(residual: r, rectify: relu))
        }
    }

    /// The convolution of `x` with `weights` ([outC, inC, k, k]) plus `bias` (empty for none),
    /// each worker's output finished as `finish` says.
    private func convolve(_ x: Tensor, weights: [Float], bias biasValues: [Float], finish: Finish = Finish()) -> Tensor {
        shared = ConvolutionScratch.current
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        let spatial = g.outSpatial, rows = g.rows, outChannels = outChannels, inChannels = inChannels
        let pointwise = isPointwise
        scratch.prepare(workers: ComputeThreads.parts(for: batch))
        if let w = winograd(height: g.height, width: g.width) {
            if let f = Self.fourByFour(w) { return convolve(f, x, weights: weights, bias: biasValues, finish: finish) }
            return convolve(w, x, weights: weights, bias: biasValues, finish: finish)
        }
        let table = g.outSpatial < Self.bandedPlane ? offsetTable(g) : []
        return Tensor(shape: [batch, outChannels, g.outHeight, g.outWidth]) { out in
            let out = out.baseAddress!
            x.data.withUnsafeBufferPointer { xb in
            weights.withUnsafeBufferPointer { wb in
            biasValues.withUnsafeBufferPointer { bb in
            table.withUnsafeBufferPointer { tb in
                let x = xb.baseAddress!, w = wb.baseAddress!
                ComputeThreads.parallelParts(batch) { part, range in
                    let buffers = scratch.buffers(part)
                    switch plan(images: range.count, g) {
                    case .banded(let bandRows):
                        let cols = pointwise ? nil : buffers[0].reserve(rows * bandRows * g.outWidth)
                        // The products add to the bias written first: one pass over the output
                        // instead of clearing it and adding the bias after.
                        let beta: Float = bb.isEmpty ? 0 : 1
                        // A phase-split geometry's im2col reads the image's phases.
                        let phases = g.isPhaseSplit ? buffers[3].reserve(inChannels * g.inSpatial) : nil
                        for image in range {
                            var source = x + image * inChannels * g.inSpatial
                            if let phases {
                                g.splitPhases(source, into: phases)
                                source = UnsafePointer(phases)
                            }
                            let output = out + image * outChannels * spatial
                            for o in 0..<bb.count { (output + o * spatial).update(repeating: bb[o], count: spatial) }
                            for top in Swift.stride(from: 0, to: g.outHeight, by: bandRows) {
                                let band = top ..< min(g.outHeight, top + bandRows)
                                let width = band.count * g.outWidth
                                var b = source
                                if let cols {
                                    for c in 0..<inChannels {
                                        g.im2col(channel: c, image: source, columns: cols, ld: width, rows: band)
                                    }
                                    b = UnsafePointer(cols)
                                }
                                sgemm(m: outChannels, n: width, k: rows, w, lda: rows, b, ldb: width,
                                      beta: beta, output + top * g.outWidth, ldc: spatial)
                            }
                            finish.apply(out, images: image ..< image + 1, imageSize: outChannels * spatial)
                        }
                    case .grouped(let group):
                        let cols = buffers[0].reserve(rows * group * spatial)
                        let product = buffers[1].reserve(outChannels * group * spatial)
                        for first in Swift.stride(from: range.lowerBound, to: range.upperBound, by: group) {
                            let count = min(group, range.upperBound - first)
                            let width = count * spatial
                            fillColumns(x, first: first, count: count, g, cols, tb.baseAddress!)
                            sgemm(m: outChannels, n: width, k: rows, w, lda: rows, cols, ldb: width,
                                  beta: 0, product, ldc: width)
                            // Into NCHW order, adding the bias on the way.
                            for image in 0..<count {
                                for o in 0..<outChannels {
                                    addScalar(product + o * width + image * spatial,
                                              out + ((first + image) * outChannels + o) * spatial,
                                              spatial, bb.isEmpty ? 0 : bb[o])
                                }
                            }
                            finish.apply(out, images: first ..< first + count, imageSize: outChannels * spatial)
                        }
                    }
                }
            }}}}
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        shared = ConvolutionScratch.current
        let x = input
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        precondition(dy.shape == [batch, outChannels, g.outHeight, g.outWidth],
                     "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        let spatial = g.outSpatial, outChannels = outChannels
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
        let dx: Tensor
        if let forward = winograd(height: g.height, width: g.width) {
            dx = Self.fourByFour(forward.adjoint).map { winogradBackward(dy, forward, adjoint: $0) }
                ?? winogradBackward(dy, forward, adjoint: forward.adjoint)
        } else {
            dx = im2colBackward(dy, g)
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

    /// Backward through im2col: per worker, dW (+)= dY·columnsᵀ into its partial weight
    /// gradient (buffer 2) and dx through Wᵀ·dY and col2im.
    private func im2colBackward(_ dy: Tensor, _ g: ConvGeometry) -> Tensor {
        let x = input, batch = x.shape[0]
        let spatial = g.outSpatial, rows = g.rows, outChannels = outChannels, inChannels = inChannels
        let inPlanes = inChannels * g.inSpatial
        let pointwise = isPointwise
        let table = g.outSpatial < Self.bandedPlane ? offsetTable(g) : []
        let inputGradient = computesInputGradient
        return Tensor(shape: inputGradient ? x.shape : [0]) { dxb in
            x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
            weight.value.data.withUnsafeBufferPointer { wb in
            table.withUnsafeBufferPointer { tb in
                let x = xb.baseAddress!, dyp = dyb.baseAddress!, w = wb.baseAddress!
                let dxp = inputGradient ? dxb.baseAddress : nil
                ComputeThreads.parallelParts(batch) { part, range in
                    let buffers = scratch.buffers(part)
                    let weightGrad = buffers[2].reserve(outChannels * rows)
                    // The worker's first product sets its partial weight gradient, the others add.
                    var beta: Float = 0
                    switch plan(images: range.count, g) {
                    case .banded(let bandRows):
                        let cols = pointwise ? nil : buffers[0].reserve(rows * bandRows * g.outWidth)
                        // A phase-split geometry reads the image's phases and sums the input
                        // gradient into phases of its own, interleaved into dx at the end.
                        let phases = g.isPhaseSplit ? buffers[3].reserve(2 * inPlanes) : nil
                        for image in range {
                            var source = x + image * inPlanes
                            let gradient = dyp + image * outChannels * spatial
                            let target = dxp.map { $0 + image * inPlanes }
                            guard let cols else {
                                sgemm(transposeB: true, m: outChannels, n: rows, k: spatial, gradient, lda: spatial,
                                      source, ldb: spatial, beta: beta, weightGrad, ldc: rows)
                                if let target {
                                    sgemm(transposeA: true, m: rows, n: spatial, k: outChannels, w, lda: rows,
                                          gradient, ldb: spatial, beta: 0, target, ldc: spatial)
                                }
                                beta = 1
                                continue
                            }
                            var sums = target
                            if let phases {
                                g.splitPhases(source, into: phases)
                                source = UnsafePointer(phases)
                                sums = target.map { _ in phases + inPlanes }
                            }
                            sums?.update(repeating: 0, count: inPlanes)
                            for top in Swift.stride(from: 0, to: g.outHeight, by: bandRows) {
                                let band = top ..< min(g.outHeight, top + bandRows)
                                let width = band.count * g.outWidth
                                for c in 0..<inChannels {
                                    g.im2col(channel: c, image: source, columns: cols, ld: width, rows: band)
                                }
                                // dW (+)= dY · columnsᵀ, then columns ← Wᵀ · dY, summed back into dx.
                                sgemm(transposeB: true, m: outChannels, n: rows, k: width,
                                      gradient + top * g.outWidth, lda: spatial, cols, ldb: width,
                                      beta: beta, weightGrad, ldc: rows)
                                beta = 1
                                guard let sums else { continue }
                                sgemm(transposeA: true, m: rows, n: width, k: outChannels, w, lda: rows,
                                      gradient + top * g.outWidth, ldb: spatial, beta: 0, cols, ldc: width)
                                for c in 0..<inChannels {
                                    g.col2im(channel: c, columns: cols, ld: width, image: sums, rows: band)
                                }
                            }
                            if let phases, let target { g.mergePhases(phases + inPlanes, into: target) }
                        }
                    case .grouped(let group):
                        let cols = buffers[0].reserve(rows * group * spatial)
                        let gathered = buffers[1].reserve(outChannels * group * spatial)
                        for first in Swift.stride(from: range.lowerBound, to: range.upperBound, by: group) {
                            let count = min(group, range.upperBound - first)
                            let width = count * spatial
                            // The group's output gradient as outC × (count · spatial).
                            for image in 0..<count {
                                for o in 0..<outChannels {
                                    (gathered + o * width + image * spatial).update(
                                        from: dyp + ((first + image) * outChannels + o) * spatial, count: spatial)
                                }
                            }
                            fillColumns(x, first: first, count: count, g, cols, tb.baseAddress!)
                            sgemm(transposeB: true, m: outChannels, n: rows, k: width,
                                  gathered, lda: width, cols, ldb: width, beta: beta, weightGrad, ldc: rows)
                            beta = 1
                            guard let dxp else { continue }
                            sgemm(transposeA: true, m: rows, n: width, k: outChannels, w, lda: rows,
                                  gathered, ldb: width, beta: 0, cols, ldc: width)
                            let images = dxp + first * inPlanes
                            images.update(repeating: 0, count: count * inPlanes)
                            for image in 0..<count {
                                for c in 0..<inChannels {
                                    g.col2im(channel: c, columns: cols + image * spatial, ld: width,
                                             image: images + image * inPlanes, table: tb.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }}}}
        }
    }

    /// Backward by Winograd: per worker, the weight gradient summed in F(2×2)'s transform domain
    /// over its images and carried back into its partial weight gradient (buffer 2), and dx as
    /// `adjoint` (F(2×2) or F(4×4)) of dY.
    private func winogradBackward<A: WinogradForm>(_ dy: Tensor, _ forward: WinogradConvolution, adjoint: A) -> Tensor {
        let x = input, batch = x.shape[0], inputGradient = computesInputGradient
        let kernels = transformedKernels.reserve(adjoint.tiling.kernelSize)
        if inputGradient {
            weight.value.data.withUnsafeBufferPointer { adjoint.transformKernels($0.baseAddress!, adjoint: true, into: kernels) }
        }
        let t = forward.tiling, inPlanes = inChannels * t.height * t.width, outPlanes = outChannels * t.height * t.width
        return Tensor(shape: inputGradient ? x.shape : [0]) { dxb in
            x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
                ComputeThreads.parallelParts(batch) { part, range in
                    let buffers = scratch.buffers(part)
                    let group = winogradGroup(forward, images: range.count)
                    let v = buffers[0].reserve(t.inputSize(tiles: group * t.tilesPerImage))
                    let transformedGradient = buffers[1].reserve(t.productSize(tiles: group * t.tilesPerImage))
                    let padded = buffers[3].reserve(forward.gradientPaddedSize(images: group))
                    let products = buffers[4].reserve(t.kernelSize)
                    for first in Swift.stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        forward.accumulateWeightGradient(xb.baseAddress! + first * inPlanes, dyb.baseAddress! + first * outPlanes,
                                                         count: min(group, range.upperBound - first), into: products,
                                                         beta: first == range.lowerBound ? 0 : 1, v: v,
                                                         g: transformedGradient, padded: padded)
                    }
                    forward.weightGradient(from: products, into: buffers[2].reserve(outChannels * inChannels * 9))
                    guard inputGradient else { return }
                    convolve(adjoint, dyb.baseAddress!, images: range, kernels: kernels, bias: nil, dxb.baseAddress!,
                             scratch: buffers)
                }
            }}
        }
    }
}
