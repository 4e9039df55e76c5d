import Foundation
import KDCore
import NeuralNet
import Testing

/// SGD and Adam against PyTorch's update formulas: a few steps worked out by hand, and longer
/// runs against a scalar Double transcription of torch.optim's code.
@Suite struct OptimizerTests {
    /// One scalar parameter with value `p`, named "w".
    private func scalar(_ p: Float) -> Parameter { Parameter(Tensor(shape: [1], data: [p])) }

    /// Runs `steps` steps, setting the gradient to `gradient(step, value)` before each.
    private func run(_ optimizer: any Optimizer, _ p: Parameter, steps: Int,
                     gradient: (Int, Float) -> Float) -> [Float] {
        (0..<steps).map { step in
            p.grad.data[0] = gradient(step, p.value.data[0])
            optimizer.step()
            return p.value.data[0]
        }
    }

    @Test func plainSGDStepsAgainstTheGradient() throws {
        let p = scalar(1)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1)
        // p ← p − 0.1·2 each step
        let values = run(sgd, p, steps: 3) { _, _ in 2 }
        #expect(zip(values, [0.8, 0.6, 0.4]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func momentumBufferStartsAsTheGradient() throws {
        let p = scalar(1)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.9)
        // buf: 1, 1.9, 2.71;  p: 1 − 0.1, − 0.19, − 0.271
        let values = run(sgd, p, steps: 3) { _, _ in 1 }
        #expect(zip(values, [0.9, 0.71, 0.439]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func nesterovLooksAhead() throws {
        let p = scalar(1)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.9, nesterov: true)
        // buf: 1, 1.9;  step uses g + 0.9·buf: 1.9, then 1 + 1.71 = 2.71
        let values = run(sgd, p, steps: 2) { _, _ in 1 }
        #expect(zip(values, [0.81, 0.539]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func dampeningScalesLaterGradientsOnly() throws {
        let p = scalar(1)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.5, dampening: 0.5)
        // buf: 1 (not dampened on the first step), then 0.5·1 + 0.5·1 = 1
        let values = run(sgd, p, steps: 2) { _, _ in 1 }
        #expect(zip(values, [0.9, 0.8]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func weightDecayIsAddedToTheGradient() throws {
        let p = scalar(2)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1, weightDecay: 0.5)
        // g = 0 + 0.5·2 = 1 → 1.9; then g = 0.95 → 1.805
        let values = run(sgd, p, steps: 2) { _, _ in 0 }
        #expect(zip(values, [1.9, 1.805]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// torch.optim.SGD's single-tensor step, in Double.
    private func referenceSGD(p0: Double, gradients: [Double], lr: Double, momentum: Double,
                              dampening: Double, weightDecay: Double, nesterov: Bool) -> [Double] {
        var p = p0, buf: Double? = nil
        return gradients.map { g0 in
            var g = g0 + weightDecay * p
            if momentum != 0 {
                buf = buf.map { momentum * $0 + (1 - dampening) * g } ?? g
                g = nesterov ? g + momentum * buf! : buf!
            }
            p -= lr * g
            return p
        }
    }

    @Test(arguments: [(0.9, 0.0, false), (0.9, 0.0, true), (0.8, 0.3, false)])
    func sgdFollowsPyTorchOverManySteps(momentum: Double, dampening: Double, nesterov: Bool) throws {
        let gradients = (0..<20).map { sin(Double($0) * 1.3) + 0.2 }
        let p = scalar(0.5)
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.05, momentum: momentum,
                          dampening: dampening, weightDecay: 5e-4, nesterov: nesterov)
        let values = run(sgd, p, steps: gradients.count) { step, _ in Float(gradients[step]) }
        let expected = referenceSGD(p0: 0.5, gradients: gradients, lr: 0.05, momentum: momentum,
                                    dampening: dampening, weightDecay: 5e-4, nesterov: nesterov)
        for (got, want) in zip(values, expected) { #expect(abs(Double(got) - want) < 1e-5) }
    }

    @Test func adamTakesSteadyStepsOfTheRateForAConstantGradient() throws {
        let p = scalar(1)
        let adam = try Adam(parameters: [("w", p)], learningRate: 0.1)
        // Bias-corrected m̂ = 1 and v̂ = 1 at every step, so each step moves by lr/(1 + ε).
        let values = run(adam, p, steps: 3) { _, _ in 1 }
        #expect(zip(values, [0.9, 0.8, 0.7]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// torch.optim.Adam's single-tensor step, in Double.
    private func referenceAdam(p0: Double, gradients: [Double], lr: Double, beta1: Double, beta2: Double,
                               eps: Double, weightDecay: Double) -> [Double] {
        var p = p0, m = 0.0, v = 0.0
        return gradients.enumerated().map { index, g0 in
            let t = Double(index + 1)
            let g = g0 + weightDecay * p
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            let stepSize = lr / (1 - pow(beta1, t))
            let denom = v.squareRoot() / (1 - pow(beta2, t)).squareRoot() + eps
            p -= stepSize * m / denom
            return p
        }
    }

    @Test func adamFollowsPyTorchOverManySteps() throws {
        let gradients = (0..<20).map { cos(Double($0) * 0.7) * 0.3 - 0.05 }
        let p = scalar(0.5)
        let adam = try Adam(parameters: [("w", p)], learningRate: 0.01, beta1: 0.8, beta2: 0.99,
                            epsilon: 1e-6, weightDecay: 0.01)
        let values = run(adam, p, steps: gradients.count) { step, _ in Float(gradients[step]) }
        let expected = referenceAdam(p0: 0.5, gradients: gradients, lr: 0.01, beta1: 0.8, beta2: 0.99,
                                     eps: 1e-6, weightDecay: 0.01)
        for (got, want) in zip(values, expected) { #expect(abs(Double(got) - want) < 1e-5) }
    }

    /// Two identical parameter sets, optimizer A stepped k times, its state given to B, then
    /// both stepped further: they must stay bitwise equal.
    private func checkResume(_ make: ([(String, Parameter)]) throws -> any Optimizer) throws {
        func parameters() -> [(String, Parameter)] {
            [("a.weight", Parameter(Tensor(shape: [2, 3], data: [1, -2, 3, 0.5, 0, -1]))),
             ("a.bias", Parameter(Tensor(shape: [2], data: [0.1, 0.2])))]
        }
        let first = parameters(), second = parameters()
        let a = try make(first), b = try make(second)
        func setGradients(_ ps: [(String, Parameter)], _ step: Int) {
            for (i, (_, p)) in ps.enumerated() {
                for j in p.grad.data.indices { p.grad.data[j] = Float(sin(Double(step * 7 + i * 3 + j))) }
            }
        }
        for step in 0..<3 { setGradients(first, step); a.step() }
        for ((_, p), (_, q)) in zip(first, second) { q.value = p.value }
        try b.restore(a.state)
        #expect(b.state == a.state)
        for step in 3..<6 {
            setGradients(first, step); a.step()
            setGradients(second, step); b.step()
        }
        for ((_, p), (_, q)) in zip(first, second) { #expect(p.value == q.value) }
    }

    @Test func sgdStateResumesExactly() throws {
        try checkResume { try SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3) }
    }

    @Test func adamStateResumesExactly() throws {
        try checkResume { try Adam(parameters: $0, learningRate: 0.01, weightDecay: 1e-3) }
    }

    @Test func restoringAnotherKindOrShapeIsRefused() throws {
        let p = Parameter(Tensor(shape: [2], data: [1, 2]))
        let sgd = try SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.9)
        let adam = try Adam(parameters: [("w", p)])
        p.grad.data = [1, 1]
        adam.step()
        let wrongKind = #expect(throws: StageError.self) { try sgd.restore(adam.state) }
        #expect(wrongKind?.code == .dataErr)
        #expect(wrongKind?.message.contains("adam") == true)

        let badShape = OptimizerState(kind: "sgd", steps: 1,
                                      buffers: ["w": ["momentum_buffer": Tensor(shape: [3], repeating: 0)]])
        let shapeError = #expect(throws: StageError.self) { try sgd.restore(badShape) }
        #expect(shapeError?.message.contains("w/momentum_buffer has shape [3]") == true)
        #expect(shapeError?.message.contains("[2]") == true)
    }

    @Test func settingsPyTorchRefusesAreUsageErrors() {
        let p = Parameter(Tensor(shape: [1], data: [1]))
        let nesterov = #expect(throws: StageError.self) {
            try SGD(parameters: [("w", p)], learningRate: 0.1, nesterov: true)
        }
        #expect(nesterov?.code == .usage)
        let betas = #expect(throws: StageError.self) { try Adam(parameters: [("w", p)], beta1: 1) }
        #expect(betas?.code == .usage)
    }
}
