import Datasets
import KDCore
import NeuralNet

/// `kd distill`: a student trained from what a teacher stored (`kd extract`), the teacher never
/// run. Two methods:
/// - `chunk` (the Teacher-Class network's students; in a hierarchy, the level above's
///   features): the student regresses chunk K of N of the dense features (`mse`); its output
///   must be as wide as the chunk.
/// - `kd` (Hinton KD, TAKD, and DGKD with several teachers): a classifier trained on
///   (1 − α)·`ce` + α·Σ `kd/<teacher>` over the teachers' stored logits at temperature T,
///   `drop` of the teachers' terms left out of each step (DGKD's stochastic teaching);
/// - `at` (attention transfer): `ce` + β·Σ `at/<tap>` over the first teacher's stored
///   attention maps; the same terms can join `kd`'s.
/// With augmentation the student sees the stored views (`kd extract --views`), each term
/// reading its targets for the view shown. The student's input and classes follow the store.
public enum StudentDistillation {
    /// Chunk regression: the student stands for chunk `chunk` of the features in `targetsPath`.
    public static func chunk(architecture: Architecture, dataPath: String, targetsPath: String,
                             chunk: ChunkSpec, runPath: String, recipe: Recipe) throws -> TrainingRun {
        let store = try DataStore(path: dataPath)
        let adapted = architecture.with(input: store.imageShape)
        let outputs = try TeacherTraining.checkTakes(adapted, store).outputWidth
        let targets = try TargetsFile(path: targetsPath, store: store, storeSHA256: try FileDigest.sha256(path: store.path))
        let term = try FeatureRegressionTerm(chunkOf: targets, chunk: chunk, store: store, views: recipe.augment)
        guard outputs == term.width else {
            throw StageError.badData("architecture \(adapted.name) outputs \(outputs) values, but chunk \(chunk) of "
                                     + "\(targetsPath) is \(term.width) wide; choose a student whose output "
                                     + "matches (s1: 512, s2: 256, s4: 128, s8: 64) or another --chunk")
        }
        let width = try targets.features.split("train").featureWidth
        let columns = try chunk.columns(of: width, in: targetsPath)
        let slice = try FeatureSlice.read(from: targets.features.file, width: width).chunk(chunk)
        let objective = Objective(
            terms: [.init(term)], classifies: false, augmentation: try augmentation(recipe, [targets]),
            settings: ["targets_sha256": targets.sha256, "chunk": chunk.description]) { file in
                try file.setAttribute("targets", targetsPath)
                try file.setAttribute("targets_sha256", targets.sha256)
                try file.setAttribute("chunk", chunk.description)
                try file.setAttribute("feature_columns", [columns.lowerBound, columns.upperBound])
                try slice.write(to: file)
            }
        return TrainingRun(stage: "distill", architecture: adapted, store: store, runPath: runPath,
                           recipe: recipe, objective: objective)
    }

    /// The settings of distillation from stored logits and attention maps, checked by `logits`.
    public struct LogitSettings: Sendable {
        /// Whether the teachers' logits are terms (`kd`); without, cross-entropy has weight 1 (`at`).
        public var logitTerms = true
        public var temperature: Double = 4
        /// Weight of the distillation terms; cross-entropy gets 1 − α.
        public var alpha: Double = 0.9
        /// Teachers' terms left out of each step.
        public var drop: Int = 0
        /// Taps whose attention the student learns from the first targets file; empty: none
        /// (with `logitTerms` off: every tap the file stores).
        public var attention: [String] = []
        /// Weight β of each attention term (1000 in the AT authors' code).
        public var beta: Double = 1000
        /// The KL term's reduction: "batchmean" (Hinton; PyTorch's `kl_div(…, "batchmean")`) or
        /// "mean" (also over the classes, as TAKD's and DGKD's code compute it).
        public var reduction = "batchmean"

        public init(logitTerms: Bool = true, temperature: Double = 4, alpha: Double = 0.9, drop: Int = 0,
                    attention: [String] = [], beta: Double = 1000, reduction: String = "batchmean") {
            self.logitTerms = logitTerms
            self.temperature = temperature
            self.alpha = alpha
            self.drop = drop
            self.attention = attention
            self.beta = beta
            self.reduction = reduction
        }
    }

    /// Logit distillation from the stored logits of one or more teachers (`targetsPaths`).
    /// Refuses, before any work: settings out of range (64), a targets file made from another
    /// store, without logits, or whose classes differ from the student's (65), views that differ
    /// between the teachers when augmenting (65).
    public static func logits(architecture: Architecture, dataPath: String, targetsPaths: [String],
                              settings: LogitSettings, runPath: String, recipe: Recipe) throws -> TrainingRun {
        // The terms compute in Float: a value that is positive as a Double may be 0 or ∞ there.
        guard Float(settings.temperature).isFinite, Float(settings.temperature) > 0 else {
            throw StageError.usage("--temperature must be a positive number, got \(settings.temperature)")
        }
        guard settings.alpha.isFinite, (0...1).contains(settings.alpha) else {
            throw StageError.usage("--alpha must be in [0, 1], got \(settings.alpha)")
        }
        guard !targetsPaths.isEmpty else { throw StageError.usage("give at least one --targets file") }
        guard ["batchmean", "mean"].contains(settings.reduction) else {
            throw StageError.usage("--kl-reduction must be batchmean or mean, got \"\(settings.reduction)\"")
        }
        guard Float(settings.beta).isFinite, settings.beta >= 0 else {
            throw StageError.usage("--beta must be a number ≥ 0, got \(settings.beta)")
        }
        guard settings.logitTerms || settings.drop == 0 else { throw StageError.usage("--drop belongs to --method kd") }
        guard settings.drop >= 0, settings.drop < targetsPaths.count else {
            throw StageError.usage("--drop must be at least 0 and less than the number of --targets "
                                   + "(\(targetsPaths.count)), got \(settings.drop)")
        }
        let method = settings.logitTerms ? "kd" : "at"
        let store = try DataStore(path: dataPath)
        guard architecture.head != nil else {
            throw StageError.usage("architecture \(architecture.name) has no classifier head; --method \(method) needs one")
        }
        let adapted = try architecture.with(input: store.imageShape).with(classes: store.classes.count)
        let student = try TeacherTraining.checkTakes(adapted, store)
        let storeSHA256 = try FileDigest.sha256(path: store.path)
        let files = try targetsPaths.map { try TargetsFile(path: $0, store: store, storeSHA256: storeSHA256) }
        let names = termNames(files)
        let alpha = Float(settings.logitTerms ? settings.alpha : 0)
        var terms: [Objective.WeightedTerm] = []
        if alpha < 1 { terms.append(.init(CrossEntropyTerm(), weight: 1 - alpha)) }
        for (file, name) in zip(files, names) where settings.logitTerms {
            let rows = try file.rows(.logits, store: store, views: recipe.augment)
            guard rows.width == store.classes.count else {
                throw StageError.badData("\(file.path) stores \(rows.width) logits per image, but the student classifies "
                                         + "the \(store.classes.count) classes of \(store.path)")
            }
            terms.append(.init(LogitDistillationTerm(name: name, temperature: Float(settings.temperature),
                                                     meanOverClasses: settings.reduction == "mean", targets: rows),
                               weight: alpha, droppable: true))
        }
        let taps = try attentionTaps(settings.attention, settings.logitTerms ? [] : nil, files[0])
        terms += try attentionTerms(taps, of: files[0], student: student, store: store, recipe: recipe, beta: settings.beta)
        guard terms.count > 1 else {
            throw StageError.usage("nothing to learn from the teachers: give --attention taps stored in \(files[0].path)")
        }
        var objectiveSettings = ["method": method, "temperature": String(settings.temperature),
                                 "alpha": String(settings.alpha), "drop": String(settings.drop)]
        if settings.reduction != "batchmean" { objectiveSettings["kl_reduction"] = settings.reduction }
        if !taps.isEmpty {
            objectiveSettings["attention"] = taps.joined(separator: ",")
            objectiveSettings["beta"] = String(settings.beta)
        }
        objectiveSettings["targets_sha256"] = files.map(\.sha256).joined(separator: ",")
        let objective = Objective(
            terms: terms, classifies: true, augmentation: try augmentation(recipe, files), dropPerStep: settings.drop,
            settings: objectiveSettings) { file in
                try file.setAttribute("classes", store.classes)
                try file.setAttribute("method", method)
                if !taps.isEmpty {
                    try file.setAttribute("attention", taps)
                    try file.setAttribute("beta", settings.beta)
                }
                try file.setAttribute("targets", targetsPaths)
                try file.setAttribute("targets_sha256", files.map(\.sha256))
                try file.setAttribute("temperature", settings.temperature)
                try file.setAttribute("alpha", settings.alpha)
                try file.setAttribute("drop", settings.drop)
                try file.setAttribute("kl_reduction", settings.reduction)
            }
        return TrainingRun(stage: "distill", architecture: adapted, store: store, runPath: runPath,
                           recipe: recipe, objective: objective)
    }

    /// The taps asked for; when none are, `fallback` or (nil) every tap the file stores maps of.
    static func attentionTaps(_ asked: [String], _ fallback: [String]?, _ file: TargetsFile) throws -> [String] {
        if !asked.isEmpty { return asked }
        if let fallback { return fallback }
        let stored = try file.features.split("train").attentionWidths.keys.sorted()
        guard !stored.isEmpty else {
            throw StageError.badData("\(file.path) stores no attention maps; extract the teacher with kd extract "
                                     + "--attention group1,group2,group3")
        }
        return stored
    }

    /// An `at/<tap>` term of weight β per tap, against the maps `file` stores. Refuses (65) a
    /// tap the student lacks or whose spatial size differs from the stored maps', naming both.
    static func attentionTerms(_ taps: [String], of file: TargetsFile, student: Model, store: DataStore,
                               recipe: Recipe, beta: Double) throws -> [Objective.WeightedTerm] {
        try taps.map { tap in
            let rows = try file.rows(.attention(tap: tap), store: store, views: recipe.augment)
            guard let shape = try? student.tapShape(tap), shape.count == 3 else {
                throw StageError.badData("the student \(student.architecture.name) has no convolutional tap \(tap) for the "
                                         + "attention stored in \(file.path); its taps are "
                                         + student.tapNames.joined(separator: ", "))
            }
            guard shape[1] * shape[2] == rows.width else {
                throw StageError.badData("the student's \(tap) is \(shape) per image (\(shape[1] * shape[2]) positions), but "
                                         + "\(file.path) stores \(tap) attention maps of \(rows.width) positions; the two "
                                         + "must have the same spatial size")
            }
            return .init(AttentionTransferTerm(tap: tap, targets: rows), weight: Float(beta))
        }
    }

    /// `kd/<teacher architecture>` per targets file, numbered where two share an architecture.
    static func termNames(_ files: [TargetsFile]) -> [String] {
        let archs = files.map { (try? $0.features.file.stringAttribute("model_arch")) .flatMap { $0 } ?? "teacher" }
        return archs.enumerated().map { index, arch in
            let same = archs.indices.filter { archs[$0] == arch }
            return same.count == 1 ? "kd/\(arch)" : "kd/\(arch).\(same.firstIndex(of: index)! + 1)"
        }
    }

    /// No augmentation, or the stored views — which every targets file must share, count and
    /// crops, so each term reads its targets for the very view shown.
    static func augmentation(_ recipe: Recipe, _ files: [TargetsFile]) throws -> Objective.Augmentation {
        guard recipe.augment else { return .none }
        let (count, crops) = try files[0].viewCrops()
        for file in files.dropFirst() {
            let other = try file.viewCrops()
            guard other.count == count, other.crops == crops else {
                throw StageError.badData("\(file.path) stores other views than \(files[0].path) "
                                         + "(\(other.count) against \(count) per image, or other crops); extract every "
                                         + "teacher with the same --views and --seed")
            }
        }
        return .storedViews(count: count, crops: crops)
    }
}
