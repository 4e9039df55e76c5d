import KDCore

/// Stochastic gradient descent with momentum, Nesterov momentum and weight decay, following
/// PyTorch's `torch.optim.SGD` update exactly. For each parameter p with gradient g:
///
///     g ← g + weight_decay · p
///     buf ← g                                   (first step)
///     buf ← momentum · buf + (1 − dampening) · g (later steps)
///     g ← g + momentum · buf  (Nesterov)   or   g ← buf
///     p ← p − lr · g
///
/// Without momentum there is no buffer and p ← p − lr · g. Cost: a few passes over the
/// parameters per step, split over `ComputeThreads`; one buffer as large as the parameters.
public final class SGD: Optimizer {
    public let parameters: [(String, Parameter)]
    public var learningRate: Double
    public let momentum: Double, dampening: Double, weightDecay: Double
    public let nesterov: Bool

    /// Per parameter, nil until the first step (PyTorch creates the buffer then).
    private var momentumBuffers: [[Float]?]
    private var steps = 0

    /// Throws `StageError` 64 for settings PyTorch refuses: a negative rate, momentum or
    /// weight decay, or Nesterov without momentum or with dampening.
    public init(parameters: [(String, Parameter)], learningRate: Double, momentum: Double = 0,
                dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) throws {
        guard learningRate >= 0 else { throw StageError.usage("SGD: learning rate \(learningRate) is negative") }
        guard momentum >= 0 else { throw StageError.usage("SGD: momentum \(momentum) is negative") }
        guard weightDecay >= 0 else { throw StageError.usage("SGD: weight decay \(weightDecay) is negative") }
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw StageError.usage("SGD: Nesterov momentum needs a momentum above 0 and no dampening")
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum; self.dampening = dampening; self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        let lr = Float(learningRate), mu = Float(momentum), keep = Float(1 - dampening)
        let wd = Float(weightDecay)
        for (index, (_, p)) in parameters.enumerated() {
            let n = p.value.count
            p.value.data.withUnsafeMutableBufferPointer { w in
            p.grad.data.withUnsafeBufferPointer { g in
                if momentum == 0 {
                    ComputeThreads.parallelFor(n, grain: 1 << 15) { range in
                        for i in range { w[i] -= lr * (wd == 0 ? g[i] : g[i] + wd * w[i]) }
                    }
                    return
                }
                let fresh = momentumBuffers[index] == nil
                if fresh { momentumBuffers[index] = [Float](repeating: 0, count: n) }
                momentumBuffers[index]!.withUnsafeMutableBufferPointer { buf in
                    ComputeThreads.parallelFor(n, grain: 1 << 15) { range in
                        for i in range {
                            let d = wd == 0 ? g[i] : g[i] + wd * w[i]
                            buf[i] = fresh ? d : mu * buf[i] + keep * d
                            w[i] -= lr * (nesterov ? d + mu * buf[i] : buf[i])
                        }
                    }
                }
            }}
        }
        steps += 1
    }

    public var state: OptimizerState {
        var buffers: [String: [String: Tensor]] = [:]
        for ((name, p), buf) in zip(parameters, momentumBuffers) {
            if let buf { buffers[name] = ["momentum_buffer": Tensor(shape: p.value.shape, data: buf)] }
        }
        return OptimizerState(kind: "sgd", steps: steps, buffers: buffers)
    }

    public func restore(_ state: OptimizerState) throws {
        try state.check(kind: "sgd", parameters: parameters)
        momentumBuffers = try parameters.map { name, p in
            try state.tensor("momentum_buffer", of: name, shape: p.value.shape)?.data
        }
        steps = state.steps
    }
}
