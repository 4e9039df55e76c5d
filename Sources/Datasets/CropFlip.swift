/// One draw of the CIFAR-standard augmentation: a crop of the image zero-padded by `pad` pixels
/// on every side, shifted by (dx, dy) ∈ [−pad, pad]², then an optional horizontal flip —
/// torchvision's `RandomCrop(H, padding: pad)` followed by `RandomHorizontalFlip`.
///
/// Stored as three small integers, so a stage can record the augmentation it applied (a feature
/// store's views) and apply it again later. Cost: one pass over the image.
public struct CropFlip: Sendable, Equatable {
    public var dx: Int
    public var dy: Int
    public var flip: Bool

    public init(dx: Int, dy: Int, flip: Bool) {
        self.dx = dx
        self.dy = dy
        self.flip = flip
    }

    /// No shift, no flip.
    public static let identity = CropFlip(dx: 0, dy: 0, flip: false)

    /// Writes the augmented copy of one C×H×W image: out[c][y][x] = in[c][y+dy][x'+dx] with
    /// x' = W−1−x when flipped (else x), and 0 where that falls outside the image.
    public func apply(_ image: UnsafePointer<UInt8>, to out: UnsafeMutablePointer<UInt8>, shape: [Int]) {
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        for c in 0..<channels {
            let plane = c * height * width
            for y in 0..<height {
                let sy = y + dy
                let row = out + plane + y * width
                guard sy >= 0 && sy < height else {
                    row.update(repeating: 0, count: width)
                    continue
                }
                let source = image + plane + sy * width
                for x in 0..<width {
                    let sx = (flip ? width - 1 - x : x) + dx
                    row[x] = sx >= 0 && sx < width ? source[sx] : 0
                }
            }
        }
    }
}
