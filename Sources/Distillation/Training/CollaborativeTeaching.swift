import Datasets
import KDCore
import NeuralNet

/// `kd distill --method ctkd` (Zhao et al., "Highlight Every Step: Knowledge Distillation via
/// Collaborative Teaching"): the student and a scratch teacher start from scratch in one run,
/// on the same batches (the same stored view per image when augmenting), each with its own
/// optimizer. Per step:
///
///     CE(scratch) + CE(student) + γ · (1/N) Σₙ ‖z_scratch − z_student‖² + β · Σ_taps AT(student, expert)
///
/// — columns `ce/student`, `ce/scratch`, `l2/scratch`, `at/<tap>`. The scratch teacher's logits
/// are detached (it learns from the labels alone); the expert teacher never runs: its attention
/// maps come from its feature file (`kd extract --attention`). The student's model is
/// `RUN/model.h5`, the scratch teacher's `RUN/scratch/model.h5`.
public enum CollaborativeTeaching {
    public struct Settings: Sendable {
        /// Weight γ of the logit term. 0.05 = 1/(2K) for K = 10 classes is the high-temperature
        /// limit of Hinton's T²·KL, so the term pulls about as hard as plain KD.
        public var gamma: Double = 0.05
        /// Weight β of each attention term (1000 in the AT authors' code).
        public var beta: Double = 1000
        /// Taps whose stored attention the student follows; empty: every tap the file stores.
        public var attention: [String] = []

        public init(gamma: Double = 0.05, beta: Double = 1000, attention: [String] = []) {
            self.gamma = gamma
            self.beta = beta
            self.attention = attention
        }
    }

    /// Refuses, before any work: settings out of range and architectures without a classifier
    /// head (64); a targets file from another store or without the attention maps asked for, a
    /// tap of another spatial size than the stored maps, and networks that do not take the
    /// store's images or classify other than its classes (65).
    public static func prepare(student: Architecture, scratch: Architecture, dataPath: String, targetsPath: String,
                               settings: Settings, runPath: String, recipe: Recipe) throws -> TrainingRun {
        // The terms compute in Float: a Double beyond its range would weigh them infinitely.
        guard Float(settings.gamma).isFinite, settings.gamma >= 0 else {
            throw StageError.usage("--l2-weight (γ) must be a number ≥ 0, got \(settings.gamma)")
        }
        guard Float(settings.beta).isFinite, settings.beta >= 0 else {
            throw StageError.usage("--beta must be a number ≥ 0, got \(settings.beta)")
        }
        let store = try DataStore(path: dataPath)
        let classes = store.classes.count
        let (studentNet, scratchNet) = try (network(student, role: "the student", store),
                                            network(scratch, role: "--scratch", store))
        for net in [studentNet, scratchNet] where net.outputWidth != classes {
            throw StageError.badData("architecture \(net.architecture.name) outputs \(net.outputWidth) values per image, "
                                     + "but \(store.path) has \(classes) classes; its head must end in the classes")
        }
        let file = try TargetsFile(path: targetsPath, store: store, storeSHA256: try FileDigest.sha256(path: store.path))
        let taps = try StudentDistillation.attentionTaps(settings.attention, nil, file)
        let terms: [Objective.WeightedTerm] = [
            .init(CrossEntropyTerm(name: "ce/student")),
            .init(CrossEntropyTerm(name: "ce/scratch", input: Trainee.key(Objective.output, trainee: "scratch"))),
            .init(LogitL2Term(peer: "scratch"), weight: Float(settings.gamma)),
        ] + (try StudentDistillation.attentionTerms(taps, of: file, student: studentNet, store: store, recipe: recipe,
                                                    beta: settings.beta))
        let objective = Objective(
            terms: terms, classifies: true, augmentation: try StudentDistillation.augmentation(recipe, [file]),
            settings: ["method": "ctkd", "l2_weight": String(settings.gamma), "beta": String(settings.beta),
                       "attention": taps.joined(separator: ","), "targets_sha256": file.sha256]) { model in
                try model.setAttribute("classes", store.classes)
                try model.setAttribute("method", "ctkd")
                try model.setAttribute("l2_weight", settings.gamma)
                try model.setAttribute("beta", settings.beta)
                try model.setAttribute("attention", taps)
                try model.setAttribute("targets", targetsPath)
                try model.setAttribute("targets_sha256", file.sha256)
            }
        return TrainingRun(stage: "distill", trainees: [Trainee(name: "student", architecture: studentNet.architecture),
                                                        Trainee(name: "scratch", architecture: scratchNet.architecture)],
                           store: store, runPath: runPath, recipe: recipe, objective: objective)
    }

    /// The network of `architecture` for the store's images and classes.
    private static func network(_ architecture: Architecture, role: String, _ store: DataStore) throws -> Model {
        guard architecture.head != nil else {
            throw StageError.usage("architecture \(architecture.name) has no classifier head; \(role) of --method ctkd "
                                   + "must classify the \(store.classes.count) classes of \(store.path)")
        }
        return try TeacherTraining.checkTakes(try architecture.with(input: store.imageShape)
                                                  .with(classes: store.classes.count), store)
    }
}
