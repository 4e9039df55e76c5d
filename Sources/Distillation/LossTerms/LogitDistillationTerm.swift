import KDCore
import NeuralNet

/// `kd/<teacher>`: Hinton's distillation term against a teacher's stored logits,
/// T² · KL(softmax(t/T) ‖ softmax(s/T)), batch-mean (PyTorch: `F.kl_div(log_softmax(s/T),
/// softmax(t/T), reduction="batchmean") * T²`) — or, with `meanOverClasses`, divided by the K
/// classes too, as PyTorch's default `reduction="mean"` that TAKD's and DGKD's code use. The
/// teacher never runs: its logits for every image (and every stored view) come from a feature
/// file (`kd extract`).
/// Cost: the logits in memory (N × K floats per split, N × V × K for views); softmaxes per step.
public struct LogitDistillationTerm: LossTerm {
    public var name: String
    public var inputs: [String] { [Objective.output] }
    public let temperature: Float
    /// Divide by the classes as well as the batch (PyTorch's `reduction="mean"`).
    public let meanOverClasses: Bool
    let targets: StoredRows

    init(name: String, temperature: Float, meanOverClasses: Bool = false, targets: StoredRows) {
        self.name = name
        self.temperature = temperature
        self.meanOverClasses = meanOverClasses
        self.targets = targets
    }

    /// A term over logits held in memory: per split, [N, classes] row-major.
    public init(name: String, temperature: Float, meanOverClasses: Bool = false, logits: [String: [Float]], classes: Int) {
        self.init(name: name, temperature: temperature, meanOverClasses: meanOverClasses,
                  targets: StoredRows(width: classes, plain: logits, views: nil))
    }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        var (loss, grad) = distillationLoss(student: outputs[Objective.output]!, teacher: targets.rows(for: batch),
                                            temperature: temperature)
        if meanOverClasses {
            let k = Float(targets.width)
            loss /= k
            grad.data.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] /= k } }
        }
        return (loss, [Objective.output: grad])
    }
}
