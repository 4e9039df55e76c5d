import ArgumentParser
import Distillation
import KDCore
import NeuralNet

/// The training recipe's flags, shared by `kd train` and `kd distill`: a recipe file, then
/// each flag given overriding its key; plus the run-folder flags.
struct RecipeOptions: ParsableArguments {
    @Option(help: "Recipe file (JSON; keys as the flags in camel case, e.g. learningRate).")
    var recipe: String?

    @Option(help: "Passes over the training images (default 10).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Images per step (default 128).") var batchSize: Int?
    @Option(help: "sgd or adam (default sgd).") var optimizer: String?
    @Option(name: .customLong("lr"), help: "Base learning rate (default 0.05).") var learningRate: Double?
    @Option(help: "SGD momentum (default 0.9).") var momentum: Double?
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay (default 5e-4).") var weightDecay: Double?
    @Option(help: "Learning-rate schedule, updated every step: constant, step or cosine (default cosine).") var schedule: String?
    @Option(name: .customLong("step-size"), help: "Epochs between step decays (default 30).") var stepSize: Int?
    @Option(help: "Factor of each step decay (default 0.1).") var gamma: Double?
    @Option(name: .customLong("min-lr"), help: "Final rate of the cosine schedule (default 0).") var minLearningRate: Double?
    @Option(help: "Epochs of linear warm-up, fractions allowed (default 0).") var warmup: Double?
    @Option(help: "Seed of every random draw (default 0).") var seed: UInt64?
    @Flag(help: "Random crop with 4-pixel zero padding and horizontal flip.") var augment = false
    @Option(name: .customLong("val-split"), help: "Hold out N training images (seeded) for validation.") var valSplit: Int?
    @Option(help: "Train on the first N training images only.") var limit: Int?
    @Option(help: "Cores for OpenBLAS and the engine's loops (default: KD_THREADS, else SLURM_CPUS_PER_TASK, else the cores kd may run on).") var threads: Int?
    @Option(name: .customLong("keep-checkpoints"), help: "Newest checkpoints kept.") var keepCheckpoints: Int = 2
    @Flag(help: "Discard an existing run in the run folder and start over.") var restart = false

    /// The recipe: file, then flags. Also applies --threads.
    func resolve() throws -> Recipe {
        var r = try recipe.map { try Recipe.load(path: $0) } ?? Recipe()
        if let epochs { r.epochs = epochs }
        if let batchSize { r.batchSize = batchSize }
        if let optimizer { r.optimizer = optimizer }
        if let learningRate { r.learningRate = learningRate }
        if let momentum { r.momentum = momentum }
        if nesterov { r.nesterov = true }
        if let weightDecay { r.weightDecay = weightDecay }
        if let schedule { r.schedule = schedule }
        if let stepSize { r.stepSize = stepSize }
        if let gamma { r.gamma = gamma }
        if let minLearningRate { r.minLearningRate = minLearningRate }
        if let warmup { r.warmupEpochs = warmup }
        if let seed { r.seed = seed }
        if augment { r.augment = true }
        if let valSplit { r.valSplit = valSplit }
        if let limit { r.limit = limit }
        guard keepCheckpoints >= 1 else { throw StageError.usage("--keep-checkpoints must be at least 1") }
        if let threads {
            try ComputeThreads.set(threads)
        }
        return r
    }

    /// Runs a prepared job with the run-folder flags and prints where the model is.
    func run(_ job: TrainingRun, describe: (EpochMetrics) -> String) throws {
        var job = job
        job.restart = restart
        job.keepCheckpoints = keepCheckpoints
        let outcome = try job.run()
        if outcome.alreadyComplete {
            print("model: \(outcome.modelPath) (already complete)")
        } else {
            print("model: \(outcome.modelPath)" + (outcome.last.map(describe) ?? ""))
        }
        for (path, accuracy) in zip(outcome.modelPaths.dropFirst(), outcome.otherAccuracies) {
            print("model: \(path)" + (outcome.alreadyComplete ? " (already complete)"
                                       : accuracy.map { String(format: ", test accuracy %.2f%%", 100 * $0) } ?? ""))
        }
    }
}
