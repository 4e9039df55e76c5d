import Foundation
import KDCore

/// Throughput of one architecture on random inputs, measured the way its PyTorch twin
/// (`Benchmarks/torch_twin.py`) measures it, so the two can be compared side by side:
/// a training step is forward in training mode, the loss (cross-entropy against random labels
/// when the output has 10 values, MSE against random targets otherwise), backward and an SGD
/// update (lr 0.01, momentum 0.9, weight decay 5e-4); an inference step is one forward pass in
/// inference mode. Two warm-up steps, then steps until `seconds` have passed.
/// Cost: as many steps as fit in `seconds`, after the warm-up.
public enum Benchmark {
    public enum Mode: String, Sendable, CaseIterable {
        case train, infer
    }

    public struct Result: Sendable {
        public var name: String
        public var parameters: Int
        public var mode: Mode
        public var batch: Int
        public var steps: Int
        public var seconds: Double
        public var imagesPerSecond: Double { Double(steps * batch) / seconds }

        /// The twin's line, f"{name:8s} params={params:>10,d} {mode:5s} batch={batch:4d}
        /// {imgs_per_sec:9.1f} img/s".
        public var line: String {
            func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            func left(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
            return "\(left(name, 8)) params=\(right(ModelSummary.grouped(parameters), 10)) "
                + "\(left(mode.rawValue, 5)) batch=\(right(String(batch), 4)) "
                + "\(right(String(format: "%.1f", imagesPerSecond), 9)) img/s"
        }
    }

    /// Runs the benchmark on `threads` cores. Throws `StageError` 64 for a batch, duration or
    /// thread count that is not positive, 65 for an architecture that does not build.
    public static func run(_ architecture: Architecture, mode: Mode, batch: Int, seconds: Double,
                           threads: Int) throws -> Result {
        guard seconds > 0, seconds <= 86_400 else { throw StageError.usage("--seconds must be in (0, 86400], got \(seconds)") }
        let work = try Workload(architecture, batch: batch, threads: threads, training: mode == .train)
        func step() {
            switch mode {
            case .train: work.trainingStep { work.model.forward($0, mode: .training) } backward: { _ = work.model.backward($0, taps: [:], inputGradient: false) }
            case .infer: _ = work.model.forward(work.input, mode: .prediction)
            }
        }

        for _ in 0..<2 { step() }
        let clock = ContinuousClock()
        let start = clock.now
        var steps = 0
        var elapsed = Duration.zero
        while elapsed < .seconds(seconds) {
            step()
            steps += 1
            elapsed = clock.now - start
        }
        return Result(name: architecture.name, parameters: work.model.parameterCount, mode: mode, batch: batch,
                      steps: steps, seconds: elapsed.seconds)
    }

    /// A model on random inputs with the twin's loss and optimizer: what one benchmark step
    /// needs, shared by `run` and `LayerProfile`.
    struct Workload {
        let model: Model
        let input: Tensor
        private let labels: [Int]?
        private let targets: Tensor
        private let optimizer: SGD

        init(_ architecture: Architecture, batch: Int, threads: Int, training: Bool) throws {
            let least = training ? 2 : 1   // BatchNorm needs two images to train on
            guard batch >= least, batch <= Model.maxBatch else {
                throw StageError.usage("--batch must be in \(least)…\(Model.maxBatch)\(training ? " to train" : ""), got \(batch)")
            }
            try ComputeThreads.set(threads)
            model = try Model(architecture, seed: 0)
            var rng = RandomState(seed: 1)
            input = Tensor(shape: [batch] + architecture.input) { v in for i in v.indices { v[i] = rng.normal() } }
            let drawn = (0..<batch).map { _ in rng.nextInt(below: 10) }
            labels = model.outputWidth == 10 ? drawn : nil
            targets = Tensor(shape: [batch, model.outputWidth]) { v in for i in v.indices { v[i] = rng.normal() } }
            optimizer = try SGD(parameters: model.namedParameters, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        }

        /// One training step with the forward and backward passes given (the whole model, or
        /// layer by layer): zeroed gradients, forward, loss, backward, SGD update.
        func trainingStep(forward: (Tensor) -> Tensor, backward: (Tensor) -> Void) {
            optimizer.zeroGrad()
            let output = forward(input)
            backward(labels.map { softmaxCrossEntropy(logits: output, labels: $0).grad }
                     ?? meanSquaredError(prediction: output, target: targets).grad)
            optimizer.step()
        }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
