/// The geometry of a 2-D convolution or pooling window over one image plane, and the im2col /
/// col2im copies that turn a convolution into one matrix product.
///
/// The column matrix of an image has one row per (input channel, kernel row, kernel column) and
/// one column per output position; `im2col` writes it, `col2im` adds a column matrix back into
/// the image (the adjoint, for the input gradient). Both take a band of output rows, so that a
/// large plane can be done in pieces whose column matrix stays in cache.
/// Cost: one pass over kernel² × output values. Shifted-plane geometries — stride 1, same
/// padding, every layer of the seed networks — move whole bands at once, and so do phase-split
/// ones — stride 2 halving the plane, as in the residual networks' downsampling — from the
/// image's four phases; row-by-row loops serve the other large planes, and a table of offsets
/// serves small planes.
struct ConvGeometry {
    let channels: Int, height: Int, width: Int
    let kernel: Int, stride: Int, padding: Int
    let outHeight: Int, outWidth: Int

    init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        self.channels = channels; self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride; self.padding = padding
        outHeight = (height + 2 * padding - kernel) / stride + 1
        outWidth = (width + 2 * padding - kernel) / stride + 1
    }

    var outSpatial: Int { outHeight * outWidth }
    var inSpatial: Int { height * width }
    /// Rows of the column matrix: channels × kernel².
    var rows: Int { channels * kernel * kernel }

    /// Stride 1 with "same" padding (output as large as the input, as in 3×3 with padding 1):
    /// each column row is then the plane shifted by (kh − padding) rows and (kw − padding)
    /// columns, which im2col and col2im move as one flat run plus a fix-up of the edges.
    var isShiftedPlane: Bool { stride == 1 && outHeight == height && outWidth == width }

    /// Stride 2 on a plane twice the output's size (3×3 with padding 1 on even planes): column
    /// row (c, kh, kw) is then a phase of channel c — its values at row parity (kh − padding)
    /// mod 2 and column parity (kw − padding) mod 2, an output-sized plane — shifted by
    /// ⌊(kh − padding)/2⌋ rows and ⌊(kw − padding)/2⌋ columns, so im2col and col2im move flat
    /// runs of the phases (`splitPhases`, `mergePhases`) instead of every other value. Not for
    /// 1×1 kernels, which read one phase of the four: gathering it row by row costs less.
    var isPhaseSplit: Bool { stride == 2 && kernel > 1 && height == 2 * outHeight && width == 2 * outWidth }

    /// Writes the phases of every channel of `image` into `phases`: channel c's phase
    /// (row parity p, column parity q) at `phases + (4c + 2p + q) · outSpatial`, each
    /// outHeight × outWidth. Cost: one pass over the image.
    func splitPhases(_ image: UnsafePointer<Float>, into phases: UnsafeMutablePointer<Float>) {
        movePhases(UnsafeMutablePointer(mutating: image), phases, split: true)
    }

    /// Writes `phases` (laid out as `splitPhases` writes them) back into `image`, interleaved.
    /// Cost: one pass over the image.
    func mergePhases(_ phases: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        movePhases(image, UnsafeMutablePointer(mutating: phases), split: false)
    }

    /// `splitPhases` (reading only `image`) or `mergePhases` (reading only `phases`), eight
    /// values of each phase row at a time.
    @inline(__always)
    private func movePhases(_ image: UnsafeMutablePointer<Float>, _ phases: UnsafeMutablePointer<Float>, split: Bool) {
        for c in 0..<channels {
            for ih in 0..<height {
                let row = image + c * inSpatial + ih * width
                let even = phases + (4 * c + 2 * (ih & 1)) * outSpatial + (ih >> 1) * outWidth, odd = even + outSpatial
                var i = 0
                while i + 8 <= outWidth {
                    if split {
                        let v = UnsafeRawPointer(row + 2 * i).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(even + i).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(odd + i).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                    } else {
                        var v = SIMD16<Float>()
                        v.evenHalf = UnsafeRawPointer(even + i).loadUnaligned(as: SIMD8<Float>.self)
                        v.oddHalf = UnsafeRawPointer(odd + i).loadUnaligned(as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(row + 2 * i).storeBytes(of: v, as: SIMD16<Float>.self)
                    }
                    i += 8
                }
                for j in i..<outWidth {
                    if split { even[j] = row[2 * j]; odd[j] = row[2 * j + 1] } else { row[2 * j] = even[j]; row[2 * j + 1] = odd[j] }
                }
            }
        }
    }

    /// For column row (c, kh, kw) of a shifted-plane or phase-split geometry: where its plane
    /// starts in the image (or the phases), and the rows and columns it is shifted by.
    @inline(__always)
    private func shiftedPlane(channel c: Int, kh: Int, kw: Int) -> (offset: Int, rowShift: Int, columnShift: Int) {
        let rowShift = kh - padding, columnShift = kw - padding
        if stride == 1 { return (c * inSpatial, rowShift, columnShift) }
        return ((4 * c + 2 * (rowShift & 1) + (columnShift & 1)) * outSpatial, rowShift >> 1, columnShift >> 1)
    }

    /// The output columns `ow` whose input column `ow·stride − padding + kw` lies inside the image.
    @inline(__always)
    private func validColumns(kw: Int) -> Range<Int> {
        let offset = kw - padding
        // ow·stride + offset ≥ 0  and  ow·stride + offset ≤ width − 1
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = width - 1 - offset < 0 ? -1 : (width - 1 - offset) / stride
        return first ..< max(first, min(outWidth, last + 1))
    }

    /// For a plane the output's size (the input of a shifted-plane geometry, a phase of a
    /// phase-split one) shifted by `rowShift` rows and `columnShift` columns, and the band of
    /// output rows `rows`: the flat shift from an output position to its source value, and the
    /// positions of the band whose source lies inside the plane (up to the left/right edge, see
    /// `zeroEdges`).
    @inline(__always)
    private func shiftedRun(rowShift: Int, columnShift: Int, rows: Range<Int>) -> (shift: Int, run: Range<Int>) {
        let shift = rowShift * outWidth + columnShift
        // rows whose source row exists, clipped so that the source stays inside the plane …
        let lo = max(0, -rowShift) * outWidth, hi = min(outHeight, outHeight - rowShift) * outWidth
        let first = max(lo, -shift), last = max(first, min(hi, outSpatial - shift))
        // … and to the band
        let bandStart = rows.lowerBound * outWidth, bandEnd = rows.upperBound * outWidth
        let a = min(max(first, bandStart), bandEnd), b = min(max(last, bandStart), bandEnd)
        return (shift, a ..< b)
    }

    /// Sets to zero the entries of a band of column entries (`row` holds position `bandStart`
    /// first) whose source column falls outside the plane for column shift `columnShift`.
    @inline(__always)
    private func zeroEdges(_ row: UnsafeMutablePointer<Float>, rows: Range<Int>, columnShift: Int) {
        if columnShift == 0 { return }
        let start = columnShift < 0 ? 0 : outWidth - columnShift, count = abs(columnShift)
        // A plain loop: the runs are a value or two, too short for a call to memset.
        for r in 0..<rows.count {
            for j in 0..<count { row[r &* outWidth &+ start &+ j] = 0 }
        }
    }

    /// For each kernel offset and output position, the offset in the input plane its value comes
    /// from, or −1 where it falls in the padding: the table that drives `im2col(…table:)` and
    /// `col2im(…table:)` for small planes, whose rows are too short for bulk copies to pay.
    func offsetTable() -> [Int32] {
        var table: [Int32] = []
        table.reserveCapacity(kernel * kernel * outSpatial)
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                for oh in 0..<outHeight {
                    for ow in 0..<outWidth {
                        let ih = oh * stride - padding + kh, iw = ow * stride - padding + kw
                        let inside = ih >= 0 && ih < height && iw >= 0 && iw < width
                        table.append(inside ? Int32(ih * width + iw) : -1)
                    }
                }
            }
        }
        return table
    }

    /// `im2col` of the whole plane of channel `c`, driven by `offsetTable()`.
    @inline(__always)
    func im2col(channel c: Int, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, ld: Int,
                table: UnsafePointer<Int32>) {
        let plane = image + c * inSpatial
        for tap in 0..<kernel * kernel {
            let row = columns + (c &* kernel &* kernel &+ tap) &* ld, offsets = table + tap &* outSpatial
            for position in 0..<outSpatial {
                let offset = Int(offsets[position])
                row[position] = offset < 0 ? 0 : plane[offset]
            }
        }
    }

    /// `col2im` of the whole plane of channel `c` (adding), driven by `offsetTable()`.
    @inline(__always)
    func col2im(channel c: Int, columns: UnsafePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>,
                table: UnsafePointer<Int32>) {
        let plane = image + c * inSpatial
        for tap in 0..<kernel * kernel {
            let row = columns + (c &* kernel &* kernel &+ tap) &* ld, offsets = table + tap &* outSpatial
            for position in 0..<outSpatial {
                let offset = Int(offsets[position])
                if offset >= 0 { plane[offset] += row[position] }
            }
        }
    }

    /// Writes the column rows of channel `c` of `image` ([channels, height, width], or its
    /// phases for a phase-split geometry) for the output rows `rows` into `columns`: row
    /// (c, kh, kw) at `columns + row·ld`, holding the band's positions from column 0.
    @inline(__always)
    func im2col(channel c: Int, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, ld: Int,
                rows: Range<Int>) {
        let plane = image + c * inSpatial
        let bandStart = rows.lowerBound * outWidth, bandEnd = rows.upperBound * outWidth
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                if isShiftedPlane || isPhaseSplit {
                    let (offset, rowShift, columnShift) = shiftedPlane(channel: c, kh: kh, kw: kw)
                    let (shift, run) = shiftedRun(rowShift: rowShift, columnShift: columnShift, rows: rows)
                    row.update(repeating: 0, count: run.lowerBound - bandStart)
                    (row + (run.lowerBound - bandStart)).update(from: image + offset + run.lowerBound + shift, count: run.count)
                    (row + (run.upperBound - bandStart)).update(repeating: 0, count: bandEnd - run.upperBound)
                    zeroEdges(row, rows: rows, columnShift: columnShift)
                    continue
                }
                let valid = validColumns(kw: kw)
                for oh in rows {
                    let dst = row + (oh - rows.lowerBound) * outWidth
                    let ih = oh * stride - padding + kh
                    if ih < 0 || ih >= height {
                        dst.update(repeating: 0, count: outWidth)
                        continue
                    }
                    let src = plane + ih * width + kw - padding
                    for ow in 0..<valid.lowerBound { dst[ow] = 0 }
                    if stride == 1 {
                        (dst + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count)
                    } else if stride == 2 {
                        gatherEven(src + 2 * valid.lowerBound, dst + valid.lowerBound, valid.count)
                    } else {
                        for ow in valid { dst[ow] = src[ow * stride] }
                    }
                    for ow in valid.upperBound..<outWidth { dst[ow] = 0 }
                }
            }
        }
    }

    /// Adds into channel `c` of `image` (its phases for a phase-split geometry), for each input
    /// value, the column entries of the output rows `rows` copied from it (laid out as `im2col`
    /// writes them): the adjoint of `im2col`. Shifted-plane and phase-split geometries clear the
    /// edge entries of `columns` on the way.
    @inline(__always)
    func col2im(channel c: Int, columns: UnsafeMutablePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>,
                rows: Range<Int>) {
        let plane = image + c * inSpatial
        let bandStart = rows.lowerBound * outWidth
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                if isShiftedPlane || isPhaseSplit {
                    let (offset, rowShift, columnShift) = shiftedPlane(channel: c, kh: kh, kw: kw)
                    let (shift, run) = shiftedRun(rowShift: rowShift, columnShift: columnShift, rows: rows)
                    zeroEdges(row, rows: rows, columnShift: columnShift)
                    let target = image + offset + run.lowerBound + shift
                    addVectors(target, row + (run.lowerBound - bandStart), target, run.count)
                    continue
                }
                let valid = validColumns(kw: kw)
                for oh in rows {
                    let ih = oh * stride - padding + kh
                    if ih < 0 || ih >= height { continue }
                    let src = row + (oh - rows.lowerBound) * outWidth
                    let dst = plane + ih * width + kw - padding
                    if stride == 1 {
                        addVectors(dst + valid.lowerBound, src + valid.lowerBound, dst + valid.lowerBound, valid.count)
                    } else if stride == 2 {
                        addToEven(src + valid.lowerBound, dst + 2 * valid.lowerBound, valid.count)
                    } else {
                        for ow in valid { dst[ow * stride] += src[ow] }
                    }
                }
            }
        }
    }
}
