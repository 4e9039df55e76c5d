import ArgumentParser
import KDCore
import NeuralNet

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training or inference throughput of an architecture on random inputs.",
        discussion: """
            Prints one line in the form of the PyTorch twin (Benchmarks/torch_twin.py), \
            ending in "<N> img/s", so Benchmarks/compare.py can put the two side by side. A \
            training step is forward, loss (cross-entropy for a 10-way output, MSE otherwise), \
            backward and an SGD update (lr 0.01, momentum 0.9, weight decay 5e-4). With \
            --layers, prints instead a table of each layer's forward and backward time per step, \
            its share of the step and the GFLOP/s of convolutions and linear layers.
            """)

    @Option(help: "Architecture: a preset name or a JSON file.")
    var arch: String

    @Option(help: "train: a full training step; infer: a forward pass in inference mode.")
    var mode: String = "train"

    @Option(help: "Images per step.")
    var batch: Int = 128

    @Option(help: "Seconds to measure for, after two warm-up steps.")
    var seconds: Double = 6

    @Option(help: "Cores for OpenBLAS and the engine's loops (default: KD_THREADS, else SLURM_CPUS_PER_TASK, else the cores kd may run on).")
    var threads: Int?

    @Option(help: "Input shape CxHxW (default: the architecture's, 3x32x32 for the presets).")
    var input: String?

    @Flag(help: "Instead of the throughput line, time each layer of a training step (forward, backward, GFLOP/s).")
    var layers = false

    @Option(help: "Training steps to average over with --layers, after two warm-up steps.")
    var steps: Int = 5

    func run() throws {
        try runStage("bench") {
            guard let mode = Benchmark.Mode(rawValue: mode) else {
                throw StageError.usage("--mode must be train or infer, got \"\(mode)\"")
            }
            let architecture = try ArchitectureCatalog.resolve(arch, input: input, classes: nil)
            if layers {
                guard mode == .train else { throw StageError.usage("--layers profiles training steps; drop --mode \(mode)") }
                let rows = try LayerProfile.measure(architecture, batch: batch, steps: steps,
                                                    threads: threads ?? ComputeThreads.count)
                let peak = try SgemmPeak.measure(threads: threads ?? ComputeThreads.count)
                print(LayerProfile.table(rows, batch: batch, sgemmPeak: peak))
                return
            }
            let result = try Benchmark.run(architecture, mode: mode, batch: batch, seconds: seconds,
                                           threads: threads ?? ComputeThreads.count)
            print(result.line)
        }
    }
}
