import Foundation
import KDCore

/// Adam with bias correction, following PyTorch's `torch.optim.Adam` (weight decay as an L2
/// term added to the gradient, not AdamW's decoupled decay). At step t, for each parameter p:
///
///     g ← g + weight_decay · p
///     m ← m + (1 − β₁) · (g − m)              (PyTorch's lerp)
///     v ← β₂ · v + (1 − β₂) · g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// The bias corrections are computed in Double, as Python does. Cost: a few passes over the
/// parameters per step, split over `ComputeThreads`; two buffers as large as the parameters.
public final class Adam: Optimizer {
    public let parameters: [(String, Parameter)]
    public var learningRate: Double
    public let beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double

    /// First and second moment estimates per parameter (PyTorch's `exp_avg`, `exp_avg_sq`).
    private var m: [[Float]]
    private var v: [[Float]]
    private var steps = 0

    /// Throws `StageError` 64 for settings PyTorch refuses: a negative rate, ε or weight
    /// decay, or a β outside [0, 1).
    public init(parameters: [(String, Parameter)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) throws {
        guard learningRate >= 0 else { throw StageError.usage("Adam: learning rate \(learningRate) is negative") }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw StageError.usage("Adam: betas must be in [0, 1), got \(beta1), \(beta2)")
        }
        guard epsilon >= 0 else { throw StageError.usage("Adam: epsilon \(epsilon) is negative") }
        guard weightDecay >= 0 else { throw StageError.usage("Adam: weight decay \(weightDecay) is negative") }
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        m = parameters.map { [Float](repeating: 0, count: $0.1.value.count) }
        v = m
    }

    public func step() {
        steps += 1
        let t = Double(steps)
        let stepSize = Float(learningRate / (1 - pow(beta1, t)))
        let correction2Root = Float((1 - pow(beta2, t)).squareRoot())
        let weight1 = Float(1 - beta1), b2 = Float(beta2), c2 = Float(1 - beta2)
        let eps = Float(epsilon), wd = Float(weightDecay)
        for (index, (_, p)) in parameters.enumerated() {
            p.value.data.withUnsafeMutableBufferPointer { w in
            p.grad.data.withUnsafeBufferPointer { g in
            m[index].withUnsafeMutableBufferPointer { m in
            v[index].withUnsafeMutableBufferPointer { v in
                ComputeThreads.parallelFor(w.count, grain: 1 << 15) { range in
                    for i in range {
                        let d = wd == 0 ? g[i] : g[i] + wd * w[i]
                        m[i] = lerp(m[i], d, weight1)
                        v[i] = v[i] * b2 + c2 * d * d
                        let denom = v[i].squareRoot() / correction2Root + eps
                        w[i] += -stepSize * (m[i] / denom)
                    }
                }
            }}}}
        }
    }

    /// PyTorch's CPU lerp, which picks the form with the smaller rounding error by weight.
    @inline(__always)
    private func lerp(_ a: Float, _ b: Float, _ weight: Float) -> Float {
        abs(weight) < 0.5 ? a + weight * (b - a) : b - (b - a) * (1 - weight)
    }

    public var state: OptimizerState {
        guard steps > 0 else { return OptimizerState(kind: "adam", steps: 0, buffers: [:]) }
        var buffers: [String: [String: Tensor]] = [:]
        for (index, (name, p)) in parameters.enumerated() {
            buffers[name] = ["exp_avg": Tensor(shape: p.value.shape, data: m[index]),
                             "exp_avg_sq": Tensor(shape: p.value.shape, data: v[index])]
        }
        return OptimizerState(kind: "adam", steps: steps, buffers: buffers)
    }

    public func restore(_ state: OptimizerState) throws {
        try state.check(kind: "adam", parameters: parameters)
        var restoredM = m, restoredV = v
        for (index, (name, p)) in parameters.enumerated() {
            let zeros = [Float](repeating: 0, count: p.value.count)
            restoredM[index] = try state.tensor("exp_avg", of: name, shape: p.value.shape)?.data ?? zeros
            restoredV[index] = try state.tensor("exp_avg_sq", of: name, shape: p.value.shape)?.data ?? zeros
        }
        m = restoredM; v = restoredV
        steps = state.steps
    }
}
