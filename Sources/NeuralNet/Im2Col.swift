/// The geometry of a 2-D convolution or pooling window over one image plane, and the im2col /
/// col2im copies that turn a convolution into one matrix product.
///
/// The column matrix of an image has one row per (input channel, kernel row, kernel column) and
/// one column per output position; `im2col` writes it, `col2im` adds a column matrix back into
/// the image (the adjoint, for the input gradient). Cost: one pass over kernel² × output values.
/// (Shifted-plane geometries — stride 1, same padding, every layer of the seed networks — move
/// whole planes at once; the row-by-row loops serve the rest.)
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

    /// The output columns `ow` whose input column `ow·stride − padding + kw` lies inside the image.
    @inline(__always)
    private func validColumns(kw: Int) -> Range<Int> {
        let offset = kw - padding
        // ow·stride + offset ≥ 0  and  ow·stride + offset ≤ width − 1
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = width - 1 - offset < 0 ? -1 : (width - 1 - offset) / stride
        return first ..< max(first, min(outWidth, last + 1))
    }

    /// Stride 1 with "same" padding (output as large as the input, as in 3×3 with padding 1):
    /// each column row is then the whole plane shifted by (kh − padding) rows and (kw − padding)
    /// columns, which im2col and col2im move as one flat run plus a fix-up of the edges.
    var isShiftedPlane: Bool { stride == 1 && outHeight == height && outWidth == width }

    /// For kernel offset (kh, kw) of a shifted-plane geometry: the flat shift from a column
    /// entry to its input value, the flat run of entries whose input lies inside the plane
    /// (ignoring the left/right edge, which `edgeColumns` names), and the column shift.
    @inline(__always)
    private func shiftedRun(kh: Int, kw: Int) -> (shift: Int, run: Range<Int>, columnShift: Int) {
        let rowShift = kh - padding, columnShift = kw - padding
        let shift = rowShift * width + columnShift
        // rows whose input row exists, then clipped so that the source stays inside the plane
        let lo = max(0, -rowShift) * width, hi = min(height, height - rowShift) * width
        let first = max(lo, -shift), last = min(hi, inSpatial - shift)
        return (shift, first ..< max(first, last), columnShift)
    }

    /// Sets to zero, in each row of a plane of column entries, the entries whose input column
    /// falls outside the image for column shift `columnShift`.
    @inline(__always)
    private func zeroEdgeColumns(_ row: UnsafeMutablePointer<Float>, columnShift: Int) {
        if columnShift == 0 { return }
        let start = columnShift < 0 ? 0 : width - columnShift, count = abs(columnShift)
        for r in 0..<height { (row + (r &* width &+ start)).update(repeating: 0, count: count) }
    }

    /// Writes the column rows of channel `c` of `image` ([channels, height, width]) into
    /// `columns`, whose rows are `ld` floats apart.
    @inline(__always)
    func im2col(channel c: Int, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, ld: Int) {
        let plane = image + c * inSpatial
        if isShiftedPlane {
            for kh in 0..<kernel {
                for kw in 0..<kernel {
                    let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                    let (shift, run, columnShift) = shiftedRun(kh: kh, kw: kw)
                    row.update(repeating: 0, count: run.lowerBound)
                    (row + run.lowerBound).update(from: plane + run.lowerBound + shift, count: run.count)
                    (row + run.upperBound).update(repeating: 0, count: inSpatial - run.upperBound)
                    zeroEdgeColumns(row, columnShift: columnShift)
                }
            }
            return
        }
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                let valid = validColumns(kw: kw)
                for oh in 0..<outHeight {
                    let dst = row + oh * outWidth
                    let ih = oh * stride - padding + kh
                    if ih < 0 || ih >= height {
                        dst.update(repeating: 0, count: outWidth)
                        continue
                    }
                    let src = plane + ih * width + kw - padding
                    for ow in 0..<valid.lowerBound { dst[ow] = 0 }
                    if stride == 1 {
                        (dst + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count)
                    } else {
                        for ow in valid { dst[ow] = src[ow * stride] }
                    }
                    for ow in valid.upperBound..<outWidth { dst[ow] = 0 }
                }
            }
        }
    }

    /// Writes into channel `c` of `image` the sum, for each input value, of the entries of the
    /// column rows of channel `c` (rows `ld` floats apart) that were copied from it: the adjoint
    /// of `im2col`. (A shifted-plane geometry clears the edge entries of `columns` on the way.)
    @inline(__always)
    func col2im(channel c: Int, columns: UnsafeMutablePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>) {
        let plane = image + c * inSpatial
        if isShiftedPlane {
            // The centre offset is the plane itself, unshifted: it writes the plane whole, and
            // the other offsets add onto it.
            let centre = columns + ((c * kernel + padding) * kernel + padding) * ld
            plane.update(from: centre, count: inSpatial)
            for kh in 0..<kernel {
                for kw in 0..<kernel where kh != padding || kw != padding {
                    let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                    let (shift, run, columnShift) = shiftedRun(kh: kh, kw: kw)
                    zeroEdgeColumns(row, columnShift: columnShift)
                    addVectors(plane + run.lowerBound + shift, row + run.lowerBound,
                               plane + run.lowerBound + shift, run.count)
                }
            }
            return
        }
        plane.update(repeating: 0, count: inSpatial)
        for kh in 0..<kernel {
            for kw in 0..<kernel {
                let row = columns + ((c * kernel + kh) * kernel + kw) * ld
                let valid = validColumns(kw: kw)
                for oh in 0..<outHeight {
                    let ih = oh * stride - padding + kh
                    if ih < 0 || ih >= height { continue }
                    let src = row + oh * outWidth
                    let dst = plane + ih * width + kw - padding
                    if stride == 1 {
                        for ow in valid { dst[ow] += src[ow] }
                    } else {
                        for ow in valid { dst[ow * stride] += src[ow] }
                    }
                }
            }
        }
    }
}
