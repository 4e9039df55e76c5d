import ArgumentParser
import Distillation
import Foundation
import NeuralNet

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier (the teacher) on a data store, resumably.",
        discussion: """
            Writes RUN_DIR/checkpoints/epoch-NNNN.h5 after every epoch, RUN_DIR/metrics.csv and, \
            at the end, the frozen RUN_DIR/model.h5 (weights, BatchNorm statistics, input \
            normalization, architecture, provenance). Running the same command again resumes \
            from the newest valid checkpoint; the final model is bit-identical to an unbroken run \
            with the same thread count. Other settings over an existing run are refused unless \
            --restart. The recipe can come from a JSON file (--recipe); flags override it.
            """)

    @Option(help: "Architecture: a preset name (teacher, small, …) or a JSON file. Its input and number of classes follow the data store.")
    var arch: String

    @Option(help: "Data store made by kd decode.")
    var data: String

    @Option(help: "Run folder (created if missing).")
    var out: String

    @OptionGroup var recipe: RecipeOptions

    func run() throws {
        try runStage("train") {
            let job = try TeacherTraining.prepare(architecture: try ArchitectureCatalog.resolve(arch), dataPath: data,
                                                  runPath: out, recipe: try recipe.resolve())
            try recipe.run(job) { last in
                last.testAccuracy.map { String(format: ", test accuracy %.2f%%", 100 * $0) } ?? ""
            }
        }
    }
}
