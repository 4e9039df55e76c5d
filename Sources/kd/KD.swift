import ArgumentParser

@main
struct KD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kd",
        abstract: "Knowledge distillation as stages over HDF5 files.",
        version: "0.1.0",
        subcommands: [Decode.self, Inspect.self, Summary.self, Bench.self, Train.self, Eval.self, Extract.self, Distill.self, Ensemble.self, Report.self]
    )
}
