import Datasets
import Foundation
import HDF5
import KDCore
import NeuralNet

/// One resumable training run in a run folder — the loop behind `kd train` and `kd distill` —
/// with the stage contract's guarantees: a checkpoint after every epoch, resume from the newest
/// valid one after any failure with final models bit-identical to an unbroken run (same thread
/// count), refusal of changed settings, and frozen model files with their input normalization
/// and provenance at the end. On SIGTERM or SIGINT it finishes the current step, writes a
/// checkpoint inside the epoch and stops (`StopRequest`); run again, it takes the next step. It trains one or more named `Trainee`s on the same batches, each
/// with its own optimizer; what they optimize comes from the `Objective`: its loss terms.
///
/// Why resume is exact: every random draw (holdout, epoch order, augmentation, dropped loss
/// terms, dropout masks) comes from generators whose state the checkpoint stores, the learning
/// rate is a pure function of the step, and the engine's arithmetic is deterministic for a
/// fixed thread count.
public struct TrainingRun {
    public var stage: String
    /// The networks trained; the first is the run's result (`RUN/model.h5`).
    public var trainees: [Trainee]
    public var store: DataStore
    public var folder: RunDirectory
    public var recipe: Recipe
    public var objective: Objective
    public var restart = false
    /// Checkpoints kept (the newest); older ones are removed after each epoch.
    public var keepCheckpoints = 2
    /// The input normalization to use; nil: measured on the training images.
    public var normalization: InputNormalization?

    public init(stage: String, trainees: [Trainee], store: DataStore, runPath: String, recipe: Recipe,
                objective: Objective) {
        precondition(!trainees.isEmpty, "a run trains at least one network")
        self.stage = stage
        self.trainees = trainees
        self.store = store
        self.folder = RunDirectory(runPath)
        self.recipe = recipe
        self.objective = objective
    }

    /// A run of one network; `architecture` must already take the store's images.
    public init(stage: String, architecture: Architecture, store: DataStore, runPath: String,
                recipe: Recipe, objective: Objective) {
        self.init(stage: stage, trainees: [Trainee(name: "model", architecture: architecture)], store: store,
                  runPath: runPath, recipe: recipe, objective: objective)
    }

    /// What a finished (or already complete) run reports.
    public struct Outcome {
        /// The first trainee's model file.
        public var modelPath: String
        /// Every trainee's model file, in the run's order.
        public var modelPaths: [String]
        public var last: EpochMetrics?
        /// The test accuracy of each further trainee after the last epoch, where measured.
        public var otherAccuracies: [Double?]
        public var alreadyComplete: Bool
    }

    /// A trainee while the run trains it.
    private struct Live {
        var trainee: Trainee
        /// nil for the first trainee, whose outputs go by their bare names.
        var key: String?
        var model: Model
        var optimizer: any Optimizer
        var modelPath: String
    }

    public func run() throws -> Outcome {
        try recipe.validate()
        StopRequest.install()
        let dataSHA = try FileDigest.sha256(path: store.path)
        var objectiveSettings = objective.settings
        for trainee in trainees.dropFirst() { objectiveSettings["arch/\(trainee.name)"] = trainee.architecture.jsonText }
        let settings = RunSettings(stage: stage, architecture: trainees[0].architecture.jsonText, dataSHA256: dataSHA,
                                   recipe: recipe, objective: objectiveSettings)
        let others = trainees.dropFirst().map(\.name)
        let modelPaths = [folder.model] + others.map { folder.model(of: $0) }
        try folder.create()
        try folder.lock()
        folder.removeLeftovers(trainees: others)
        if try prepareSettings(settings) {
            return Outcome(modelPath: folder.model, modelPaths: modelPaths, last: nil,
                           otherAccuracies: others.map { _ in nil }, alreadyComplete: true)
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
        let lives = try trainees.enumerated().map { index, trainee in
            let model = try freshModel(trainee)
            return Live(trainee: trainee, key: index == 0 ? nil : trainee.name, model: model,
                        optimizer: try recipe.makeOptimizer(trainable(trainee, model)), modelPath: modelPaths[index])
        }
        let models = lives.map { (trainee: $0.key, model: $0.model) }
        let steps = recipe.stepsPerEpoch(images: train.count)
        var rng = RandomState(seed: recipe.seed &+ 2)
        var startEpoch = 1
        var checkpointRow: String?
        var inEpoch: EpochProgress?
        if let resumed = try resume(into: lives, steps: steps) {
            rng.words = resumed.rng
            startEpoch = resumed.progress == nil ? resumed.epoch + 1 : resumed.epoch
            checkpointRow = resumed.metricsRow
            inEpoch = resumed.progress
            let position = resumed.progress.map { "in epoch \(resumed.epoch) after step \($0.step) of \(steps)" }
                ?? "after epoch \(resumed.epoch) of \(recipe.epochs)"
            Console.error("resuming \(folder.root) \(position)\n")
        }
        // Named columns: each term (when there are several) and each further trainee's accuracy.
        let accuracyColumns = objective.classifies ? others.map { "accuracy/\($0)" } : []
        let columns = objective.terms.count < 2 && others.isEmpty ? [] : objective.termNames + accuracyColumns
        var metrics = MetricsFile(path: folder.metrics, header: EpochMetrics.header(columns: columns),
                                  resumingAt: startEpoch - 1, checkpointRow: checkpointRow)

        let schedule = recipe.learningRateSchedule(stepsPerEpoch: steps)
        var last: EpochMetrics?
        for epoch in startEpoch..<(recipe.epochs + 1) {
            let epochRNG = rng.words
            var progress = inEpoch ?? EpochProgress(trainees: lives.count, terms: objective.terms.count)
            inEpoch = nil
            guard var row = try trainEpoch(epoch, progress: &progress, lives: lives, schedule: schedule, rng: &rng,
                                           data: train, normalization: normalization, namedColumns: !columns.isEmpty)
            else {
                // Stopped by a signal: the epoch's starting generator, where it got, the last whole row.
                let position = RunDirectory.CheckpointPosition(epoch: epoch, step: progress.step)
                try saveCheckpoint(lives, at: position, rng: epochRNG, metricsRow: metrics.rows.last, settings: settings) {
                    try progress.write(to: $0)
                }
                throw StopRequest.stopped(StopRequest.pending ?? SIGTERM, saved: "\(folder.checkpoint(at: position)) holds "
                                          + "epoch \(epoch) up to step \(progress.step) of \(steps); run the same command "
                                          + "again to continue from there")
            }
            if let validation {
                let measured = try objective.measure(models, on: validation, normalization: normalization)
                (row.validationLoss, row.validationAccuracy) = (measured.loss, measured.accuracies?.first)
            }
            if let test {
                let measured = try objective.measure(models, on: test, normalization: normalization)
                (row.testLoss, row.testAccuracy) = (measured.loss, measured.accuracies?.first)
                if !columns.isEmpty {
                    row.testColumns = measured.terms.map { Optional($0) }
                        + (measured.accuracies?.dropFirst().map { Optional($0) } ?? [])
                }
            }
            try saveCheckpoint(lives, at: .init(epoch: epoch), rng: rng.words, metricsRow: row.csvRow, settings: settings)
            try metrics.append(row.csvRow)
            folder.pruneCheckpoints(keep: keepCheckpoints)
            Console.error(describe(row, others: others) + "\n")
            last = row
            if let signo = StopRequest.pending, epoch < recipe.epochs {
                throw StopRequest.stopped(signo, saved: "\(folder.checkpoint(epoch: epoch)) holds epoch \(epoch) of "
                                          + "\(recipe.epochs); run the same command again to continue from there")
            }
        }
        if last == nil {   // every epoch was done before the model files were written
            last = metrics.rows.last.flatMap { EpochMetrics(csvRow: $0) }
        }

        // The further trainees first: the first's model file marks the run complete.
        let final = last
        let otherAccuracies = others.indices.map { k in final.flatMap { otherTestAccuracy(k, in: $0) } }
        for (index, live) in lives.enumerated().reversed() {
            let accuracy = index == 0 ? final?.testAccuracy : otherAccuracies[index - 1]
            try Folder.create((live.modelPath as NSString).deletingLastPathComponent, for: "the model folder")
            try ModelFile.save(live.model, to: live.modelPath, kind: .model) { file in
                try normalization.write(to: file)
                try objective.describe(file)
                try live.trainee.describeModel?(file)
                if lives.count > 1 { try file.setAttribute("trainee", live.trainee.name) }
                try file.setAttribute("data", store.path)
                try file.setAttribute("data_sha256", dataSHA)
                try file.setAttribute("recipe", recipe.jsonText)
                try file.setAttribute("seed", Int(bitPattern: UInt(recipe.seed)))
                try file.setAttribute("epochs", recipe.epochs)
                if let v = accuracy { try file.setAttribute("test_accuracy", v) }
                guard index == 0 else { return }
                if let v = final?.validationAccuracy { try file.setAttribute("val_accuracy", v) }
                if let v = final?.testLoss { try file.setAttribute("test_loss", v) }
                if let v = final?.trainLoss { try file.setAttribute("train_loss", v) }
            }
            FaultPoint.pass("model")
        }
        return Outcome(modelPath: folder.model, modelPaths: modelPaths, last: final, otherAccuracies: otherAccuracies,
                       alreadyComplete: false)
    }

    /// Records the settings of a new run, or checks them against an existing one. Returns true
    /// when the run is already complete.
    private func prepareSettings(_ settings: RunSettings) throws -> Bool {
        let fm = FileManager.default
        if restart {
            try folder.clear(trainees: trainees.dropFirst().map(\.name))
        } else if let stored = try RunSettings.read(path: folder.settings) {
            let changes = settings.differences(from: stored)
            guard changes.isEmpty else {
                throw StageError.usage("\(folder.root) holds a run with other settings (\(changes.joined(separator: "; "))); "
                                       + "run with --restart to discard it and start over, or choose another --out")
            }
            if fm.fileExists(atPath: folder.model) {
                try verifyFinished()
                Console.error("\(folder.model) is already complete; nothing to do\n")
                return true
            }
            return false
        } else if !folder.checkpointPositions().isEmpty || fm.fileExists(atPath: folder.model) {
            throw StageError.usage("\(folder.root) holds checkpoints or a model but no run.json; "
                                   + "run with --restart to discard them and start over")
        }
        try RunDirectory.writeAtomically(settings.jsonText, to: folder.settings)
        return false
    }

    /// Writes the checkpoint at `position`: every trainee's network and optimizer, the run's
    /// generator (`rng_state`: where the next epoch — or, inside one, this epoch — starts), the
    /// metrics row of the last whole epoch and the settings; `extra` adds an epoch's progress.
    private func saveCheckpoint(_ lives: [Live], at position: RunDirectory.CheckpointPosition, rng: [UInt64],
                                metricsRow: String?, settings: RunSettings,
                                extra: (H5File) throws -> Void = { _ in }) throws {
        try ModelFile.save(lives[0].model, to: folder.checkpoint(at: position), kind: .checkpoint,
                           optimizer: lives[0].optimizer) { file in
            for live in lives.dropFirst() {
                let group = try file.root.createGroup("trainees/\(live.trainee.name)")
                try ModelFile.write(live.model, kind: .checkpoint, into: group)
                try ModelFile.write(live.optimizer.state, into: group)
            }
            try file.setAttribute("epoch", position.epoch)
            try file.setAttribute("rng_state", EpochProgress.encode(rng))
            if let metricsRow { try file.setAttribute("metrics_row", metricsRow) }
            try file.setAttribute("settings", settings.jsonText)
            try extra(file)
            FaultPoint.pass("checkpoint")
        }
    }

    /// Checks that the finished model files read back whole, with every trainee's weights, before
    /// the run is reported complete: a file damaged after the run is refused (65), never trusted.
    private func verifyFinished() throws {
        for (index, trainee) in trainees.enumerated() {
            let path = index == 0 ? folder.model : folder.model(of: trainee.name)
            do {
                try ModelFile.load(into: try Model(trainee.architecture), path: path)
            } catch let error as StageError {
                throw StageError.badData("\(path) exists but does not read back whole (\(error.message)); it was damaged "
                                         + "after the run finished. Run again with --restart to train anew")
            }
        }
    }

    private struct Resumed {
        var epoch: Int
        var rng: [UInt64]
        var metricsRow: String?
        /// Where the epoch had got, for a checkpoint inside one.
        var progress: EpochProgress?
    }

    /// Loads the newest checkpoint that reads back whole — every trainee's network and
    /// optimizer, and an epoch's progress when it was written inside one; warns about and
    /// skips broken ones.
    private func resume(into lives: [Live], steps: Int) throws -> Resumed? {
        for position in folder.checkpointPositions() {
            let (epoch, path) = (position.epoch, folder.checkpoint(at: position))
            do {
                let file = try H5File.open(path)
                guard try file.intAttribute("epoch") == epoch,
                      let raw = try file.intArrayAttribute("rng_state"), let states = EpochProgress.decode(raw),
                      states.count == 1, let words = states.first
                else {
                    throw StageError.badData("\(path) lacks its epoch or a valid rng_state attribute")
                }
                guard epoch <= recipe.epochs else { throw StageError.badData("\(path) is past the last epoch") }
                let dropouts = lives.reduce(0) { $0 + $1.model.dropouts.count }
                let progress = try EpochProgress.read(from: file, path: path, trainees: lives.count,
                                                      terms: objective.terms.count, dropouts: dropouts, steps: steps)
                guard (progress?.step) == position.step else {
                    throw StageError.badData("\(path) holds step \(progress?.step ?? 0), not the one its name gives")
                }
                for live in lives {
                    let group = try live.key.map { try file.root.openGroup("trainees/\($0)") } ?? file.root
                    try ModelFile.load(into: live.model, from: group)
                    guard let state = try ModelFile.optimizerState(in: group) else {
                        throw StageError.badData("\(path) holds no optimizer state for \(live.trainee.name)")
                    }
                    try live.optimizer.restore(state)
                }
                return Resumed(epoch: epoch, rng: words, metricsRow: try file.stringAttribute("metrics_row"),
                               progress: progress)
            } catch let error as StageError {
                Console.warn("skipping checkpoint \(path): \(error.message)")
                // A partly loaded state must not leak into the next attempt: back to the start.
                for live in lives {
                    let fresh = try freshModel(live.trainee)
                    for ((_, a), (_, b)) in zip(live.model.stateDict, fresh.stateDict) { a.value = b.value }
                    try live.optimizer.restore(try recipe.makeOptimizer(trainable(live.trainee, fresh)).state)
                }
            }
        }
        return nil
    }

    /// A network before any training: initialized from the seed, then given its starting weights.
    private func freshModel(_ trainee: Trainee) throws -> Model {
        let model = try Model(trainee.architecture, seed: recipe.seed)
        try trainee.initialize?(model)
        return model
    }

    /// What the optimizer moves: everything, or the head alone when the trunk is frozen.
    private func trainable(_ trainee: Trainee, _ model: Model) -> [(String, Parameter)] {
        guard trainee.frozenTrunk, let name = trainee.architecture.head?.name else { return model.namedParameters }
        return model.namedParameters.filter { $0.0.hasPrefix(name + ".") }
    }

    /// The outputs the objective reads from a trainee, by a training-mode forward — of the head
    /// only, over an inference-mode trunk, when the trunk is frozen.
    private func trainingOutputs(_ live: Live, _ batch: Tensor) -> [String: Tensor] {
        guard live.trainee.frozenTrunk, let head = live.model.head else {
            return objective.outputs(of: live.model, batch, mode: .training, trainee: live.key)
        }
        precondition(objective.taps(of: live.key).isEmpty, "a frozen trunk gives no taps to train")
        return [Trainee.key(Objective.output, trainee: live.key):
                    head.forward(live.model.trunk.forward(batch, mode: .prediction), mode: .training)]
    }

    /// Backward from the gradients of the trainee's outputs the objective read (zero for the
    /// output when only taps were read).
    private func trainingBackward(_ live: Live, batch: Int, _ gradients: [String: Tensor]) {
        var taps: [String: Tensor] = [:]
        for (key, gradient) in gradients {
            let (owner, name) = Trainee.owner(of: key)
            if owner == live.key { taps[name] = gradient }
        }
        let output = taps.removeValue(forKey: Objective.output) ?? Tensor(shape: [batch, live.model.outputWidth])
        if live.trainee.frozenTrunk, let head = live.model.head {
            _ = head.backward(output)
        } else {
            _ = live.model.backward(output, taps: taps, inputGradient: false)
        }
    }

    /// One pass over the training images in an order drawn from `rng`, each step at its rate of
    /// `schedule`, every trainee on the same batches, from the step `progress` has got to. The
    /// metrics carry the rate of the epoch's last step, the mean loss, the first trainee's
    /// accuracy and, as named columns, the mean of each term over the steps it took part in and
    /// the further trainees' accuracies. Nil when a signal asked to stop before the last step:
    /// `progress` then holds where the epoch got.
    private func trainEpoch(_ epoch: Int, progress: inout EpochProgress, lives: [Live], schedule: LearningRateSchedule,
                            rng: inout RandomState, data: ImageSet, normalization: InputNormalization,
                            namedColumns: Bool) throws -> EpochMetrics? {
        let started = Date()
        let order = shuffled(Array(0..<data.count), &rng)
        let dropouts = lives.flatMap(\.model.dropouts)
        for dropout in dropouts { dropout.rng = RandomState(seed: rng.next()) }
        if let resumed = progress.rng {   // inside the epoch: the generators where the last step left them
            rng.words = resumed
            for (dropout, words) in zip(dropouts, progress.dropoutRNG) { dropout.rng.words = words }
        }
        let batchSize = recipe.batchSize
        let steps = recipe.stepsPerEpoch(images: order.count)
        let used = min(order.count, steps * batchSize)
        let progressLine = ProgressLine()
        var batch = Tensor(shape: [0])
        // The epoch's sums accumulate in `progress` itself, ready to be checkpointed at any step.
        let (firstStep, seenBefore, secondsBefore) = (progress.step, progress.seen, progress.seconds)
        for step in firstStep..<steps {
            if step > 0, StopRequest.pending != nil {
                progressLine.clear()
                progress.step = step
                progress.seconds = secondsBefore + Date().timeIntervalSince(started)
                (progress.rng, progress.dropoutRNG) = (rng.words, dropouts.map(\.rng.words))
                return nil
            }
            let rows = order[step * batchSize..<min((step + 1) * batchSize, used)]
            let plan = objective.plan(rows: rows, set: data, rng: &rng)
            data.fill(&batch, indices: rows, normalization: normalization, augmentations: plan.crops)
            var outputs: [String: Tensor] = [:]
            for live in lives { outputs.merge(trainingOutputs(live, batch)) { a, _ in a } }
            let (loss, values, gradients) = try objective.evaluate(outputs, batch: BatchRows(set: data, rows: rows, views: plan.views),
                                                                   active: plan.active)
            guard loss.isFinite else {
                let good = epoch > 1 ? "the last good checkpoint is \(folder.checkpoint(epoch: epoch - 1))"
                                     : "no checkpoint was written yet"
                throw StageError.badData("training diverged at epoch \(epoch), step \(step + 1): the loss is \(loss); "
                                         + "\(good) and nothing was overwritten. Lower the learning rate and run again "
                                         + "with --restart")
            }
            for live in lives {
                live.optimizer.zeroGrad()
                live.optimizer.learningRate = schedule.rate(at: (epoch - 1) * steps + step)
                trainingBackward(live, batch: rows.count, gradients)
                live.optimizer.step()
            }
            progress.lossSum += Double(loss) * Double(rows.count)
            for (i, value) in values.enumerated() {
                guard let value else { continue }
                progress.termSums[i] += Double(value) * Double(rows.count)
                progress.termSeen[i] += Double(rows.count)
            }
            if objective.classifies {
                for (k, live) in lives.enumerated() {
                    progress.correct[k] += objective.countCorrect(outputs[Trainee.key(Objective.output, trainee: live.key)]!,
                                                                  set: data, rows: rows)
                }
            }
            progress.seen += rows.count
            let elapsed = Date().timeIntervalSince(started)
            FaultPoint.pause("step")
            let seen = progress.seen
            let accuracy = objective.classifies ? String(format: "  acc %.1f%%", 100 * Double(progress.correct[0]) / Double(seen)) : ""
            let terms = objective.terms.count < 2 ? "" : " (" + objective.termNames.indices.map {
                String(format: "%@ %.4f", objective.termNames[$0], progress.termSums[$0] / max(progress.termSeen[$0], 1))
            }.joined(separator: ", ") + ")"
            let stepsRun = Double(step + 1 - firstStep)
            progressLine.update(String(format: "epoch %d/%d  step %d/%d  %.0f img/s  loss %.4f%@%@  ETA %@",
                                       epoch, recipe.epochs, step + 1, steps, Double(seen - seenBefore) / elapsed,
                                       progress.lossSum / Double(seen), terms, accuracy,
                                       ProgressLine.clock(elapsed / stepsRun * Double(steps - step - 1))))
        }
        progressLine.clear()
        let seconds = secondsBefore + Date().timeIntervalSince(started)
        let seen = progress.seen
        let accuracies = progress.correct.map { Double($0) / Double(max(seen, 1)) }
        var metrics = EpochMetrics(epoch: epoch, trainLoss: progress.lossSum / Double(max(seen, 1)),
                                   trainAccuracy: objective.classifies ? accuracies[0] : nil,
                                   learningRate: lives[0].optimizer.learningRate,
                                   imagesPerSecond: Double(seen) / seconds, seconds: seconds)
        if namedColumns {
            metrics.trainColumns = zip(progress.termSums, progress.termSeen).map { $1 > 0 ? $0 / $1 : nil }
                + (objective.classifies ? accuracies.dropFirst().map { Optional($0) } : [])
            metrics.testColumns = metrics.trainColumns.map { _ in nil }
        }
        return metrics
    }

    /// The test accuracy of further trainee `k` (0: the second) in a row: its column follows
    /// the terms'. Nil for a regression or a row without named columns.
    private func otherTestAccuracy(_ k: Int, in row: EpochMetrics) -> Double? {
        let index = objective.terms.count + k
        return objective.classifies && index < row.testColumns.count ? row.testColumns[index] : nil
    }

    private func describe(_ m: EpochMetrics, others: [String]) -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
        func num(_ v: Double?) -> String { v.map { String(format: "%.5g", $0) } ?? "-" }
        var measures = objective.classifies
            ? "train acc \(pct(m.trainAccuracy)), val acc \(pct(m.validationAccuracy)), test acc \(pct(m.testAccuracy))"
            : "val loss \(num(m.validationLoss)), test loss \(num(m.testLoss))"
        for (k, name) in others.enumerated() where objective.classifies {
            measures += ", \(name) test acc \(pct(otherTestAccuracy(k, in: m)))"
        }
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
