import Datasets
import Foundation
import HDF5
import KDCore
import NeuralNet

/// One resumable training run in a run folder — the loop behind `kd train` and `kd distill` —
/// with the stage contract's guarantees: a checkpoint after every epoch, resume from the newest
/// valid one after any failure with a final model bit-identical to an unbroken run (same thread
/// count), refusal of changed settings, and a frozen `model.h5` with its input normalization and
/// provenance at the end. What is optimized comes from the `Objective`: its loss terms.
///
/// Why resume is exact: every random draw (holdout, epoch order, augmentation, dropped loss
/// terms, dropout masks) comes from generators whose state the checkpoint stores, the learning
/// rate is a pure function of the step, and the engine's arithmetic is deterministic for a
/// fixed thread count.
public struct TrainingRun {
    public var stage: String
    public var architecture: Architecture
    public var store: DataStore
    public var folder: RunDirectory
    public var recipe: Recipe
    public var objective: Objective
    public var restart = false
    /// Checkpoints kept (the newest); older ones are removed after each epoch.
    public var keepCheckpoints = 2
    /// Sets the starting weights (an ensemble starts from its students and the teacher's head);
    /// nil: PyTorch's initialization from the recipe's seed.
    public var initialize: ((Model) throws -> Void)?
    /// Train the head only, with the trunk frozen in inference mode (its BatchNorm statistics
    /// untouched) — an ensemble's default fine-tuning.
    public var frozenTrunk = false
    /// The input normalization to use; nil: measured on the training images.
    public var normalization: InputNormalization?
    /// Attributes the finished model file carries beyond the run's own.
    public var describeModel: ((H5File) throws -> Void)?

    /// `architecture` must already take the store's images.
    public init(stage: String, architecture: Architecture, store: DataStore, runPath: String,
                recipe: Recipe, objective: Objective) {
        self.stage = stage
        self.architecture = architecture
        self.store = store
        self.folder = RunDirectory(runPath)
        self.recipe = recipe
        self.objective = objective
    }

    /// What a finished (or already complete) run reports.
    public struct Outcome {
        public var modelPath: String
        public var last: EpochMetrics?
        public var alreadyComplete: Bool
    }

    public func run() throws -> Outcome {
        try recipe.validate()
        let dataSHA = try FileDigest.sha256(path: store.path)
        let settings = RunSettings(stage: stage, architecture: architecture.jsonText, dataSHA256: dataSHA,
                                   recipe: recipe, objective: objective.settings)
        try folder.create()
        try folder.lock()
        folder.removeLeftovers()
        if try prepareSettings(settings) {
            return Outcome(modelPath: folder.model, last: nil, alreadyComplete: true)
        }

        // Data: the training split (limited, minus the seeded holdout) and the test split.
        let all = try ImageSet.load(store, split: "train", limit: recipe.limit)
        guard recipe.valSplit < all.count - 1 else {
            throw StageError.usage("--val-split \(recipe.valSplit) leaves no training images (the split has \(all.count))")
        }
        var holdoutRNG = RandomState(seed: recipe.seed &+ 1)
        let order = shuffled(Array(0..<all.count), &holdoutRNG)
        let train = recipe.valSplit > 0 ? all.subset(order.dropFirst(recipe.valSplit).sorted()) : all
        let validation = recipe.valSplit > 0 ? all.subset(order.prefix(recipe.valSplit).sorted()) : nil
        let test = store.splitNames.contains("test") ? try ImageSet.load(store, split: "test") : nil
        let normalization = self.normalization ?? train.pixels.withUnsafeBufferPointer {
            InputNormalization.measure($0, shape: store.imageShape)
        }

        // State: fresh, or the newest checkpoint that loads.
        let model = try freshModel()
        let optimizer = try recipe.makeOptimizer(trainable(model))
        var rng = RandomState(seed: recipe.seed &+ 2)
        var startEpoch = 1
        var checkpointRow: String?
        if let resumed = try resume(into: model, optimizer: optimizer) {
            rng.words = resumed.rng
            startEpoch = resumed.epoch + 1
            checkpointRow = resumed.metricsRow
            Console.error("resuming \(folder.root) after epoch \(resumed.epoch) of \(recipe.epochs)\n")
        }
        var metrics = MetricsFile(path: folder.metrics, header: EpochMetrics.header(terms: objective.termNames),
                                  resumingAt: startEpoch - 1, checkpointRow: checkpointRow)

        let schedule = recipe.learningRateSchedule(stepsPerEpoch: recipe.stepsPerEpoch(images: train.count))
        var last: EpochMetrics?
        for epoch in startEpoch..<(recipe.epochs + 1) {
            var row = try trainEpoch(epoch, model: model, optimizer: optimizer, schedule: schedule, rng: &rng,
                                     data: train, normalization: normalization)
            if let validation {
                (row.validationLoss, row.validationAccuracy, _) = try objective.measure(model, on: validation,
                                                                                          normalization: normalization)
            }
            if let test {
                let measured = try objective.measure(model, on: test, normalization: normalization)
                (row.testLoss, row.testAccuracy) = (measured.loss, measured.accuracy)
                row.testTerms = measured.terms.map { Optional($0) }
            }
            let rngState = rng.words
            try ModelFile.save(model, to: folder.checkpoint(epoch: epoch), kind: .checkpoint, optimizer: optimizer) { file in
                try file.setAttribute("epoch", epoch)
                try file.setAttribute("rng_state", rngState.map { Int(bitPattern: UInt($0)) })
                try file.setAttribute("metrics_row", row.csvRow)
                try file.setAttribute("settings", settings.jsonText)
                FaultPoint.pass("checkpoint")
            }
            try metrics.append(row.csvRow)
            folder.pruneCheckpoints(keep: keepCheckpoints)
            Console.error(describe(row) + "\n")
            last = row
        }
        if last == nil {   // every epoch was done before the model file was written
            last = metrics.rows.last.flatMap { EpochMetrics(csvRow: $0) }
        }

        let final = last
        try ModelFile.save(model, to: folder.model, kind: .model) { file in
            try normalization.write(to: file)
            try objective.describe(file)
            try describeModel?(file)
            try file.setAttribute("data", store.path)
            try file.setAttribute("data_sha256", dataSHA)
            try file.setAttribute("recipe", recipe.jsonText)
            try file.setAttribute("seed", Int(bitPattern: UInt(recipe.seed)))
            try file.setAttribute("epochs", recipe.epochs)
            if let v = final?.testAccuracy { try file.setAttribute("test_accuracy", v) }
            if let v = final?.validationAccuracy { try file.setAttribute("val_accuracy", v) }
            if let v = final?.testLoss { try file.setAttribute("test_loss", v) }
            if let v = final?.trainLoss { try file.setAttribute("train_loss", v) }
        }
        return Outcome(modelPath: folder.model, last: final, alreadyComplete: false)
    }

    /// Records the settings of a new run, or checks them against an existing one. Returns true
    /// when the run is already complete.
    private func prepareSettings(_ settings: RunSettings) throws -> Bool {
        let fm = FileManager.default
        if restart {
            try folder.clear()
        } else if let stored = try RunSettings.read(path: folder.settings) {
            let changes = settings.differences(from: stored)
            guard changes.isEmpty else {
                throw StageError.usage("\(folder.root) holds a run with other settings (\(changes.joined(separator: "; "))); "
                                       + "run with --restart to discard it and start over, or choose another --out")
            }
            if fm.fileExists(atPath: folder.model) {
                Console.error("\(folder.model) is already complete; nothing to do\n")
                return true
            }
            return false
        } else if !folder.checkpointEpochs().isEmpty || fm.fileExists(atPath: folder.model) {
            throw StageError.usage("\(folder.root) holds checkpoints or a model but no run.json; "
                                   + "run with --restart to discard them and start over")
        }
        try RunDirectory.writeAtomically(settings.jsonText, to: folder.settings)
        return false
    }

    private struct Resumed {
        var epoch: Int
        var rng: [UInt64]
        var metricsRow: String?
    }

    /// Loads the newest checkpoint that reads back whole; warns about and skips broken ones.
    private func resume(into model: Model, optimizer: any Optimizer) throws -> Resumed? {
        for epoch in folder.checkpointEpochs() {
            let path = folder.checkpoint(epoch: epoch)
            do {
                let file = try H5File.open(path)
                guard try file.intAttribute("epoch") == epoch,
                      let words = try file.intArrayAttribute("rng_state"), words.count == 4 else {
                    throw StageError.badData("\(path) lacks its epoch or rng_state attribute")
                }
                guard epoch <= recipe.epochs else { throw StageError.badData("\(path) is past the last epoch") }
                try ModelFile.load(into: model, from: file)
                guard let state = try ModelFile.optimizerState(in: file) else {
                    throw StageError.badData("\(path) holds no optimizer state")
                }
                try optimizer.restore(state)
                return Resumed(epoch: epoch, rng: words.map { UInt64(UInt(bitPattern: $0)) },
                               metricsRow: try file.stringAttribute("metrics_row"))
            } catch let error as StageError {
                Console.warn("skipping checkpoint \(path): \(error.message)")
                // A partly loaded model must not leak into the next attempt: back to the start.
                let fresh = try freshModel()
                for ((_, a), (_, b)) in zip(model.stateDict, fresh.stateDict) { a.value = b.value }
                try optimizer.restore(try recipe.makeOptimizer(trainable(fresh)).state)
            }
        }
        return nil
    }

    /// The model before any training: initialized from the seed, then given its starting weights.
    private func freshModel() throws -> Model {
        let model = try Model(architecture, seed: recipe.seed)
        try initialize?(model)
        return model
    }

    /// What the optimizer moves: everything, or the head alone when the trunk is frozen.
    private func trainable(_ model: Model) -> [(String, Parameter)] {
        guard frozenTrunk, let name = architecture.head?.name else { return model.namedParameters }
        return model.namedParameters.filter { $0.0.hasPrefix(name + ".") }
    }

    /// The outputs the objective reads, from a training-mode forward — of the head only, over
    /// an inference-mode trunk, when the trunk is frozen.
    private func trainingOutputs(_ model: Model, _ batch: Tensor) -> [String: Tensor] {
        guard frozenTrunk, let head = model.head else { return objective.outputs(of: model, batch, mode: .training) }
        precondition(objective.taps.isEmpty, "a frozen trunk gives no taps to train")
        return [Objective.output: head.forward(model.trunk.forward(batch, mode: .inference), mode: .training)]
    }

    /// Backward from the gradients of the outputs the objective read (zero for the output when
    /// only taps were read).
    private func trainingBackward(_ model: Model, batch: Int, _ gradients: [String: Tensor]) {
        var taps = gradients
        let output = taps.removeValue(forKey: Objective.output) ?? Tensor(shape: [batch, model.outputWidth])
        if frozenTrunk, let head = model.head { _ = head.backward(output) } else { _ = model.backward(output, taps: taps) }
    }

    /// One pass over the training images in an order drawn from `rng`, each step at its rate of
    /// `schedule`. The metrics carry the rate of the epoch's last step, the mean loss and the
    /// mean of each term over the steps it took part in.
    private func trainEpoch(_ epoch: Int, model: Model, optimizer: any Optimizer, schedule: LearningRateSchedule,
                            rng: inout RandomState, data: ImageSet,
                            normalization: InputNormalization) throws -> EpochMetrics {
        let started = Date()
        let order = shuffled(Array(0..<data.count), &rng)
        for dropout in model.dropouts { dropout.rng = RandomState(seed: rng.next()) }
        let batchSize = recipe.batchSize
        let steps = recipe.stepsPerEpoch(images: order.count)
        let used = min(order.count, steps * batchSize)
        let progress = ProgressLine()
        var batch = Tensor(shape: [0])
        var lossSum = 0.0, correct = 0, seen = 0
        var termSums = [Double](repeating: 0, count: objective.terms.count), termSeen = termSums
        for step in 0..<steps {
            let rows = order[step * batchSize..<min((step + 1) * batchSize, used)]
            let plan = objective.plan(rows: rows, set: data, rng: &rng)
            data.fill(&batch, indices: rows, normalization: normalization, augmentations: plan.crops)
            let outputs = trainingOutputs(model, batch)
            let (loss, values, gradients) = try objective.evaluate(outputs, batch: BatchRows(set: data, rows: rows, views: plan.views),
                                                                   active: plan.active)
            guard loss.isFinite else {
                let good = epoch > 1 ? "the last good checkpoint is \(folder.checkpoint(epoch: epoch - 1))"
                                     : "no checkpoint was written yet"
                throw StageError.badData("training diverged at epoch \(epoch), step \(step + 1): the loss is \(loss); "
                                         + "\(good) and nothing was overwritten. Lower the learning rate and run again "
                                         + "with --restart")
            }
            optimizer.zeroGrad()
            optimizer.learningRate = schedule.rate(at: (epoch - 1) * steps + step)
            trainingBackward(model, batch: rows.count, gradients)
            optimizer.step()
            lossSum += Double(loss) * Double(rows.count)
            for (i, value) in values.enumerated() {
                guard let value else { continue }
                termSums[i] += Double(value) * Double(rows.count)
                termSeen[i] += Double(rows.count)
            }
            if objective.classifies { correct += objective.countCorrect(outputs[Objective.output]!, set: data, rows: rows) }
            seen += rows.count
            let elapsed = Date().timeIntervalSince(started)
            let accuracy = objective.classifies ? String(format: "  acc %.1f%%", 100 * Double(correct) / Double(seen)) : ""
            let terms = objective.terms.count < 2 ? "" : " (" + objective.termNames.indices.map {
                String(format: "%@ %.4f", objective.termNames[$0], termSums[$0] / max(termSeen[$0], 1))
            }.joined(separator: ", ") + ")"
            progress.update(String(format: "epoch %d/%d  step %d/%d  %.0f img/s  loss %.4f%@%@  ETA %@",
                                   epoch, recipe.epochs, step + 1, steps, Double(seen) / elapsed,
                                   lossSum / Double(seen), terms, accuracy,
                                   ProgressLine.clock(elapsed / Double(step + 1) * Double(steps - step - 1))))
        }
        progress.clear()
        let seconds = Date().timeIntervalSince(started)
        var metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)),
                                   trainAccuracy: objective.classifies ? Double(correct) / Double(max(seen, 1)) : nil,
                                   learningRate: optimizer.learningRate,
                                   imagesPerSecond: Double(seen) / seconds, seconds: seconds)
        metrics.trainTerms = zip(termSums, termSeen).map { $1 > 0 ? $0 / $1 : nil }
        metrics.testTerms = termSums.map { _ in nil }
        return metrics
    }

    private func describe(_ m: EpochMetrics) -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
        func num(_ v: Double?) -> String { v.map { String(format: "%.5g", $0) } ?? "-" }
        let measures = objective.classifies
            ? "train acc \(pct(m.trainAccuracy)), val acc \(pct(m.validationAccuracy)), test acc \(pct(m.testAccuracy))"
            : "val loss \(num(m.validationLoss)), test loss \(num(m.testLoss))"
        return String(format: "epoch %d/%d: loss %.5g, %@, lr %.4g, %.0f img/s, %.1f s",
                      m.epoch, recipe.epochs, m.trainLoss, measures, m.learningRate, m.imagesPerSecond, m.seconds)
    }
}

/// Fisher–Yates with the given generator.
func shuffled(_ items: [Int], _ rng: inout RandomState) -> [Int] {
    var items = items
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        items.swapAt(i, rng.nextInt(below: i + 1))
    }
    return items
}
