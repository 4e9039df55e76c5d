import ArgumentParser
import Datasets
import Foundation
import KDCore

extension DatasetFormat: ExpressibleByArgument {}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a raw dataset (CIFAR-10/100 binary, MNIST/Fashion-MNIST IDX) into a data store.",
        discussion: """
            INPUT is one of:
              - a CIFAR-10 binary folder (cifar-10-batches-bin/) or the folder holding it,
              - the archive cifar-10-binary.tar.gz itself (read directly, no unpacking),
              - a CIFAR-100 binary folder (cifar-100-binary/) or its .tar.gz,
              - a folder of IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
                t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; plain or .gz).
            The store holds /train and /test, each with images (uint8 N×C×H×W) and
            labels (uint8 N; CIFAR-100 also coarse_labels), plus the class names and
            the SHA-256 of each source file. It is written to OUT.partial and renamed
            to OUT only when complete, so a failed run leaves an existing OUT as it was.
            Exit codes: 64 usage, 65 bad data, 66 missing input, 73 cannot create output.
            """)

    @Argument(help: "The dataset folder or .tar.gz archive to decode.")
    var input: String

    @Option(name: .long, help: ArgumentHelp("The data store (HDF5) to write.", valueName: "store.h5"))
    var out: String

    @Option(name: .long, help: "The input format; recognised from the file names when not given.")
    var format: DatasetFormat?

    @Option(name: .long, help: ArgumentHelp(
        "Zero pixels to add on every side of every image (e.g. 2 turns 28×28 into 32×32).", valueName: "n"))
    var pad: Int = 0

    @Option(name: .long, help: ArgumentHelp(
        "IDX class names: fashion-mnist, mnist, or a file with one name per line. Default: fashion-mnist "
            + "when the input path contains \"fashion\", else mnist (the digits 0–9).",
        valueName: "fashion-mnist|mnist|file"))
    var classes: String?

    @Option(name: .customLong("limit-train"), help: ArgumentHelp(
        "Keep only the first N training images (a small store for quick runs).", valueName: "n"))
    var limitTrain: Int?

    @Option(name: .customLong("limit-test"), help: ArgumentHelp("Keep only the first N test images.", valueName: "n"))
    var limitTest: Int?

    func run() throws {
        try runStage("decode") {
            var limits: [String: Int] = [:]
            limits["train"] = limitTrain
            limits["test"] = limitTest
            let summary = try DatasetDecoder.decode(DecodeOptions(
                input: input, output: out, format: format, pad: pad, classes: classes.map(ClassNames.init(argument:)),
                limits: limits))
            let shape = summary.imageShape.map(String.init).joined(separator: "×")
            print("decoded \(summary.format.rawValue) from \(summary.location) → \(out) in "
                  + String(format: "%.1f s", summary.seconds))
            for split in summary.splits {
                let (least, most) = (split.classCounts.min() ?? 0, split.classCounts.max() ?? 0)
                let perClass = least == most ? "\(least) per class" : "\(least)–\(most) per class"
                print("  \(split.name): \(split.count) images of \(shape), \(summary.classes.count) classes, \(perClass)")
            }
            print("  classes: \(summary.classesNote)")
        }
    }
}
