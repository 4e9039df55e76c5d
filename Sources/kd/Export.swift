import ArgumentParser
import ONNXExport

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a trained model as an ONNX file (opset 17) that onnxruntime runs without kd.",
        discussion: """
            The ONNX model takes float32 [N, C, H, W] raw pixel values 0…255 (N free) and \
            applies the model's own input normalization, (p/255 − mean)/std, as its first two \
            nodes; its output is logits [N, classes] (feature [N, D] for a network without \
            head), what kd eval and kd extract compute. BatchNorm uses the running statistics \
            and dropout is left out, as in inference. metadata_props name the architecture, the \
            source model's SHA-256, the normalization and the class names. OUT appears only when \
            complete; an existing OUT is replaced.
            Exit codes: 65 not a kd model file (or damaged), 66 missing model file, 73 cannot \
            create OUT, 74 write failed, 75 OUT is being written by another kd process.
            """)

    @Argument(help: ArgumentHelp("Model file (kd train's model.h5, a distilled student's or an ensemble's).",
                                 valueName: "model.h5"))
    var model: String

    @Option(help: ArgumentHelp("ONNX file to write.", valueName: "out.onnx"))
    var onnx: String

    func run() throws {
        try runStage("export") {
            let outcome = try ONNXExportStage.run(modelPath: model, outPath: onnx)
            let input = (["N"] + outcome.inputShape.map(String.init)).joined(separator: "×")
            print("\(outcome.path): \(outcome.architecture), opset \(ONNXModel.opset), \(outcome.nodes) nodes, "
                  + "\(outcome.constants) constants, \(outcome.bytes) bytes; input [\(input)] float32 pixels 0…255, "
                  + "output \(outcome.output) [N×\(outcome.outputWidth)]")
        }
    }
}
