import ArgumentParser
import Distillation
import KDCore
import NeuralNet

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy, per-class accuracy and confusion matrix of a model on a data store.")

    @Option(help: "Model file (model.h5 from kd train).") var model: String
    @Option(help: "Data store made by kd decode.") var data: String
    @Option(help: "Split to evaluate.") var split: String = "test"
    @Option(help: "Images per forward pass.") var batch: Int = 256
    @Option(help: "Cores for OpenBLAS and the engine's loops (default: KD_THREADS, else SLURM_CPUS_PER_TASK, else the cores kd may run on).") var threads: Int?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        try runStage("eval") {
            if let threads {
                try ComputeThreads.set(threads)
            }
            let report = try ModelEvaluation.run(modelPath: model, dataPath: data, split: split, batchSize: batch)
            print(json ? report.json : report.text)
        }
    }
}
