import ArgumentParser
import Distillation

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between kd's model file and PyTorch's safetensors (state_dict).",
        discussion: """
            kd convert MODEL.h5 OUT.safetensors writes the model's parameters and BatchNorm \
            buffers under their PyTorch state_dict names (float32; num_batches_tracked as an \
            int64 scalar), with __metadata__ format "pt", kd_arch (the architecture JSON), \
            kd_input_mean/kd_input_std and kd_classes. Load it with \
            model.load_state_dict(safetensors.torch.load_file(path)).
            kd convert IN.safetensors --arch NAME|FILE OUT.h5 makes a model file that kd eval \
            and kd extract use. The file must hold exactly the network's state_dict: missing or \
            unexpected keys and other shapes are refused, listed. Float tensors may be F32, F16, \
            BF16 or F64 (stored as float32). --mean and --std give the input normalization the \
            network was trained with (not needed for a file kd wrote, nor --arch).
            OUT appears only when complete; a failed run leaves an existing OUT as it was.
            Exit codes: 64 bad flags, 65 a malformed file or one that does not fit the \
            architecture, 66 missing input, 73 cannot create OUT, 74 I/O error, 75 OUT is \
            being written by another kd process.
            """)

    @Argument(help: ArgumentHelp("A kd model file, or a .safetensors file.", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The .safetensors file or the kd model file to write.", valueName: "output"))
    var output: String

    @Option(help: ArgumentHelp("Safetensors in: the network, a preset name (resnet8, wrn-16-1, teacher, s1, …) or a JSON file; "
                               + "default: the file's kd_arch metadata.", valueName: "name|file"))
    var arch: String?

    @Option(help: "Safetensors in: the head's number of classes (default: the architecture's).")
    var classes: Int?

    @Option(name: .customLong("input"), help: ArgumentHelp("Safetensors in: the input shape (default: the architecture's, 3x32x32 for the presets).",
                                                           valueName: "CxHxW"))
    var inputShape: String?

    @Option(help: ArgumentHelp("Safetensors in: per-channel input mean on the 0–1 pixel scale.", valueName: "m1,m2,m3"))
    var mean: String?

    @Option(help: ArgumentHelp("Safetensors in: per-channel input standard deviation on the 0–1 pixel scale.", valueName: "s1,s2,s3"))
    var std: String?

    func run() throws {
        try runStage("convert") {
            let summary = try ModelConversion.run(ConversionOptions(
                input: input, output: output, architecture: arch, classes: classes, inputShape: inputShape,
                mean: mean, std: std))
            print("converted \(summary.architecture) (\(summary.parameters) parameters, \(summary.tensors) tensors): "
                  + "\(input) → \(output)")
            for note in summary.notes { print("  \(note)") }
        }
    }
}
