import ArgumentParser
import Distillation
import Foundation
import KDCore
import NeuralNet

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a frozen model's features (and logits) for every image of a data store.",
        discussion: """
            Runs the model in inference mode, with its own input normalization, over the chosen \
            splits and writes /<split>/features float32 [N, D], /<split>/logits [N, K] (every \
            classifier: a model whose head scores the store's classes and that is not a \
            Teacher-Class student) and /<split>/labels. For a classifier the features are its \
            dense feature (the input of its output layer); for a Teacher-Class student or a \
            network without head, its output; with --layer, that tap's or layer's output. \
            --views V adds /train/views/params [N, V, 3] (dx, dy, flip), /train/views/features \
            [N, V, D] and /train/views/logits [N, V, K]: view 0 is the plain image, the others \
            a random crop (4-pixel zero padding) and flip drawn from --seed. --attention \
            group1,… adds /<split>/attention/<tap> [N, H·W] (and /train/views/attention/<tap> \
            [N, V, H·W]): the attention maps that attention transfer (kd distill --method at) \
            compares, far smaller than the activations.
            Work goes to OUT.partial block by block; running the same command again after a \
            failure continues after the last finished block, and the result is bit-identical to \
            an unbroken run with the same --batch and --threads. OUT appears only when complete.
            Exit codes: 64 bad flags or an unfinished OUT.partial with other settings, 65 a model \
            that does not take the store's images or a bad input file, 66 missing input, \
            73 cannot create OUT, 75 OUT.partial in use by another process.
            """)

    @Option(help: ArgumentHelp("Model file (kd train's model.h5, or a distilled student's).", valueName: "model.h5"))
    var model: String

    @Option(help: ArgumentHelp("Data store made by kd decode.", valueName: "store.h5"))
    var data: String

    @Option(help: ArgumentHelp("Feature file to write.", valueName: "features.h5"))
    var out: String

    @Option(help: ArgumentHelp("Store this tap's or layer's output as the features (a name from kd summary: group2, features.10); a classifier's logits are stored too.",
                               valueName: "name"))
    var layer: String?

    @Flag(help: "Store a layer's [N, C, H, W] output as [N, C·H·W].")
    var flatten = false

    @Option(help: ArgumentHelp("Also store the attention map a(x) = normalize(mean over channels of x²) of these taps, "
                               + "comma-separated (e.g. group1,group2,group3): /<split>/attention/<tap> [N, H·W].",
                               valueName: "taps"))
    var attention: String?

    @Option(help: ArgumentHelp("Splits to extract, comma-separated (default: every split of the store).", valueName: "train,test"))
    var splits: String?

    @Option(help: "Images per forward pass (the features are bitwise reproducible for a fixed batch and thread count).")
    var batch: Int = 256

    @Option(help: "Cores for OpenBLAS and the engine's loops (default: KD_THREADS, else SLURM_CPUS_PER_TASK, else the cores kd may run on).")
    var threads: Int?

    @Option(help: "Views per training image: the plain image plus V-1 random crops and flips.")
    var views: Int = 1

    @Option(help: "Seed of the views' crops and flips.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Deflate level of the datasets, 0 for none (floats also get the shuffle filter).", valueName: "0-9"))
    var deflate: Int = FeatureExtraction.defaultDeflate

    @Flag(help: "Discard an unfinished OUT.partial (made with other settings) and start over.")
    var restart = false

    func run() throws {
        try runStage("extract") {
            if let threads {
                try ComputeThreads.set(threads)
            }
            var job = FeatureExtraction(modelPath: model, dataPath: data, outPath: out)
            job.layer = layer
            job.flatten = flatten
            job.attention = attention.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
            job.splits = splits.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            job.batchSize = batch
            job.views = views
            job.seed = seed
            job.deflate = deflate
            job.restart = restart
            let outcome = try job.run()
            if outcome.alreadyComplete {
                print("features: \(out) (already complete)")
                return
            }
            if let blocks = outcome.resumedBlocks { Console.error("resumed after \(blocks) finished blocks\n") }
            if outcome.writeSeconds > 0 {
                let mib = Double(outcome.bytesWritten) / 1_048_576
                Console.error(String(format: "wrote %.1f MiB of features in %.2f s of HDF5 writes (%.0f MiB/s); "
                                     + "%.0f img/s overall\n", mib, outcome.writeSeconds, mib / outcome.writeSeconds,
                                     Double(outcome.images) / max(outcome.seconds, 1e-9)))
            }
            print("features: \(out)")
        }
    }
}
