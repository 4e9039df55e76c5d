import ArgumentParser
import Distillation
import Foundation
import NeuralNet

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student to regress one chunk of stored dense features (MSE), resumably.",
        discussion: """
            The student learns chunk K of N of the features in FEATURES.h5 (the dense vector cut \
            into N contiguous equal parts); the teacher is never run. With --augment the targets \
            come from the file's augmented views (kd extract --views). Same run folder, \
            checkpoint, resume and metrics.csv contract as kd train; the student's model.h5 \
            records which slice of the root teacher's feature vector it stands for.
            """)

    @Option(help: "Student architecture: a preset (s1, s2, s4, s8) or a JSON file; its output must be as wide as the chunk.")
    var arch: String

    @Option(help: "Data store made by kd decode (the one the features were extracted from).")
    var data: String

    @Option(help: "Feature file made by kd extract.")
    var targets: String

    @Option(help: "Chunk K of N of the features, e.g. 2/4.")
    var chunk: String

    @Option(help: "Run folder (created if missing).")
    var out: String

    @OptionGroup var recipe: RecipeOptions

    func run() throws {
        try runStage("distill") {
            let job = try StudentDistillation.prepare(architecture: try ArchitectureCatalog.resolve(arch), dataPath: data,
                                                      targetsPath: targets, chunk: try ChunkSpec(parsing: chunk),
                                                      runPath: out, recipe: try recipe.resolve())
            try recipe.run(job) { last in
                String(format: ", train MSE %.5g", last.trainLoss) + (last.testLoss.map { String(format: ", test MSE %.5g", $0) } ?? "")
            }
        }
    }
}
