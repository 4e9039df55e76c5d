import NeuralNet

/// `ce`: softmax cross-entropy of the network's output (logits) against the store's labels,
/// batch-mean (PyTorch's `F.cross_entropy`). Cost: one pass over the logits.
public struct CrossEntropyTerm: LossTerm {
    public var name: String
    public var inputs: [String] { [Objective.output] }

    public init(name: String = "ce") { self.name = name }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        let (loss, grad) = softmaxCrossEntropy(logits: outputs[Objective.output]!, labels: batch.labels)
        return (loss, [Objective.output: grad])
    }
}
