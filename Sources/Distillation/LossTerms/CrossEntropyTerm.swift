import NeuralNet

/// `ce`: softmax cross-entropy of a trainee's output (logits) against the store's labels,
/// batch-mean (PyTorch's `F.cross_entropy`). Cost: one pass over the logits.
public struct CrossEntropyTerm: LossTerm {
    public var name: String
    /// The logits it reads: the run's first trainee's output, or another's (`scratch/output`).
    public var input: String
    public var inputs: [String] { [input] }

    public init(name: String = "ce", input: String = Objective.output) {
        self.name = name
        self.input = input
    }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        let (loss, grad) = softmaxCrossEntropy(logits: outputs[input]!, labels: batch.labels)
        return (loss, [input: grad])
    }
}
