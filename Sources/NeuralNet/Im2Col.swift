/// The geometry of a 2-D convolution or pooling window over one image plane, and the im2col /
/// col2im copies that turn a convolution into one matrix product.
///
/// The column matrix of an image has one row per (input channel, kernel row, kernel column) and
/// one column per output position; `im2col` writes it, `col2im` adds a column matrix back into
/// the image (the adjoint, for the input gradient). Cost: one pass over kernel² × output values.
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

    /// Writes the column rows of channel `c` of `image` ([channels, height, width]) into
    /// `columns`, whose rows are `ld` floats apart.
    @inline(__always)
    func im2col(channel c: Int, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, ld: Int) {
        let plane = image + c * inSpatial
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

    /// Adds the column rows of channel `c` in `columns` (rows `ld` floats apart) into channel `c`
    /// of `image`.
    @inline(__always)
    func col2im(channel c: Int, columns: UnsafePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>) {
        let plane = image + c * inSpatial
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
