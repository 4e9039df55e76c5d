import Foundation

/// The learning rate as a pure function of the time t (an epoch or a step index, counted from
/// 0 — whichever unit the caller chooses, used for every count below), so that a resumed run
/// computes the same rates as an unbroken one.
///
/// An optional linear warm-up comes first: for t < warmup the rate is base · (t+1)/(warmup+1),
/// rising towards the base. After it, the main shape runs on t' = t − warmup (PyTorch's
/// `SequentialLR` of `LinearLR` and the main scheduler):
/// - constant: base;
/// - step: base · γ^⌊t'/every⌋ (`StepLR`);
/// - cosine: η_min + (base − η_min)·(1 + cos(π·t'/T'))/2 with T' = total − warmup, and η_min
///   from t' = T' on (`CosineAnnealingLR`). Cost: a few floating-point operations.
public struct LearningRateSchedule: Equatable, Sendable, Codable {
    public enum Shape: Equatable, Sendable, Codable {
        case constant
        case step(every: Int, gamma: Double)
        case cosine(total: Int, minimum: Double)
    }

    public var base: Double
    public var shape: Shape
    public var warmup: Int

    public init(base: Double, shape: Shape = .constant, warmup: Int = 0) {
        precondition(warmup >= 0, "LearningRateSchedule: warm-up must not be negative")
        if case .step(let every, _) = shape { precondition(every > 0, "LearningRateSchedule: step size must be positive") }
        self.base = base
        self.shape = shape
        self.warmup = warmup
    }

    /// The rate at time `t` (≥ 0).
    public func rate(at t: Int) -> Double {
        if t < warmup { return base * Double(t + 1) / Double(warmup + 1) }
        let t = t - warmup
        switch shape {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * pow(gamma, Double(t / every))
        case .cosine(let total, let minimum):
            let length = total - warmup
            guard t < length else { return minimum }
            return minimum + (base - minimum) * (1 + cos(Double.pi * Double(t) / Double(length))) / 2
        }
    }
}
