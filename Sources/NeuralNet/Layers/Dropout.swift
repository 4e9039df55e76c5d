/// Inverted dropout (PyTorch's `nn.Dropout`): in training, each value is zeroed with probability
/// `p` and the survivors are scaled by 1/(1 − p); in inference it is the identity.
///
/// The mask comes from `rng`, the layer's own generator, which the owner may read and assign
/// (a training run reseeds it every epoch from its own, checkpointed generator) so that a
/// resumed run draws the same masks. Cost: one draw and one
/// multiply per value.
public final class Dropout: Layer {
    public let p: Float
    /// The generator the next training-mode forward draws its mask from.
    public var rng: RandomState

    /// 0 where dropped, 1/(1 − p) where kept; empty after an inference-mode forward.
    private var mask: [Float] = []

    public init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        rng = RandomState(seed: seed)
    }

    public var label: String { "Dropout(p=\(p))" }

    public func outputShape(for shape: [Int]) throws -> [Int] { shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        guard mode == .training, p > 0 else {
            mask = []
            return x
        }
        let keep = 1 / (1 - p)
        mask = [Float](unsafeUninitializedCapacity: x.count) { m, initialized in
            for i in 0..<x.count { m[i] = rng.nextFloat() < p ? 0 : keep }
            initialized = x.count
        }
        return Tensor(shape: x.shape) { y in
            for i in 0..<x.count { y[i] = x.data[i] * mask[i] }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        if mask.isEmpty { return dy }
        precondition(dy.count == mask.count, "\(label): output gradient shape \(dy.shape) does not match the forward pass")
        return Tensor(shape: dy.shape) { dx in
            for i in 0..<dy.count { dx[i] = dy.data[i] * mask[i] }
        }
    }
}
