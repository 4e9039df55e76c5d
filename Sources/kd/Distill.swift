import ArgumentParser
import Distillation
import Foundation
import KDCore
import NeuralNet

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student from what teachers stored (kd extract), resumably; the teachers never run.",
        discussion: """
            --method chunk (the default; Teacher-Class students): the student regresses chunk K of \
            N of the dense features in FEATURES.h5 (MSE; the dense vector cut into N contiguous \
            equal parts); its model.h5 records which slice of the root teacher's feature vector \
            it stands for.

            --method kd (Hinton KD; TAKD is a chain of these; DGKD gives several teachers): the \
            student, a classifier, minimizes (1 − α)·CE(labels) + α·Σ T²·KL(softmax(t/T) ‖ \
            softmax(s/T)) over the stored logits t of each --targets file. With --drop K, each \
            step leaves out K of the teachers' terms, drawn from the run's seeded generator \
            (DGKD's stochastic teaching; the teacher may be dropped too).

            --method at (attention transfer, Zagoruyko & Komodakis): CE(labels) + β·Σ \
            mean((a_s − a_t)²) over the taps of --attention (default: every tap whose maps the \
            first --targets file stores, kd extract --attention), a(x) the attention map of a \
            tap's output; the student's taps must have the stored maps' spatial size. \
            --attention with --method kd adds the same terms to KD's.

            --method ctkd (collaborative teaching, Zhao et al.): the student and a scratch \
            teacher (--scratch ARCH) train together from scratch on the same batches, each with \
            its own optimizer: CE(scratch) + CE(student) + γ·mean_n ‖z_scratch − z_student‖² \
            (the scratch logits detached) + β·Σ AT(student, expert), the expert's attention maps \
            read from the one --targets file (kd extract --attention). RUN/model.h5 is the \
            student, RUN/scratch/model.h5 the scratch teacher; checkpoints hold both.

            With --augment the student sees the files' stored views (kd extract --views), each \
            term reading its targets for the very view shown. metrics.csv has a train and a test \
            column per loss term. Same run folder, checkpoint, resume and metrics.csv contract \
            as kd train.
            """)

    @Option(help: "chunk (feature-chunk regression), kd (logit distillation), at (attention transfer) or ctkd (collaborative teaching).")
    var method: String = "chunk"

    @Option(help: "Student architecture: a preset or a JSON file. chunk: its output as wide as the chunk; kd: a classifier.")
    var arch: String

    @Option(help: "Data store made by kd decode (the one the targets were extracted from).")
    var data: String

    @Option(parsing: .singleValue, help: "Feature file made by kd extract; kd takes several (repeat the option): the teacher and its assistants.")
    var targets: [String] = []

    @Option(help: "chunk: chunk K of N of the features, e.g. 2/4.")
    var chunk: String?

    @Option(help: "kd: the softmax temperature T (default 4).")
    var temperature: Double?

    @Option(help: "kd: weight α of the distillation terms; cross-entropy gets 1 − α (default 0.9).")
    var alpha: Double?

    @Option(help: "kd: teachers' terms left out of each step, less than the number of --targets (default 0).")
    var drop: Int?

    @Option(name: .customLong("kl-reduction"),
            help: "kd: batchmean (Hinton; the default) or mean (also over the classes, as TAKD's and DGKD's code compute the KL).")
    var klReduction: String?

    @Option(help: ArgumentHelp("kd, at, ctkd: taps whose stored attention maps the student's follow, comma-separated.",
                               valueName: "taps"))
    var attention: String?

    @Option(help: "kd, at, ctkd: weight β of each attention term (default 1000).")
    var beta: Double?

    @Option(help: "ctkd: the scratch teacher's architecture (a preset or a JSON file), a classifier trained in the same run.")
    var scratch: String?

    // Not --gamma: that is the recipe's step-decay factor.
    @Option(name: .customLong("l2-weight"),
            help: "ctkd: weight γ of the logit term between scratch teacher and student (default 0.05).")
    var l2Weight: Double?

    @Option(help: "Run folder (created if missing).")
    var out: String

    @OptionGroup var recipe: RecipeOptions

    func run() throws {
        try runStage("distill") {
            let architecture = try ArchitectureCatalog.resolve(arch)
            let taps = attention.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
            guard method == "ctkd" || (scratch == nil && l2Weight == nil) else {
                throw StageError.usage("--scratch and --l2-weight belong to --method ctkd")
            }
            switch method {
            case "chunk":
                guard let chunk else { throw StageError.usage("--method chunk needs --chunk K/N") }
                guard targets.count == 1 else {
                    throw StageError.usage("--method chunk takes one --targets file, got \(targets.count)")
                }
                guard temperature == nil, alpha == nil, drop == nil, attention == nil, beta == nil, klReduction == nil else {
                    throw StageError.usage("--temperature, --alpha, --drop, --kl-reduction, --attention and --beta belong to "
                                           + "--method kd or at")
                }
                let job = try StudentDistillation.chunk(architecture: architecture, dataPath: data, targetsPath: targets[0],
                                                        chunk: try ChunkSpec(parsing: chunk), runPath: out,
                                                        recipe: try recipe.resolve())
                try recipe.run(job) { last in
                    String(format: ", train MSE %.5g", last.trainLoss)
                        + (last.testLoss.map { String(format: ", test MSE %.5g", $0) } ?? "")
                }
            case "kd", "at":
                guard chunk == nil else { throw StageError.usage("--chunk belongs to --method chunk") }
                if method == "at" {
                    guard temperature == nil, alpha == nil, drop == nil, klReduction == nil else {
                        throw StageError.usage("--temperature, --alpha, --drop and --kl-reduction belong to --method kd")
                    }
                }
                let defaults = StudentDistillation.LogitSettings()
                let settings = StudentDistillation.LogitSettings(
                    logitTerms: method == "kd", temperature: temperature ?? defaults.temperature,
                    alpha: alpha ?? defaults.alpha, drop: drop ?? defaults.drop, attention: taps, beta: beta ?? defaults.beta,
                    reduction: klReduction ?? defaults.reduction)
                let job = try StudentDistillation.logits(architecture: architecture, dataPath: data, targetsPaths: targets,
                                                         settings: settings, runPath: out, recipe: try recipe.resolve())
                try recipe.run(job) { last in
                    last.testAccuracy.map { String(format: ", test accuracy %.2f%%", 100 * $0) } ?? ""
                }
            case "ctkd":
                guard chunk == nil, temperature == nil, alpha == nil, drop == nil, klReduction == nil else {
                    throw StageError.usage("--chunk, --temperature, --alpha, --drop and --kl-reduction do not belong to "
                                           + "--method ctkd")
                }
                guard let scratch else { throw StageError.usage("--method ctkd needs --scratch ARCH, the scratch teacher") }
                guard targets.count == 1 else {
                    throw StageError.usage("--method ctkd takes one --targets file (the expert's attention maps), "
                                           + "got \(targets.count)")
                }
                let defaults = CollaborativeTeaching.Settings()
                let job = try CollaborativeTeaching.prepare(
                    student: architecture, scratch: try ArchitectureCatalog.resolve(scratch), dataPath: data,
                    targetsPath: targets[0],
                    settings: .init(gamma: l2Weight ?? defaults.gamma, beta: beta ?? defaults.beta, attention: taps),
                    runPath: out, recipe: try recipe.resolve())
                try recipe.run(job) { last in
                    last.testAccuracy.map { String(format: ", test accuracy %.2f%%", 100 * $0) } ?? ""
                }
            default:
                throw StageError.usage("--method must be chunk, kd, at or ctkd, got \"\(method)\"")
            }
        }
    }
}
