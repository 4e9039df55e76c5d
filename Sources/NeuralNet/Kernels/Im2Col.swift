/// The geometry of a 2-D convolution or pooling window over one image plane, and the im2col /
/// col2im copies that turn a convolution into one matrix product.
///
/// The column matrix of an image has one row per (input channel, kernel row, kernel column) and
/// one column per output position; `im2col` writes it, `col2im` adds a column matrix back into
/// the image (the adjoint, for the input gradient). Both take a band of output rows, so that a
/// large plane can be done in pieces whose column matrix stays in cache.
/// Cost: one pass over kernel² × output values. Shifted-plane geometries — stride 1, same
/// padding, every layer of the seed networks — move whole bands at once, row-by-row loops
/// serve the other large planes, and a table of offsets serves small planes.
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
    /// The output columns `ow` whose input column `ow·stride − padding + kw` lies inside the image.
    @inline(__always)
    private func validColumns(kw: Int) -> Range<Int> {
        let offset = kw - padding
        // ow·stride + offset ≥ 0  and  ow·stride + offset ≤ width − 1
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = width - 1 - offset < 0 ? -1 : (width - 1 - offset) / stride
        return first ..< max(first, min(outWidth, last + 1))
    }

    /// For kernel offset (kh, kw) of a shifted-plane geometry and the band of output rows
    /// `rows`: the flat shift from an output position to its input value, the positions of the
    /// band whose input lies inside the plane (up to the left/right edge, see `zeroEdges`), and
    /// the column shift.
    @inline(__always)
    private func shiftedRun(kh: Int, kw: Int, rows: Range<Int>) -> (shift: Int, run: Range<Int>, columnShift: Int) {
        let rowShift = kh - padding, columnShift = kw - padding
        let shift = rowShift * width + columnShift
        // rows whose input row exists, clipped so that the source stays inside the plane …
        let lo = max(0, -rowShift) * width, hi = min(height, height - rowShift) * width
        let first = max(lo, -shift), last = max(first, min(hi, inSpatial - shift))
        // … and to the band
        let bandStart = rows.lowerBound * width, bandEnd = rows.upperBound * width
        let a = min(max(first, bandStart), bandEnd), b = min(max(last, bandStart), bandEnd)
        return (shift, a ..< b, columnShift)
    }

    /// Sets to zero the entries of a band of column entries (`row` holds position `bandStart`
    /// first) whose input column falls outside the image for column shift `columnShift`.
    @inline(__always)
    private func zeroEdges(_ row: UnsafeMutablePointer<Float>, rows: Range<Int>, columnShift: Int) {
        if columnShift == 0 { return }
        let start = columnShift < 0 ? 0 : width - columnShift, count = abs(columnShift)
        // A plain loop: the runs are a value or two, too short for a call to memset.
        for r in 0..<rows.count {
            for j in 0..<count { row[r &* width &+ start &+ j] = 0 }
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

    /// Writes the column rows of channel `c` of `image` ([channels, height, width]) for the
    /// output rows `rows` into `columns`: row (c, kh, kw) at `columns + row·ld`, holding the
    /// band's positions from column 0.
    @inline(__always)
    func im2col(channel c: Int, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, ld: Int,
                rows: Range<Int>) {
        let plane = image + c * inSpatial
        let bandStart = rows.lowerBound * outWidth, bandEnd = rows.upperBound * outWidth
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                if isShiftedPlane {
                    let (shift, run, columnShift) = shiftedRun(kh: kh, kw: kw, rows: rows)
                    row.update(repeating: 0, count: run.lowerBound - bandStart)
                    (row + (run.lowerBound - bandStart)).update(from: plane + run.lowerBound + shift, count: run.count)
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

    /// Adds into channel `c` of `image`, for each input value, the column entries of the output
    /// rows `rows` copied from it (laid out as `im2col` writes them): the adjoint of `im2col`.
    /// A shifted-plane geometry clears the edge entries of `columns` on the way.
    @inline(__always)
    func col2im(channel c: Int, columns: UnsafeMutablePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>,
                rows: Range<Int>) {
        let plane = image + c * inSpatial
        let bandStart = rows.lowerBound * outWidth
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                if isShiftedPlane {
                    let (shift, run, columnShift) = shiftedRun(kh: kh, kw: kw, rows: rows)
                    zeroEdges(row, rows: rows, columnShift: columnShift)
                    addVectors(plane + run.lowerBound + shift, row + (run.lowerBound - bandStart),
                               plane + run.lowerBound + shift, run.count)
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
