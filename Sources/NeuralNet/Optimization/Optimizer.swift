import KDCore

/// What every optimizer offers the training loop: a step over the named parameters it was
/// made with (using their accumulated gradients at the current `learningRate`), clearing those
/// gradients, and its whole inner state as named tensors so a checkpoint can store it and a
/// resumed run continue exactly. Parameters are held by reference: the optimizer updates the
/// very arrays the layers compute with.
public protocol Optimizer: AnyObject {
    /// The parameters under their state_dict names, in state_dict order.
    var parameters: [(String, Parameter)] { get }

    /// The rate the next `step` uses; a schedule sets it before each step or epoch.
    var learningRate: Double { get set }

    /// Updates every parameter from its gradient.
    func step()

    /// The inner state (momentum buffers, moment estimates, step count).
    var state: OptimizerState { get }

    /// Restores a state taken from an optimizer of the same kind over the same parameters;
    /// throws `StageError` 65 naming what does not match.
    func restore(_ state: OptimizerState) throws
}

extension Optimizer {
    /// Sets every parameter's gradient to zero, before the next backward pass.
    public func zeroGrad() {
        for (_, p) in parameters { p.zeroGrad() }
    }
}

/// An optimizer's inner state in a form a file can hold: its kind ("sgd", "adam"), the number
/// of steps taken, and per parameter (by state_dict name) a few named tensors, PyTorch's names
/// for them (`momentum_buffer`, `exp_avg`, `exp_avg_sq`).
public struct OptimizerState: Equatable, Sendable {
    public var kind: String
    public var steps: Int
    public var buffers: [String: [String: Tensor]]

    public init(kind: String, steps: Int, buffers: [String: [String: Tensor]]) {
        self.kind = kind
        self.steps = steps
        self.buffers = buffers
    }

    /// The buffer `buffer` of parameter `name`, checked to have `shape`; nil when the state
    /// has none for it (an optimizer that has not stepped yet).
    func tensor(_ buffer: String, of name: String, shape: [Int]) throws -> Tensor? {
        guard let t = buffers[name]?[buffer] else { return nil }
        guard t.shape == shape else {
            throw StageError.badData("optimizer state \(name)/\(buffer) has shape \(t.shape), "
                                     + "but the parameter has shape \(shape)")
        }
        return t
    }

    /// Throws unless the state is of `expected` kind and names only known parameters.
    func check(kind expected: String, parameters: [(String, Parameter)]) throws {
        guard kind == expected else {
            throw StageError.badData("optimizer state is for \(kind), not \(expected)")
        }
        let known = Set(parameters.map(\.0))
        if let stray = buffers.keys.sorted().first(where: { !known.contains($0) }) {
            throw StageError.badData("optimizer state names parameter \(stray), which the model does not have")
        }
    }
}
