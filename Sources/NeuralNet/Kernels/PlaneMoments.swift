/// The mean and the sum of squared deviations of every plane of an NCHW tensor, and their
/// combination per channel: what a batch norm's training statistics are made of. The norm
/// computes them itself, or the convolution before it does, on each worker's output while it
/// is still in cache (`Conv2d.forward(_:mode:measuringMoments:)`), which saves the norm a pass
/// over memory. Both give the same bits: the same sums of the same planes, combined in the same
/// order.
///
/// A plane's sums are taken about its first value (`shiftedSums`), which lies within a few
/// deviations of the plane's mean, so the squares do not swamp the spread; planes are combined
/// exactly (Chan, Golub & LeVeque) in Double, in batch order. Cost: one pass over each plane,
/// 16 bytes per plane.
enum PlaneMoments {
    /// Doubles the moments of a [batch, channels, H, W] tensor take: (mean, squared deviations)
    /// of plane (n, c) at 2·(n·channels + c).
    static func size(batch: Int, channels: Int) -> Int { 2 * batch * channels }

    /// Measures planes `first ..< first + count` (counted over images and channels, in NCHW
    /// order) of `spatial` values each, starting at `planes`, into `moments`.
    static func measure(_ planes: UnsafePointer<Float>, first: Int, count: Int, spatial: Int,
                        into moments: UnsafeMutablePointer<Double>) {
        let size = Double(spatial)
        for p in 0..<count {
            let plane = planes + p * spatial, pivot = plane[0]
            let (shift, shiftedSquares) = shiftedSums(plane, spatial, pivot: pivot)
            moments[2 * (first + p)] = Double(pivot) + Double(shift) / size
            moments[2 * (first + p) + 1] = max(0, Double(shiftedSquares) - Double(shift) * Double(shift) / size)
        }
    }

    /// Channel `c`'s mean and sum of squared deviations over the batch, from `moments` of a
    /// [batch, channels, H, W] tensor with `spatial` values a plane.
    static func channel(_ c: Int, of moments: UnsafePointer<Double>, batch: Int, channels: Int,
                        spatial: Int) -> (mean: Float, squares: Float) {
        var count = 0.0, mean = 0.0, squares = 0.0
        let size = Double(spatial)
        for n in 0..<batch {
            let p = 2 * (n * channels + c)
            let delta = moments[p] - mean, total = count + size
            mean += delta * size / total
            squares += moments[p + 1] + delta * delta * count * size / total
            count = total
        }
        return (Float(mean), Float(squares))
    }
}
