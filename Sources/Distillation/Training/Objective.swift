import Datasets
import HDF5
import NeuralNet

/// What a training run optimizes: a weighted sum of named loss terms (`LossTerm`) over the
/// outputs and taps of its trainees, with how a batch is augmented and, for DGKD's stochastic
/// teaching, how many of the droppable terms each step leaves out. `kd train` is `ce`; a
/// Teacher-Class student is `mse`; Hinton KD, TAKD and DGKD are `ce` plus `kd/<teacher>` terms;
/// CTKD is `ce` for each of two trainees, `l2/scratch` and `at/<tap>` terms. A term's gradient
/// goes to the trainee whose output it names (`output` the first's, `scratch/output` the
/// scratch teacher's); what a term reads without returning a gradient is detached.
/// `TrainingRun` keeps the loop, checkpoints and resume the same for all of them.
/// Cost: that of the terms; planning a step draws a few random numbers.
public struct Objective {
    /// The name under which terms read the network's output.
    public static let output = "output"

    public struct WeightedTerm {
        public var term: any LossTerm
        public var weight: Float
        /// Whether stochastic teaching may leave the term out of a step.
        public var droppable: Bool

        public init(_ term: any LossTerm, weight: Float = 1, droppable: Bool = false) {
            self.term = term
            self.weight = weight
            self.droppable = droppable
        }
    }

    /// How the images of a training batch are augmented.
    public enum Augmentation {
        case none
        /// A random crop with zero padding and a random horizontal flip per image.
        case cropFlip
        /// One of the views stored with the targets, chosen per image: its crop and flip are
        /// applied and every term reads its targets for that view. `crops` is image-major [N, V].
        case storedViews(count: Int, crops: [CropFlip])
    }

    public var terms: [WeightedTerm]
    /// Whether the output is class scores (accuracy is then measured beside the loss).
    public var classifies: Bool
    public var augmentation: Augmentation
    /// Droppable terms each step leaves out, drawn uniformly from the run's generator.
    public var dropPerStep: Int
    /// What defines the objective beyond the recipe (targets, chunk, temperature), recorded in
    /// run.json so a changed objective is refused like a changed recipe.
    public var settings: [String: String]
    /// Writes the attributes the finished model file carries beyond weights and provenance.
    public var describe: (H5File) throws -> Void

    public init(terms: [WeightedTerm], classifies: Bool, augmentation: Augmentation = .none, dropPerStep: Int = 0,
                settings: [String: String] = [:], describe: @escaping (H5File) throws -> Void = { _ in }) {
        self.terms = terms
        self.classifies = classifies
        self.augmentation = augmentation
        self.dropPerStep = dropPerStep
        self.settings = settings
        self.describe = describe
    }

    /// `kd train`'s objective: cross-entropy against the labels, with crop and flip on request.
    public static func classification(classes: [String], augment: Bool, settings: [String: String] = [:]) -> Objective {
        Objective(terms: [WeightedTerm(CrossEntropyTerm())], classifies: true, augmentation: augment ? .cropFlip : .none,
                  settings: settings) { file in try file.setAttribute("classes", classes) }
    }

    public var termNames: [String] { terms.map(\.term.name) }

    /// The taps the terms read from a trainee (nil: the first), besides its output.
    func taps(of trainee: String? = nil) -> [String] {
        var seen: [String] = []
        for key in terms.flatMap(\.term.inputs) {
            let (owner, name) = Trainee.owner(of: key)
            if owner == trainee, name != Self.output, !seen.contains(name) { seen.append(name) }
        }
        return seen
    }

    /// One training step's random choices: the crop and flip of each image (nil: none), the
    /// stored view each shows (nil: not a stored view) and which terms take part.
    public struct StepPlan {
        public var crops: [CropFlip]?
        public var views: [Int]?
        public var active: [Bool]
    }

    /// Draws the step's augmentation, then the terms it leaves out, from `rng` — in that order,
    /// so a run that drops nothing draws exactly what a run without dropping draws.
    public func plan(rows: ArraySlice<Int>, set: ImageSet, rng: inout RandomState) -> StepPlan {
        var plan = StepPlan(crops: nil, views: nil, active: terms.map { _ in true })
        switch augmentation {
        case .none:
            break
        case .cropFlip:
            plan.crops = rows.map { _ in CropFlip.random(pad: Recipe.cropPadding, &rng) }
        case .storedViews(let count, let crops):
            let chosen = rows.map { _ in rng.nextInt(below: count) }
            plan.crops = zip(rows, chosen).map { crops[set.sourceIndices[$0] * count + $1] }
            plan.views = chosen
        }
        if dropPerStep > 0 {
            var candidates = terms.indices.filter { terms[$0].droppable }
            for i in 0..<dropPerStep {   // a partial Fisher–Yates shuffle: K distinct, uniformly
                candidates.swapAt(i, i + rng.nextInt(below: candidates.count - i))
                plan.active[candidates[i]] = false
            }
        }
        return plan
    }

    /// The weighted sum of the active terms over `outputs`, each term's own value (nil when
    /// left out) and the gradient of the sum with respect to each output read.
    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows, active: [Bool]? = nil) throws
        -> (loss: Float, values: [Float?], gradients: [String: Tensor]) {
        var loss: Float = 0
        var values: [Float?] = []
        var gradients: [String: Tensor] = [:]
        for (index, weighted) in terms.enumerated() {
            guard active?[index] ?? true else { values.append(nil); continue }
            let (value, grads) = try weighted.term.evaluate(outputs, batch: batch)
            values.append(value)
            loss += weighted.weight * value
            for (name, grad) in grads {
                var scaled = grad
                if weighted.weight != 1 { scaled.data.withUnsafeMutableBufferPointer { g in
                    for i in g.indices { g[i] *= weighted.weight }
                } }
                if gradients[name] == nil { gradients[name] = scaled } else { gradients[name]!.add(scaled) }
            }
        }
        return (loss, values, gradients)
    }

    /// The outputs the terms read from a trainee (nil: the first), by a forward pass of its
    /// `model` in `mode`, under the names the terms read them by.
    public func outputs(of model: Model, _ batch: Tensor, mode: Mode, trainee: String? = nil) -> [String: Tensor] {
        let (output, tapped) = model.forward(batch, mode: mode, taps: taps(of: trainee))
        var named = [Trainee.key(Self.output, trainee: trainee): output]
        for (tap, value) in tapped { named[Trainee.key(tap, trainee: trainee)] = value }
        return named
    }

    /// Mean loss, the accuracy of each trainee (classifiers) and the mean value of each term,
    /// the `models` (the first trainee's first, each with its name) in inference mode over
    /// `set`, every term active.
    func measure(_ models: [(trainee: String?, model: Model)], on set: ImageSet, normalization: InputNormalization,
                 batchSize: Int = 256) throws -> (loss: Double, accuracies: [Double]?, terms: [Double]) {
        var batch = Tensor(shape: [0])
        var lossSum = 0.0
        var correct = [Int](repeating: 0, count: models.count)
        var termSums = [Double](repeating: 0, count: terms.count)
        var start = 0
        while start < set.count {
            let rows = Array(start..<min(start + batchSize, set.count))[...]
            set.fill(&batch, indices: rows, normalization: normalization)
            var outputs: [String: Tensor] = [:]
            for (trainee, model) in models {
                outputs.merge(self.outputs(of: model, batch, mode: .prediction, trainee: trainee)) { a, _ in a }
            }
            let step = try evaluate(outputs, batch: BatchRows(set: set, rows: rows, views: nil))
            lossSum += Double(step.loss) * Double(rows.count)
            for (i, value) in step.values.enumerated() { termSums[i] += Double(value ?? 0) * Double(rows.count) }
            if classifies {
                for (k, (trainee, _)) in models.enumerated() {
                    correct[k] += countCorrect(outputs[Trainee.key(Self.output, trainee: trainee)]!, set: set, rows: rows)
                }
            }
            start += rows.count
        }
        let n = Double(max(set.count, 1))
        return (lossSum / n, classifies ? correct.map { Double($0) / n } : nil, termSums.map { $0 / n })
    }

    func countCorrect(_ outputs: Tensor, set: ImageSet, rows: ArraySlice<Int>) -> Int {
        zip(argmaxRows(outputs), rows).reduce(0) { $0 + ($1.0 == set.labels[$1.1] ? 1 : 0) }
    }
}

extension CropFlip {
    /// A uniform draw: shifts in [−pad, pad] and a fair coin for the flip.
    public static func random(pad: Int, _ rng: inout RandomState) -> CropFlip {
        CropFlip(dx: rng.nextInt(below: 2 * pad + 1) - pad, dy: rng.nextInt(below: 2 * pad + 1) - pad,
                 flip: rng.nextInt(below: 2) == 1)
    }
}
