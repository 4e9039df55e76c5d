/// Attention transfer (Zagoruyko & Komodakis, "Paying More Attention to Attention"): where a
/// network looks, as the spatial map of its activations' energy, and the loss that makes a
/// student's map follow a teacher's.
///
///     q(x)ₙₚ = (1/C) Σ_c x²ₙ,c,p          (p over the H·W positions)
///     a(x)ₙ  = q(x)ₙ / max(‖q(x)ₙ‖₂, 1e-12)   (PyTorch: F.normalize(x.pow(2).mean(1).view(N, -1)))
///     loss   = (1/(N·H·W)) Σ (a(x) − t)²      (the authors' `(at(x) - at(y)).pow(2).mean()`)
///
/// Cost: one pass over the activations forward (plus three over the maps), one backward.
public enum AttentionTransfer {
    /// The normalization's floor, F.normalize's default eps.
    static let epsilon: Float = 1e-12

    /// a(x) of activations [N, C, H, W] as [N, H·W].
    public static func maps(_ x: Tensor) -> Tensor {
        mapsAndNorms(x).maps
    }

    /// a(x) and each image's ‖q‖₂ (floored at `epsilon`).
    private static func mapsAndNorms(_ x: Tensor) -> (maps: Tensor, norms: [Float]) {
        precondition(x.shape.count == 4, "attention maps need activations [N, C, H, W], got \(x.shape)")
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var norms = [Float](repeating: 0, count: n)
        var maps = Tensor(shape: [n, plane], repeating: 0)
        x.data.withUnsafeBufferPointer { xs in
            maps.data.withUnsafeMutableBufferPointer { q in
                for image in 0..<n {
                    let row = q.baseAddress! + image * plane
                    // Channel by channel over contiguous planes, then the mean.
                    for channel in 0..<c {
                        let source = xs.baseAddress! + (image * c + channel) * plane
                        for p in 0..<plane { row[p] += source[p] * source[p] }
                    }
                    var sumSquares: Double = 0
                    for p in 0..<plane {
                        row[p] /= Float(c)
                        sumSquares += Double(row[p]) * Double(row[p])
                    }
                    let norm = max(Float(sumSquares.squareRoot()), epsilon)
                    norms[image] = norm
                    for p in 0..<plane { row[p] /= norm }
                }
            }
        }
        return (maps, norms)
    }

    /// The loss of activations `x` [N, C, H, W] against target maps [N, H·W], and its gradient
    /// with respect to `x`.
    public static func loss(activations x: Tensor, target: Tensor) -> (loss: Float, grad: Tensor) {
        let (a, norms) = mapsAndNorms(x)
        precondition(a.shape == target.shape, "attention maps \(a.shape) against targets \(target.shape)")
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let scale = 2 / Float(n * plane)
        var loss: Double = 0
        var dq = [Float](repeating: 0, count: n * plane)
        for image in 0..<n {
            // ∂L/∂a, then through a = q/‖q‖: ∂L/∂q = (g − a·(a·g)) / ‖q‖ (g alone below the floor).
            var dot: Float = 0
            for p in 0..<plane {
                let i = image * plane + p, d = a.data[i] - target.data[i]
                loss += Double(d) * Double(d)
                dq[i] = scale * d
                dot += a.data[i] * dq[i]
            }
            let norm = norms[image], projected = norm > epsilon
            for p in 0..<plane {
                let i = image * plane + p
                dq[i] = (projected ? dq[i] - a.data[i] * dot : dq[i]) / norm
            }
        }
        // q = (1/C) Σ x²: ∂q/∂x = 2x/C.
        let grad = Tensor(shape: x.shape) { g in
            for image in 0..<n {
                for channel in 0..<c {
                    for p in 0..<plane {
                        let i = (image * c + channel) * plane + p
                        g[i] = dq[image * plane + p] * 2 * x.data[i] / Float(c)
                    }
                }
            }
        }
        return (Float(loss / Double(n * plane)), grad)
    }
}
