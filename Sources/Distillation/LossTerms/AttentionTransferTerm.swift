import NeuralNet

/// `at/<tap>`: attention transfer (Zagoruyko & Komodakis) — the mean squared difference between
/// the attention map a(x) of the student's tap and a teacher's map stored for the same image
/// (and view) by `kd extract --attention`; its gradient flows into the student's tap. The
/// teacher never runs. Cost: the maps in memory (N × H·W floats per split, N × V × H·W for
/// views); two passes over the tap's activations per step.
public struct AttentionTransferTerm: LossTerm {
    public var name: String { "at/\(tap)" }
    public var inputs: [String] { [tap] }
    public let tap: String
    let targets: StoredRows

    init(tap: String, targets: StoredRows) {
        self.tap = tap
        self.targets = targets
    }

    /// A term over maps held in memory: per split, [N, positions] row-major.
    public init(tap: String, maps: [String: [Float]], positions: Int) {
        self.init(tap: tap, targets: StoredRows(width: positions, plain: maps, views: nil))
    }

    public var positions: Int { targets.width }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        let (loss, grad) = AttentionTransfer.loss(activations: outputs[tap]!, target: targets.rows(for: batch))
        return (loss, [tap: grad])
    }
}
