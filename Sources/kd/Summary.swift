import ArgumentParser
import KDCore
import NeuralNet

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an architecture's layers, output shapes and parameter counts.",
        discussion: """
            One row per layer (state_dict name, layer, output shape, parameters), then the \
            totals and torchsummary's memory estimate, then the taps (named inner outputs such as \
            group1…3 of the residual networks, feature and logits) with their shapes. Presets: \
            \(ArchitectureCatalog.presetNames.joined(separator: ", ")); resnet-D[xW] and wrn-D-W \
            for other depths and widths; any other architecture from a JSON file (see \
            Pipelines/archs/).
            """)

    @Option(help: "Architecture: a preset name or a JSON file.")
    var arch: String

    @Option(help: "Input shape CxHxW, e.g. 1x32x32 for Fashion-MNIST padded to 32 (default: the architecture's, 3x32x32 for the presets).")
    var input: String?

    @Option(help: "Number of classes of the head (default: the architecture's).")
    var classes: Int?

    func run() throws {
        try runStage("summary") {
            let architecture = try ArchitectureCatalog.resolve(arch, input: input, classes: classes)
            print(ModelSummary(try Model(architecture)).text)
        }
    }
}
