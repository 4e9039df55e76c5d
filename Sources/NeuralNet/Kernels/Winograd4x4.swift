/// Winograd's F(4×4, 3×3) (Lavin & Gray 2016; interpolation points 0, ±1, ±2, ∞) for 3×3
/// convolutions with stride 1 and padding 1: each 4×4 block of outputs comes from a 6×6 block
/// of inputs, carried into a 36-value transform domain (V = Bᵀ·d·B, U = G·g·Gᵀ), multiplied
/// there as 36 matrix products U_ξ · V_ξ through `sgemm`, and carried back (Y = Aᵀ·M·A).
/// Against F(2×2, 3×3) (`WinogradConvolution`) the products do 2.25 instead of 4 multiply-adds
/// per output and channel pair, for transforms of 36 values per 16 outputs instead of 16 per 4.
/// `Conv2d` uses it for the forward and input-gradient products where its tiles go in rows
/// (planes 16×16, 32×32); the weight gradient stays with F(2×2), whose sum over many tiles
/// in the transform domain loses less to rounding. Rounding: the coefficients reach 8, so the
/// error is larger than F(2×2)'s — up to 6·10⁻⁶ of the sum of the terms' magnitudes in the tests
/// (F(2×2): 2·10⁻⁷). Cost: 2·36·inC·outC flops per tile in the products; in the transforms
/// about 15 additions and multiplications per input and 9 per output value.
struct Winograd4x4Convolution: WinogradForm {
    let tiling: WinogradTiling<FourByFour>

    init(inChannels: Int, outChannels: Int, height: Int, width: Int) {
        tiling = WinogradTiling(inChannels: inChannels, outChannels: outChannels, height: height, width: width)
    }

    /// The same convolution as `w`.
    init(_ w: WinogradConvolution) {
        self.init(inChannels: w.tiling.inChannels, outChannels: w.tiling.outChannels, height: w.tiling.height,
                  width: w.tiling.width)
    }

    var adjoint: Winograd4x4Convolution {
        Winograd4x4Convolution(inChannels: tiling.outChannels, outChannels: tiling.inChannels,
                               height: tiling.height, width: tiling.width)
    }

    /// U = G·g·Gᵀ of every kernel, as 36 row-major matrices outChannels × inChannels:
    /// `u[(ξ·outChannels + o)·inChannels + c]`.
    /// G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1].
    func transformKernels(_ weight: UnsafePointer<Float>, adjoint: Bool, into u: UnsafeMutablePointer<Float>) {
        let inChannels = tiling.inChannels, outChannels = tiling.outChannels, plane = outChannels * inChannels
        /// G applied to three values (a column or a row of a kernel).
        @inline(__always) func g6<T: SIMD>(_ a: T, _ b: T, _ c: T) -> (T, T, T, T, T, T) where T.Scalar == Float {
            let outer = a + c, sixth: Float = 1.0 / 6, quarter = a * 0.25 + c
            return (a * 0.25, (outer + b) * -sixth, (outer - b) * -sixth,
                    (quarter + b * 0.5) * sixth, (quarter - b * 0.5) * sixth, c)
        }
        ComputeThreads.parallelFor(outChannels, grain: max(1, 4096 / inChannels)) { range in
            for o in range {
                for c in 0..<inChannels {
                    let source = weight + (adjoint ? c * outChannels + o : o * inChannels + c) * 9
                    @inline(__always) func g(_ i: Int) -> Float { adjoint ? source[8 - i] : source[i] }
                    // t = G·g over the rows, then ·Gᵀ over t's columns
                    let t = g6(SIMD4(g(0), g(1), g(2), 0), SIMD4(g(3), g(4), g(5), 0), SIMD4(g(6), g(7), g(8), 0))
                    @inline(__always) func column(_ j: Int) -> SIMD8<Float> {
                        SIMD8(t.0[j], t.1[j], t.2[j], t.3[j], t.4[j], t.5[j], 0, 0)
                    }
                    let u6 = g6(column(0), column(1), column(2)), target = u + o * inChannels + c
                    for i in 0..<6 {
                        target[(6 * i) * plane] = u6.0[i]; target[(6 * i + 1) * plane] = u6.1[i]
                        target[(6 * i + 2) * plane] = u6.2[i]; target[(6 * i + 3) * plane] = u6.3[i]
                        target[(6 * i + 4) * plane] = u6.4[i]; target[(6 * i + 5) * plane] = u6.5[i]
                    }
                }
            }
        }
    }

    /// The convolution of `count` images (`WinogradForm.convolve`), eight tiles at a time into
    /// the transform domain and four at a time out of it.
    func convolve(_ x: UnsafePointer<Float>, count: Int, kernels u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                  _ y: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                  padded: UnsafeMutablePointer<Float>) {
        let tiles = count * tiling.tilesPerImage, ts = tiling.tileStride(tiles: tiles)
        let stride = tiling.matrixStride(rows: tiling.inChannels, tiles: tiles)
        let table = tiling.tileTable(count: count)
        // V = Bᵀ·d·B: ·B along each row of the blocks, then Bᵀ· down the columns.
        tiling.forEachEightInputTiles(x, count: count, padded: padded, table: table) { d, c, first in
            @inline(__always) func row(_ r: Int) -> Six<SIMD8<Float>> {
                Self.bT((d(r, 0), d(r, 1), d(r, 2), d(r, 3), d(r, 4), d(r, 5)))
            }
            let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5)
            let position = v + c * ts + first
            @inline(__always) func store(_ t: Six<SIMD8<Float>>, _ j: Int) {
                @inline(__always) func put(_ value: SIMD8<Float>, _ i: Int) {
                    UnsafeMutableRawPointer(position + (6 * i + j) * stride).storeBytes(of: value, as: SIMD8<Float>.self)
                }
                put(t.0, 0); put(t.1, 1); put(t.2, 2); put(t.3, 3); put(t.4, 4); put(t.5, 5)
            }
            store(Self.bT((r0.0, r1.0, r2.0, r3.0, r4.0, r5.0)), 0)
            store(Self.bT((r0.1, r1.1, r2.1, r3.1, r4.1, r5.1)), 1)
            store(Self.bT((r0.2, r1.2, r2.2, r3.2, r4.2, r5.2)), 2)
            store(Self.bT((r0.3, r1.3, r2.3, r3.3, r4.3, r5.3)), 3)
            store(Self.bT((r0.4, r1.4, r2.4, r3.4, r4.4, r5.4)), 4)
            store(Self.bT((r0.5, r1.5, r2.5, r3.5, r4.5, r5.5)), 5)
        }
        tiling.multiply(kernels: u, v, into: m, tiles: tiles)
        transformOutput(m, count: count, tiles: tiles, bias: bias, into: y, table: table)
    }

    private typealias Six<V> = (V, V, V, V, V, V)
    private typealias Four<V> = (V, V, V, V)

    /// Bᵀ·d of six values, Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0;
    /// 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1].
    @inline(__always)
    private static func bT<V: SIMD>(_ d: Six<V>) -> Six<V> where V.Scalar == Float {
        let a = d.4 - 4 * d.2, b = d.3 - 4 * d.1, c = d.4 - d.2, e = 2 * (d.3 - d.1)
        return (4 * d.0 - 5 * d.2 + d.4, a + b, a - b, c + e, c - e, 4 * d.1 - 5 * d.3 + d.5)
    }

    /// Aᵀ·m of six values, Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
    @inline(__always)
    private static func aT<V: SIMD>(_ m: Six<V>) -> Four<V> where V.Scalar == Float {
        let s1 = m.1 + m.2, s2 = m.3 + m.4, d1 = m.1 - m.2, d2 = m.3 - m.4
        return (m.0 + s1 + s2, d1 + 2 * d2, s1 + 4 * s2, d1 + 8 * d2 + m.5)
    }

    /// Aᵀ·M·A + `shift` of four tiles whose 36 products start at `base`, `stride` apart:
    /// `store(i, rows)` receives output row i of each of the four tiles. Four tiles rather than
    /// eight at a time, so that the 24 intermediate values fit SSE's registers better.
    @inline(__always)
    private func outputTransform(_ base: UnsafePointer<Float>, _ stride: Int, shift: Float,
                                 _ store: (Int, Four<SIMD4<Float>>) -> Void) {
        @inline(__always) func column(_ q: Int) -> Four<SIMD4<Float>> {
            @inline(__always) func load(_ p: Int) -> SIMD4<Float> {
                UnsafeRawPointer(base + (6 * p + q) * stride).loadUnaligned(as: SIMD4<Float>.self)
            }
            return Self.aT((load(0), load(1), load(2), load(3), load(4), load(5)))
        }
        // Aᵀ down each column of M, then along the rows; each row turned from four columns of
        // four tiles into four tiles' rows.
        let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
        let offset = SIMD4<Float>(repeating: shift)
        @inline(__always) func row(_ i: Int, _ m: Six<SIMD4<Float>>) {
            let y = Self.aT(m)
            store(i, transposed(y.0 + offset, y.1 + offset, y.2 + offset, y.3 + offset))
        }
        row(0, (c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)); row(1, (c0.1, c1.1, c2.1, c3.1, c4.1, c5.1))
        row(2, (c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)); row(3, (c0.3, c1.3, c2.3, c3.3, c4.3, c5.3))
    }

    /// Y = Aᵀ·M·A of every tile's 36 products into the output planes, four tiles at a time.
    /// Planes of whole tiles taken in rows store each output row of four tiles whole; the others
    /// go tile by tile, clipped at the plane's edges.
    private func transformOutput(_ m: UnsafePointer<Float>, count: Int, tiles: Int, bias: UnsafePointer<Float>?,
                                 into y: UnsafeMutablePointer<Float>, table: WinogradTiling<FourByFour>.TileTable) {
        let width = tiling.width, outChannels = tiling.outChannels, tileColumns = tiling.tileColumns
        let outSpatial = tiling.height * width, ts = tiling.tileStride(tiles: tiles)
        let stride = tiling.matrixStride(rows: outChannels, tiles: tiles)
        guard tiling.rowsOfWholeTiles else {
            for o in 0..<outChannels {
                let shift = bias?[o] ?? 0, plane = y + o * outSpatial
                for group in Swift.stride(from: 0, to: tiles, by: 4) {
                    outputTransform(m + o * ts + group, stride, shift: shift) { i, rows in
                        @inline(__always) func put(_ row: SIMD4<Float>, _ l: Int) {
                            let t = group + l
                            guard t < tiles, i < table.rows[t] else { return }
                            let out = plane + table.output[t] + i * width
                            for j in 0..<table.columns[t] { out[j] = row[j] }
                        }
                        put(rows.0, 0); put(rows.1, 1); put(rows.2, 2); put(rows.3, 3)
                    }
                }
            }
            return
        }
        for image in 0..<count {
            for o in 0..<outChannels {
                let plane = y + (image * outChannels + o) * outSpatial, source = m + o * ts + image * tiling.tilesPerImage
                let shift = bias?[o] ?? 0
                /// Four tiles from tile `t` of the image on, whose upper left output is `corner`.
                @inline(__always) func fourTiles(_ t: Int, _ corner: UnsafeMutablePointer<Float>) {
                    outputTransform(source + t, stride, shift: shift) { i, rows in
                        let row = UnsafeMutableRawPointer(corner + i * width)
                        row.storeBytes(of: rows.0, as: SIMD4<Float>.self)
                        (row + 16).storeBytes(of: rows.1, as: SIMD4<Float>.self)
                        (row + 32).storeBytes(of: rows.2, as: SIMD4<Float>.self)
                        (row + 48).storeBytes(of: rows.3, as: SIMD4<Float>.self)
                    }
                }
                for ti in 0..<tiling.tileRows {
                    let top = plane + 4 * ti * width
                    var tj = 0
                    while tj < tileColumns {
                        let first = min(tj, tileColumns - 4)   // the last four overlap the ones before
                        fourTiles(ti * tileColumns + first, top + 4 * first)
                        tj = first + 4
                    }
                }
            }
        }
    }
}
