/// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016) for 3×3 convolutions with stride 1 and padding 1 — every convolution
/// of the seed networks. Each 2×2 block of outputs (a tile) comes from a 4×4 block of inputs:
/// the input block and each kernel are carried into a 16-value transform domain
/// (V = Bᵀ·d·B, U = G·g·Gᵀ), multiplied there — for all channels and tiles at once, as 16
/// matrix products U_ξ · V_ξ through `sgemm` — and carried back (Y = Aᵀ·M·A). The products do
/// 16 multiply-adds per tile and channel pair where im2col does 36: 2.25× fewer, for the price
/// of the two transforms (additions only) and no im2col.
///
/// The same routine computes a layer's input gradient: for stride 1 and padding 1 it is the
/// convolution of the output gradient with every kernel turned by 180° and the channel roles
/// swapped (`transformKernels(adjoint: true)`). The weight gradient is summed over the tiles in
/// the same transform domain (`accumulateWeightGradient`, `weightGradient`). Tiles, layouts and
/// the products are `WinogradTiling`'s, shared with F(4×4, 3×3) (`Winograd4x4Convolution`),
/// which `Conv2d` prefers for the first two where it measured faster.
/// Rounding differs from the direct sum by a few units in the last place; results are the same
/// run to run. Cost: 2·16·inC·outC flops per tile in the products, about 40 additions per tile
/// and channel in the transforms.
struct WinogradConvolution: WinogradForm {
    let tiling: WinogradTiling<TwoByTwo>

    init(inChannels: Int, outChannels: Int, height: Int, width: Int) {
        tiling = WinogradTiling(inChannels: inChannels, outChannels: outChannels, height: height, width: width)
    }

    /// The convolution that computes this one's input gradient: channel roles swapped, with
    /// kernels from `transformKernels(adjoint: true)`.
    var adjoint: WinogradConvolution {
        WinogradConvolution(inChannels: outChannels, outChannels: inChannels, height: height, width: width)
    }

    private var inChannels: Int { tiling.inChannels }
    private var outChannels: Int { tiling.outChannels }
    private var height: Int { tiling.height }
    private var width: Int { tiling.width }
    private var tileRows: Int { tiling.tileRows }
    private var tileColumns: Int { tiling.tileColumns }
    private var tilesPerImage: Int { tiling.tilesPerImage }
    private var layout: WinogradTiling<TwoByTwo>.Layout { tiling.layout }
    private func tileStride(tiles: Int) -> Int { tiling.tileStride(tiles: tiles) }
    private func matrixStride(rows: Int, tiles: Int) -> Int { tiling.matrixStride(rows: rows, tiles: tiles) }

    /// U = G·g·Gᵀ of every kernel, as 16 row-major matrices outChannels × inChannels:
    /// `u[(ξ·outChannels + o)·inChannels + c]`. `weight` is the layer's [layerOut, layerIn, 3, 3];
    /// with `adjoint`, kernel (o, c) is the layer's kernel (c, o) turned by 180°.
    func transformKernels(_ weight: UnsafePointer<Float>, adjoint: Bool, into u: UnsafeMutablePointer<Float>) {
        let plane = outChannels * inChannels, inChannels = inChannels, outChannels = outChannels
        ComputeThreads.parallelFor(outChannels, grain: max(1, 4096 / inChannels)) { range in
            for o in range {
                for c in 0..<inChannels {
                    let source = weight + (adjoint ? c * outChannels + o : o * inChannels + c) * 9
                    @inline(__always) func g(_ i: Int) -> Float { adjoint ? source[8 - i] : source[i] }
                    // t = G·g (rows of 3), then U = t·Gᵀ; G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
                    let g0 = SIMD4(g(0), g(1), g(2), 0), g1 = SIMD4(g(3), g(4), g(5), 0), g2 = SIMD4(g(6), g(7), g(8), 0)
                    let target = u + o * inChannels + c
                    @inline(__always) func store(_ r: SIMD4<Float>, _ i: Int) {
                        target[(4 * i) * plane] = r[0]
                        target[(4 * i + 1) * plane] = (r[0] + r[1] + r[2]) * 0.5
                        target[(4 * i + 2) * plane] = (r[0] - r[1] + r[2]) * 0.5
                        target[(4 * i + 3) * plane] = r[2]
                    }
                    store(g0, 0); store((g0 + g1 + g2) * 0.5, 1); store((g0 - g1 + g2) * 0.5, 2); store(g2, 3)
                }
            }
        }
    }

    /// y = the convolution of `count` images at `x` ([count, inChannels, height, width]) into
    /// `y` ([count, outChannels, height, width]), plus `bias` per output channel when given.
    /// `u` comes from `transformKernels`; `v` and `m` hold `inputSize`/`productSize` of
    /// count · tilesPerImage tiles, `padded` holds `paddedSize(images: count)`.
    func convolve(_ x: UnsafePointer<Float>, count: Int, kernels u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                  _ y: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                  padded: UnsafeMutablePointer<Float>) {
        let tiles = count * tilesPerImage, table = tiling.tileTable(count: count)
        transformInput(x, count: count, into: v, tiles: tiles, padded: padded, table: table)
        tiling.multiply(kernels: u, v, into: m, tiles: tiles)
        transformOutput(m, count: count, tiles: tiles, bias: bias, into: y, table: table)
    }

    /// Floats of the padded copies `accumulateWeightGradient` needs for `images` images.
    func gradientPaddedSize(images: Int) -> Int { images * tiling.paddedPlane }

    /// Adds into `p` the weight gradient of `count` images in the transform domain:
    /// P_ξ += Ŷ_ξ · V_ξᵀ (16 products outChannels × inChannels over the tiles, laid out as
    /// `transformKernels` lays out U), where V = Bᵀ·d·B as forward and Ŷ = A·dY·Aᵀ of each 2×2
    /// block of the output gradient. The reason: y = Aᵀ[(G·g·Gᵀ) ⊙ V]A, so ∂(Σ dY ⊙ y)/∂g =
    /// Gᵀ[Ŷ ⊙ V]G — summed over tiles before the (linear) back-transform, `weightGradient`.
    /// `beta` 0 overwrites `p`. `v` holds `inputSize`, `g` `productSize`, `padded`
    /// `gradientPaddedSize` of `count` images.
    func accumulateWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count: Int,
                                  into p: UnsafeMutablePointer<Float>, beta: Float, v: UnsafeMutablePointer<Float>,
                                  g: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>) {
        let tiles = count * tilesPerImage, ts = tileStride(tiles: tiles)
        let vStride = matrixStride(rows: inChannels, tiles: tiles), gStride = matrixStride(rows: outChannels, tiles: tiles)
        let table = tiling.tileTable(count: count)
        transformInput(x, count: count, into: v, tiles: tiles, padded: padded, table: table)
        transformOutputGradient(dy, count: count, into: g, tiles: tiles, padded: padded, table: table)
        for xi in 0..<16 {
            sgemm(transposeB: true, m: outChannels, n: inChannels, k: tiles, g + xi * gStride, lda: ts,
                  v + xi * vStride, ldb: ts, beta: beta, p + xi * outChannels * inChannels, ldc: inChannels)
        }
    }

    /// dW = Gᵀ·P·G of every kernel, written into `dw` ([outChannels, inChannels, 3, 3]).
    func weightGradient(from p: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let plane = outChannels * inChannels
        for k in 0..<plane {
            @inline(__always) func row(_ i: Int) -> SIMD4<Float> {
                SIMD4(p[(4 * i) * plane + k], p[(4 * i + 1) * plane + k], p[(4 * i + 2) * plane + k], p[(4 * i + 3) * plane + k])
            }
            let p0 = row(0), p1 = row(1), p2 = row(2), p3 = row(3)
            // Gᵀ· over the rows (G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]), then ·G in `store`
            let target = dw + 9 * k
            @inline(__always) func store(_ t: SIMD4<Float>, _ r: Int) {
                target[3 * r] = t[0] + (t[1] + t[2]) * 0.5
                target[3 * r + 1] = (t[1] - t[2]) * 0.5
                target[3 * r + 2] = (t[1] + t[2]) * 0.5 + t[3]
            }
            store(p0 + (p1 + p2) * 0.5, 0); store((p1 - p2) * 0.5, 1); store((p1 + p2) * 0.5 + p3, 2)
        }
    }

    /// Ŷ = A·dY·Aᵀ of every 2×2 block of the output gradient (zero beyond the plane), as 16
    /// matrices outChannels × tiles: `g[ξ·matrixStride + o·tileStride + t]`; A = [1 0; 1 1; 1 −1; 0 −1].
    /// Eight tiles at a time: on `rowsOfWholeTiles` planes by strided loads from the plane itself
    /// (as `WinogradTiling.forEachEightInputTiles` loads), otherwise gathered
    /// through the tile table from padded copies.
    private func transformOutputGradient(_ dy: UnsafePointer<Float>, count: Int, into g: UnsafeMutablePointer<Float>,
                                         tiles: Int, padded: UnsafeMutablePointer<Float>, table: WinogradTiling<TwoByTwo>.TileTable) {
        let spatial = height * width, ts = tileStride(tiles: tiles), pw = tiling.paddedWidth, paddedPlane = tiling.paddedPlane
        let stride = matrixStride(rows: outChannels, tiles: tiles)
        /// Stores the transforms of eight tiles from the four values of their blocks, (a b; c d).
        @inline(__always) func transform(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>,
                                         _ position: UnsafeMutablePointer<Float>) {
            @inline(__always) func store(_ p: SIMD8<Float>, _ q: SIMD8<Float>, _ i: Int) {
                let base = position + 4 * i * stride
                UnsafeMutableRawPointer(base).storeBytes(of: p, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(base + stride).storeBytes(of: p + q, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(base + 2 * stride).storeBytes(of: p - q, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(base + 3 * stride).storeBytes(of: -q, as: SIMD8<Float>.self)
            }
            // A· over the rows, then ·Aᵀ in `store`
            store(a, b, 0); store(a + c, b + d, 1); store(a - c, b - d, 2); store(-c, -d, 3)
        }
        if tiling.rowsOfWholeTiles {
            for image in 0..<count {
                for o in 0..<outChannels {
                    let plane = dy + (image * outChannels + o) * spatial, out = g + o * ts + image * tilesPerImage
                    if layout == .eightTileRows {
                        for ti in 0..<tileRows {
                            let top = plane + 2 * ti * width
                            var tj = 0
                            while tj < tileColumns {
                                let first = min(tj, tileColumns - 8)   // the last group overlaps the one before
                                let upper = UnsafeRawPointer(top + 2 * first).loadUnaligned(as: SIMD16<Float>.self)
                                let lower = UnsafeRawPointer(top + width + 2 * first).loadUnaligned(as: SIMD16<Float>.self)
                                transform(upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf,
                                          out + ti * tileColumns + first)
                                tj = first + 8
                            }
                        }
                    } else {
                        // Two rows of four tiles: lanes 0–3 the upper row, 4–7 the lower.
                        for ti in Swift.stride(from: 0, to: tileRows, by: 2) {
                            @inline(__always) func row(_ r: Int) -> SIMD8<Float> {
                                UnsafeRawPointer(plane + (2 * ti + r) * width).loadUnaligned(as: SIMD8<Float>.self)
                            }
                            let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
                            transform(SIMD8(lowHalf: r0.evenHalf, highHalf: r2.evenHalf),
                                      SIMD8(lowHalf: r0.oddHalf, highHalf: r2.oddHalf),
                                      SIMD8(lowHalf: r1.evenHalf, highHalf: r3.evenHalf),
                                      SIMD8(lowHalf: r1.oddHalf, highHalf: r3.oddHalf), out + ti * tileColumns)
                        }
                    }
                }
            }
            return
        }
        padded.update(repeating: 0, count: count * paddedPlane)
        table.input.withUnsafeBufferPointer { offsets in
            for o in 0..<outChannels {
                for image in 0..<count {
                    let plane = dy + (image * outChannels + o) * spatial, target = padded + image * paddedPlane
                    for r in 0..<height { (target + r * pw).update(from: plane + r * width, count: width) }
                }
                var a = SIMD8<Float>(), b = a, c = a, d = a
                for group in Swift.stride(from: 0, to: ts, by: 8) {
                    for l in 0..<8 {
                        let block = padded + offsets[group + l]
                        a[l] = block[0]; b[l] = block[1]; c[l] = block[pw]; d[l] = block[pw + 1]
                    }
                    transform(a, b, c, d, g + o * ts + group)
                }
            }
        }
    }

    /// Four values (one per block column) of one block row, for eight tiles, one per lane.
    private typealias BlockRow = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// V = Bᵀ·d·B of every 4×4 input block d, as 16 matrices inChannels × tiles (rows
    /// `tileStride` long): `v[ξ·matrixStride + c·tileStride + t]`.
    /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]; eight tiles at a time
    /// (`WinogradTiling.forEachEightInputTiles`).
    private func transformInput(_ x: UnsafePointer<Float>, count: Int, into v: UnsafeMutablePointer<Float>, tiles: Int,
                                padded: UnsafeMutablePointer<Float>, table: WinogradTiling<TwoByTwo>.TileTable) {
        let ts = tileStride(tiles: tiles), stride = matrixStride(rows: inChannels, tiles: tiles)
        tiling.forEachEightInputTiles(x, count: count, padded: padded, table: table) { d, c, first in
            @inline(__always) func row(_ r: Int) -> BlockRow { (d(r, 0), d(r, 1), d(r, 2), d(r, 3)) }
            storeInputTransform(row(0), row(1), row(2), row(3), v + c * ts + first, stride)
        }
    }

    /// Bᵀ·d·B of eight blocks given by their four rows; stores the 16 results, eight tiles each,
    /// from `position` on, one transform-domain matrix (`stride` apart) per value.
    @inline(__always)
    private func storeInputTransform(_ d0: BlockRow, _ d1: BlockRow, _ d2: BlockRow, _ d3: BlockRow,
                                     _ position: UnsafeMutablePointer<Float>, _ stride: Int) {
        @inline(__always) func store(_ t: BlockRow, _ i: Int) {
            let base = position + 4 * i * stride
            UnsafeMutableRawPointer(base).storeBytes(of: t.0 - t.2, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(base + stride).storeBytes(of: t.1 + t.2, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(base + 2 * stride).storeBytes(of: t.2 - t.1, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(base + 3 * stride).storeBytes(of: t.1 - t.3, as: SIMD8<Float>.self)
        }
        // Bᵀ·d over the rows, column by column; ·B in `store`
        store((d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3), 0)
        store((d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3), 1)
        store((d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3), 2)
        store((d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3), 3)
    }

    /// Aᵀ·M·A of eight tiles whose 16 products start at `base`, `stride` apart: the tiles'
    /// upper-left, upper-right, lower-left and lower-right outputs.
    @inline(__always)
    private func outputTransform(_ base: UnsafePointer<Float>, _ stride: Int)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        @inline(__always) func load(_ xi: Int) -> SIMD8<Float> {
            UnsafeRawPointer(base + xi * stride).loadUnaligned(as: SIMD8<Float>.self)
        }
        // Aᵀ·M over the rows, column by column, then ·A
        let u0 = load(0) + load(4) + load(8), l0 = load(4) - load(8) - load(12)
        let u1 = load(1) + load(5) + load(9), l1 = load(5) - load(9) - load(13)
        let u2 = load(2) + load(6) + load(10), l2 = load(6) - load(10) - load(14)
        let u3 = load(3) + load(7) + load(11), l3 = load(7) - load(11) - load(15)
        return (u0 + u1 + u2, u1 - u2 - u3, l0 + l1 + l2, l1 - l2 - l3)
    }

    /// Y = Aᵀ·M·A of every tile's 16 products into the output planes. Aᵀ = [1 1 1 0; 0 1 −1 −1].
    /// Planes of even size with rows of tiles as `transformInput` groups them go eight tiles at a
    /// time, the two output columns of each tile interleaved into one store; the others tile by
    /// tile from the group's lanes, clipped at odd edges.
    private func transformOutput(_ m: UnsafePointer<Float>, count: Int, tiles: Int, bias: UnsafePointer<Float>?,
                                 into y: UnsafeMutablePointer<Float>, table: WinogradTiling<TwoByTwo>.TileTable) {
        let outSpatial = height * width, ts = tileStride(tiles: tiles), stride = matrixStride(rows: outChannels, tiles: tiles)
        let even = width % 2 == 0 && height % 2 == 0
        /// The left and right output columns of eight tiles, interleaved, from `row` on.
        @inline(__always) func store(_ left: SIMD8<Float>, _ right: SIMD8<Float>, _ row: UnsafeMutablePointer<Float>) {
            var pair = SIMD16<Float>()
            for l in 0..<8 { pair[2 * l] = left[l]; pair[2 * l + 1] = right[l] }
            UnsafeMutableRawPointer(row).storeBytes(of: pair, as: SIMD16<Float>.self)
        }
        switch (even, layout) {
        case (true, .eightTileRows):
            for image in 0..<count {
                for o in 0..<outChannels {
                    let plane = y + (image * outChannels + o) * outSpatial, source = m + o * ts + image * tilesPerImage
                    let shift = SIMD8<Float>(repeating: bias?[o] ?? 0)
                    for ti in 0..<tileRows {
                        let top = plane + 2 * ti * width
                        var tj = 0
                        while tj < tileColumns {
                            let first = min(tj, tileColumns - 8)   // the last group overlaps the one before
                            let y = outputTransform(source + ti * tileColumns + first, stride)
                            store(y.0 + shift, y.1 + shift, top + 2 * first)
                            store(y.2 + shift, y.3 + shift, top + width + 2 * first)
                            tj = first + 8
                        }
                    }
                }
            }
        case (true, .twoRowsOfFour):
            for image in 0..<count {
                for o in 0..<outChannels {
                    let plane = y + (image * outChannels + o) * outSpatial, source = m + o * ts + image * tilesPerImage
                    let shift = SIMD8<Float>(repeating: bias?[o] ?? 0)
                    // Lanes 0–3 the upper row of tiles, 4–7 the lower.
                    for ti in Swift.stride(from: 0, to: tileRows, by: 2) {
                        let y = outputTransform(source + ti * tileColumns, stride)
                        let top = plane + 2 * ti * width
                        @inline(__always) func half(_ left: SIMD8<Float>, _ right: SIMD8<Float>, _ row: UnsafeMutablePointer<Float>) {
                            var upper = SIMD8<Float>(), lower = SIMD8<Float>()
                            for l in 0..<4 {
                                upper[2 * l] = left[l]; upper[2 * l + 1] = right[l]
                                lower[2 * l] = left[l + 4]; lower[2 * l + 1] = right[l + 4]
                            }
                            UnsafeMutableRawPointer(row).storeBytes(of: upper, as: SIMD8<Float>.self)
                            UnsafeMutableRawPointer(row + 2 * width).storeBytes(of: lower, as: SIMD8<Float>.self)
                        }
                        half(y.0 + shift, y.1 + shift, top)
                        half(y.2 + shift, y.3 + shift, top + width)
                    }
                }
            }
        default:
            for o in 0..<outChannels {
                let shift = bias?[o] ?? 0, plane = y + o * outSpatial
                for group in Swift.stride(from: 0, to: tiles, by: 8) {
                    let y = outputTransform(m + o * ts + group, stride)
                    for l in 0..<min(8, tiles - group) {
                        let t = group + l, out = plane + table.output[t]
                        out[0] = y.0[l] + shift
                        let right = table.columns[t] > 1
                        if right { out[1] = y.1[l] + shift }
                        if table.rows[t] > 1 {
                            out[width] = y.2[l] + shift
                            if right { out[width + 1] = y.3[l] + shift }
                        }
                    }
                }
            }
        }
    }
}
