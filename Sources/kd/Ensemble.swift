import ArgumentParser
import Distillation
import Foundation
import KDCore

struct Ensemble: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join students into a Teacher-Class ensemble on the teacher's output layer, then fine-tune.",
        discussion: """
            The students' outputs are concatenated in chunk order and fed to the teacher's \
            output layer (taken from --head). The ensemble is evaluated on the test split, then \
            fine-tuned with cross-entropy for --finetune-epochs epochs: the head alone (students \
            frozen, in inference mode) unless --finetune-students. The students must stand for \
            consecutive slices of the same teacher's feature vector, in order, without gaps or \
            overlaps. RUN_DIR/model.h5 is an ordinary model for kd eval and kd extract; \
            fine-tuning keeps the kd train run-folder contract (checkpoints, resume, metrics.csv).
            """)

    @Option(parsing: .upToNextOption, help: "Student model files (from kd distill), in chunk order.")
    var students: [String]

    @Option(help: "The teacher's model file, whose output layer becomes the ensemble's head.")
    var head: String

    @Option(help: "Data store made by kd decode.")
    var data: String

    @Option(help: "Run folder (created if missing).")
    var out: String

    @Option(name: .customLong("finetune-epochs"), help: "Fine-tuning epochs (0: assemble and evaluate only).")
    var finetuneEpochs: Int = 0

    @Flag(name: .customLong("finetune-students"), help: "Let the students move too, not only the head.")
    var finetuneStudents = false

    @OptionGroup var recipe: RecipeOptions

    func run() throws {
        try runStage("ensemble") {
            guard recipe.epochs == nil else {
                throw StageError.usage("use --finetune-epochs for the ensemble's epochs, not --epochs")
            }
            guard finetuneEpochs >= 0 else { throw StageError.usage("--finetune-epochs must not be negative") }
            var r = try recipe.resolve()
            r.epochs = finetuneEpochs
            if finetuneEpochs > 0 { try r.validate() }
            var job = EnsembleAssembly(studentPaths: students, headPath: head, dataPath: data, runPath: out, recipe: r)
            job.finetuneStudents = finetuneStudents
            let outcome = try job.run(restart: recipe.restart, keepCheckpoints: recipe.keepCheckpoints)
            func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
            print("model: \(outcome.modelPath)" + (outcome.alreadyComplete ? " (already complete)" : "")
                  + ", \(outcome.parameterCount) parameters, test accuracy \(pct(outcome.accuracyBefore)) assembled"
                  + (finetuneEpochs > 0 ? ", \(pct(outcome.accuracyAfter)) fine-tuned" : ""))
        }
    }
}
