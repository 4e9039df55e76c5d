#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// How a Winograd convolution F(m×m, 3×3) (`WinogradConvolution`, m = 2, and
/// `Winograd4x4Convolution`, m = 4) cuts its planes into tiles and lays out its transform
/// domain: each m×m block of outputs (a tile) comes from an (m+2)×(m+2) block of the input, and
/// each of the (m+2)² transform-domain values of all tiles and channels forms one matrix, rows
/// `tileStride` long. The transforms take eight tiles at a time, one per SIMD lane; this type
/// picks them (`Layout`) and loads their blocks (`forEachEightInputTiles`).
/// The tile side is a type (`Side`), so that the loads of the hot loops know it when compiled.
/// Cost: none beyond the tile table of planes that need it (a few integers per tile).
struct WinogradTiling<Side: WinogradTileSide> {
    /// Output tile side m (2 or 4).
    var tile: Int { Side.side }
    /// Channels of the convolution computed (for the adjoint: the layer's output channels in,
    /// its input channels out).
    let inChannels: Int, outChannels: Int
    let height: Int, width: Int

    init(inChannels: Int, outChannels: Int, height: Int, width: Int) {
        precondition(inChannels > 0 && outChannels > 0 && height > 0 && width > 0,
                     "Winograd: sizes must be positive, got \(inChannels)→\(outChannels) on \(height)×\(width)")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.height = height; self.width = width
    }

    /// Side of an input block, m + 2.
    var block: Int { tile + 2 }
    /// Values per tile in the transform domain: one matrix product each.
    var points: Int { block * block }
    var tileRows: Int { (height + tile - 1) / tile }
    var tileColumns: Int { (width + tile - 1) / tile }
    var tilesPerImage: Int { tileRows * tileColumns }

    /// Floats of the transformed kernels.
    var kernelSize: Int { points * outChannels * inChannels }
    /// Row length of the transformed input and the products for `tiles` tiles: rounded up to
    /// whole groups of eight, so the transforms' eight-lane loads and stores stay in the row.
    func tileStride(tiles: Int) -> Int { (tiles + 7) / 8 * 8 }
    /// Floats from one transform-domain matrix of `rows` rows to the next: the rows, plus one
    /// cache line. Without it the matrices, which every transform reads or writes side by
    /// side, lie a multiple of 4 KB apart (16 channels × 512 tiles: 32 KB), all on the same
    /// cache sets, and evict each other (measured on 16 channels, 32×32: each transform took about
    /// twice as long without it).
    func matrixStride(rows: Int, tiles: Int) -> Int { rows * tileStride(tiles: tiles) + 16 }
    /// Floats of the transformed input and of the products for `tiles` tiles.
    func inputSize(tiles: Int) -> Int { points * matrixStride(rows: inChannels, tiles: tiles) }
    func productSize(tiles: Int) -> Int { points * matrixStride(rows: outChannels, tiles: tiles) }

    /// M_ξ = U_ξ · V_ξ for every transform-domain value ξ: outChannels × tiles products of the
    /// transformed kernels `u` (laid out as the transforms lay them out) and inputs `v`.
    func multiply(kernels u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>,
                  tiles: Int) {
        let ts = tileStride(tiles: tiles)
        let vStride = matrixStride(rows: inChannels, tiles: tiles), mStride = matrixStride(rows: outChannels, tiles: tiles)
        for xi in 0..<points {
            sgemm(m: outChannels, n: tiles, k: inChannels, u + xi * outChannels * inChannels, lda: inChannels,
                  v + xi * vStride, ldb: ts, beta: 0, m + xi * mStride, ldc: ts)
        }
    }

    /// Width of the zero-padded copy of a plane that the input transforms work from: a border
    /// of one, and room for the eight-tile loads to run past the last tile.
    var paddedWidth: Int { tile * tileColumns + 18 }
    var paddedPlane: Int { (tile * tileRows + 2) * paddedWidth }
    /// Floats of the padded copies the input transform needs for `images` images.
    func paddedSize(images: Int) -> Int { (layout == .gathered ? images : 1) * paddedPlane }

    /// How eight tiles are picked for the eight SIMD lanes of the transforms.
    enum Layout {
        /// Eight neighbours in a row of tiles (rows of eight tiles and more): strided loads.
        case eightTileRows
        /// Four neighbours in each of two rows of tiles: strided loads.
        case twoRowsOfFour
        /// The next eight tiles, across rows and images (small planes): a load per lane.
        case gathered
    }

    var layout: Layout {
        if tileColumns >= 8 { return .eightTileRows }
        if tileColumns == 4 && tileRows % 2 == 0 { return .twoRowsOfFour }
        return .gathered
    }

    /// Planes of whole tiles that the transforms take in rows (`eightTileRows`,
    /// `twoRowsOfFour`): no transform looks a tile up in the tile table, and the outputs of
    /// eight tiles are stored as whole rows.
    var rowsOfWholeTiles: Bool { width % tile == 0 && height % tile == 0 && layout != .gathered }

    /// Where each tile of a group of images starts: its block's first value in the padded
    /// copies (`input`), its first output relative to the group's output (`output`, for
    /// channel 0), and how many of its output columns and rows fall inside the plane. Padded
    /// to the tile stride by repeating the last tile, so that spare lanes read valid memory.
    /// Built once per group of images and shared by its transforms.
    struct TileTable {
        var input: [Int] = [], output: [Int] = [], columns: [Int] = [], rows: [Int] = []
    }

    /// The tile table of a group of `count` images; empty for planes no transform reads it for
    /// (`rowsOfWholeTiles`).
    func tileTable(count: Int) -> TileTable {
        var table = TileTable()
        guard !rowsOfWholeTiles else { return table }
        let outputImage = outChannels * height * width
        let tiles = count * tilesPerImage
        for t in 0..<tileStride(tiles: tiles) {
            let (image, within) = min(t, tiles - 1).quotientAndRemainder(dividingBy: tilesPerImage)
            let (ti, tj) = within.quotientAndRemainder(dividingBy: tileColumns)
            table.input.append(image * paddedPlane + tile * (ti * paddedWidth + tj))
            table.output.append(image * outputImage + tile * (ti * width + tj))
            table.columns.append(min(tile, width - tile * tj))
            table.rows.append(min(tile, height - tile * ti))
        }
        return table
    }

    /// Calls `body` for every eight tiles of `count` images at `x` ([count, inChannels, height,
    /// width]), channel by channel: `body(value, channel, tile)` where `value(r, k)` is value
    /// (r, k) of the eight tiles' input blocks, one per lane, zero beyond the plane, and `tile`
    /// the first tile's index in the group (the eight are consecutive). Planes are first copied
    /// into `padded` (`paddedSize(images: count)`) with their zero border, so no block needs
    /// bounds checks.
    @inline(__always)
    func forEachEightInputTiles(_ x: UnsafePointer<Float>, count: Int, padded: UnsafeMutablePointer<Float>,
                                table: TileTable,
                                _ body: (_ value: (Int, Int) -> SIMD8<Float>, _ channel: Int, _ tile: Int) -> Void) {
        let spatial = height * width, pw = paddedWidth, m = tile
        @inline(__always) func copy(_ image: Int, _ c: Int, into target: UnsafeMutablePointer<Float>) {
            let plane = x + (image * inChannels + c) * spatial
            for r in 0..<height { (target + (r + 1) * pw + 1).update(from: plane + r * width, count: width) }
        }
        switch layout {
        case .eightTileRows, .twoRowsOfFour:
            padded.update(repeating: 0, count: paddedPlane)
            for image in 0..<count {
                for c in 0..<inChannels {
                    copy(image, c, into: padded)
                    let first = image * tilesPerImage
                    if layout == .eightTileRows {
                        for ti in 0..<tileRows {
                            var tj = 0
                            while tj < tileColumns {
                                let left = min(tj, tileColumns - 8)   // the last group overlaps the one before
                                let corner = UnsafePointer(padded) + m * (ti * pw + left)
                                body({ r, k in eightColumns(corner + r * pw, k) }, c, first + ti * tileColumns + left)
                                tj = left + 8
                            }
                        }
                    } else {
                        // Lanes 0–3 the upper row of tiles, 4–7 the lower.
                        for ti in Swift.stride(from: 0, to: tileRows, by: 2) {
                            let upper = UnsafePointer(padded) + m * ti * pw, lower = upper + m * pw
                            body({ r, k in
                                SIMD8(lowHalf: fourColumns(upper + r * pw, k), highHalf: fourColumns(lower + r * pw, k))
                            }, c, first + ti * tileColumns)
                        }
                    }
                }
            }
        case .gathered:
            padded.update(repeating: 0, count: count * paddedPlane)
            table.input.withUnsafeBufferPointer { offsets in
                for c in 0..<inChannels {
                    for image in 0..<count { copy(image, c, into: padded + image * paddedPlane) }
                    for group in Swift.stride(from: 0, to: tileStride(tiles: count * tilesPerImage), by: 8) {
                        @inline(__always) func corner(_ l: Int) -> UnsafePointer<Float> { UnsafePointer(padded) + offsets[group + l] }
                        let p0 = corner(0), p1 = corner(1), p2 = corner(2), p3 = corner(3)
                        let p4 = corner(4), p5 = corner(5), p6 = corner(6), p7 = corner(7)
                        body({ r, k in
                            let row = r * pw
                            return SIMD8(lowHalf: fourColumns(p0 + row, p1 + row, p2 + row, p3 + row, k),
                                         highHalf: fourColumns(p4 + row, p5 + row, p6 + row, p7 + row, k))
                        }, c, group)
                    }
                }
            }
        }
    }

    /// Column k of eight neighbouring blocks of a row, `tile` apart, from `row` (the first
    /// block's row) on.
    @inline(__always)
    func eightColumns(_ row: UnsafePointer<Float>, _ k: Int) -> SIMD8<Float> {
        SIMD8(lowHalf: fourColumns(row, k), highHalf: fourColumns(row + 4 * tile, k))
    }

    /// Column k of four neighbouring blocks of a row, `tile` apart, from `row` on.
    @inline(__always)
    func fourColumns(_ row: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
        guard tile == 2 else {
            // Values 4 and 5 of a block are values 0 and 1 of the next.
            let next = row + k - k % 4
            return fourColumns(next, next + tile, next + 2 * tile, next + 3 * tile, k % 4)
        }
        // One load, every other value.
        let v = UnsafeRawPointer(row + k - k % 2).loadUnaligned(as: SIMD8<Float>.self)
        return k % 2 == 0 ? v.evenHalf : v.oddHalf
    }

    /// Value k of the rows of four blocks that start at a, b, c and d: four values loaded from
    /// each (from 0, or `block` − 4 for the last values of F(4×4)'s rows of six) and transposed.
    @inline(__always)
    func fourColumns(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
                     _ d: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
        let shift = k < 4 ? 0 : block - 4
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
            UnsafeRawPointer(p + shift).loadUnaligned(as: SIMD4<Float>.self)
        }
        let t = transposed(load(a), load(b), load(c), load(d))
        switch k - shift {
        case 0: return t.0
        case 1: return t.1
        case 2: return t.2
        default: return t.3
        }
    }
}

/// The 4×4 matrix of rows a, b, c, d, transposed. On x86-64 by SSE's unpack and move-half
/// shuffles, eight in all: built from lanes or from `evenHalf`/`oddHalf`, the compiler turned
/// the transpose and the arithmetic before it into work one lane at a time (F(4×4)'s output
/// transform took about twice as long).
@inline(__always)
func transposed(_ a: SIMD4<Float>, _ b: SIMD4<Float>, _ c: SIMD4<Float>, _ d: SIMD4<Float>)
    -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    #if arch(x86_64)
    let ab0 = _mm_unpacklo_ps(a, b), ab1 = _mm_unpackhi_ps(a, b), cd0 = _mm_unpacklo_ps(c, d), cd1 = _mm_unpackhi_ps(c, d)
    return (_mm_movelh_ps(ab0, cd0), _mm_movehl_ps(cd0, ab0), _mm_movelh_ps(ab1, cd1), _mm_movehl_ps(cd1, ab1))
    #else
    let ab = SIMD8(lowHalf: a, highHalf: b), cd = SIMD8(lowHalf: c, highHalf: d)
    let even = SIMD8(lowHalf: ab.evenHalf, highHalf: cd.evenHalf), odd = SIMD8(lowHalf: ab.oddHalf, highHalf: cd.oddHalf)
    return (even.evenHalf, odd.evenHalf, even.oddHalf, odd.oddHalf)
    #endif
}

/// The output tile side of a Winograd convolution, as a type (`WinogradTiling`).
protocol WinogradTileSide { static var side: Int { get } }
/// F(2×2, 3×3)'s tiles.
enum TwoByTwo: WinogradTileSide { static var side: Int { 2 } }
/// F(4×4, 3×3)'s tiles.
enum FourByFour: WinogradTileSide { static var side: Int { 4 } }

/// A Winograd convolution as `Conv2d` runs it, forward or as the adjoint that gives the input
/// gradient: F(2×2, 3×3) (`WinogradConvolution`) or F(4×4, 3×3) (`Winograd4x4Convolution`).
protocol WinogradForm {
    associatedtype Side: WinogradTileSide
    var tiling: WinogradTiling<Side> { get }
    /// The convolution that computes this one's input gradient: channel roles swapped, with
    /// kernels from `transformKernels(adjoint: true)`.
    var adjoint: Self { get }
    /// The transformed kernels (`tiling.kernelSize` floats at `u`) of `weight`, the layer's
    /// [layerOut, layerIn, 3, 3]; with `adjoint`, kernel (o, c) is the layer's kernel (c, o)
    /// turned by 180°.
    func transformKernels(_ weight: UnsafePointer<Float>, adjoint: Bool, into u: UnsafeMutablePointer<Float>)
    /// y = the convolution of `count` images at `x` ([count, inChannels, height, width]) into
    /// `y` ([count, outChannels, height, width]), plus `bias` per output channel when given.
    /// `u` comes from `transformKernels`; `v` and `m` hold `tiling.inputSize`/`productSize` of
    /// count · tilesPerImage tiles, `padded` holds `tiling.paddedSize(images: count)`.
    func convolve(_ x: UnsafePointer<Float>, count: Int, kernels u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                  _ y: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                  padded: UnsafeMutablePointer<Float>)
}
