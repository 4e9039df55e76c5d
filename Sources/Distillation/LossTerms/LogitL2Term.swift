import NeuralNet

/// `l2/<peer>`: CTKD's step-by-step guidance — the squared distance between the network's
/// logits z and those of another trainee of the same run (the scratch teacher), summed over
/// the classes and averaged over the batch: (1/N) Σₙ Σₖ (z_peer − z)². The peer's logits are
/// detached, as in the CTKD authors' code: the gradient, 2 (z − z_peer) / N, goes to this
/// network only — the student follows, the scratch teacher does not wait for it.
/// Cost: one pass over the two [N, K] outputs.
public struct LogitL2Term: LossTerm {
    /// The trainee whose logits are followed.
    public let peer: String
    public var name: String { "l2/\(peer)" }
    public var inputs: [String] { [Objective.output, Trainee.key(Objective.output, trainee: peer)] }

    public init(peer: String) { self.peer = peer }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        let z = outputs[Objective.output]!, target = outputs[inputs[1]]!
        // The element mean of `meanSquaredError` times K is the per-image sum, batch-mean.
        var (loss, grad) = meanSquaredError(prediction: z, target: target)
        let classes = Float(z.shape[1])
        grad.data.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= classes } }
        loss *= classes
        return (loss, [Objective.output: grad])
    }
}
