import Distillation
import KDCore
import NeuralNet
import ONNXSchema

/// A trained kd model as an ONNX model (IR version 8, opset 17, float32), ready to serialize.
///
/// - Input `input`: float32 [N, C, H, W], the raw pixel values 0…255 of the images (a data
///   store's uint8 pixels as floats), N free (`dim_param` "N").
/// - The model's input normalization is the graph's first two nodes, Mul then Add per channel
///   (`input/scale`, `input/shift`), with the very float32 constants kd applies to pixels
///   (`InputNormalization`): p · 1/(255·std) − mean/std.
/// - The layers as `LayerTranslation` writes them, in inference mode.
/// - Output `logits` [N, classes] for a model with a head, else `feature` [N, D].
/// - `metadata_props`: `kd_architecture` (the model file's architecture JSON), `kd_version`,
///   `kd_model_sha256` (of the model file), `input_format`, `input_mean` and `input_std` (JSON
///   arrays, for reading only: the graph already applies them) and, when the model file names
///   them, `classes` (a JSON array of the class names in output order).
/// Cost: one copy of the weights.
public enum ONNXModel {
    public static let opset: Int64 = 17
    static let irVersion: Int64 = 8
    static let inputName = "input"
    static let inputFormat = "float32 [N, C, H, W] raw pixel values 0…255; the graph normalizes them "
        + "as (p/255 − input_mean)/input_std"

    /// The output's name: `logits` for a model with a head, `feature` for one without.
    public static func outputName(of model: Model) -> String { model.head == nil ? "feature" : "logits" }

    public static func build(_ trained: TrainedModel, sourceSHA256: String) throws -> Onnx_ModelProto {
        let model = trained.model, architecture = model.architecture
        let channels = architecture.input[0]
        var graph = ONNXGraph()
        let normalization = trained.normalization
        let scale = graph.constant("input/scale", (0..<channels).map { normalization.scale(channel: $0) },
                                   dims: [1, channels, 1, 1])
        let shift = graph.constant("input/shift", (0..<channels).map { normalization.shift(channel: $0) },
                                   dims: [1, channels, 1, 1])
        graph.add("Mul", [inputName, scale], output: "input/scaled")
        graph.add("Add", ["input/scaled", shift], output: "input/normalized")
        // The trunk's layers, then the head under its name.
        let value = try LayerTranslation.chain(model.children, prefix: "", input: "input/normalized", into: &graph)
        let output = outputName(of: model)
        graph.renameLastOutput(value, to: output)

        var proto = Onnx_GraphProto()
        proto.name = architecture.name
        proto.node = graph.nodes
        proto.initializer = graph.initializers
        proto.input = [tensorInfo(inputName, dims: architecture.input)]
        proto.output = [tensorInfo(output, dims: [model.outputWidth])]

        var onnx = Onnx_ModelProto()
        onnx.irVersion = irVersion
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.domain = ""
        opsetImport.version = opset
        onnx.opsetImport = [opsetImport]
        onnx.producerName = "kd"
        onnx.producerVersion = Provenance.kdVersion
        onnx.docString = "\(architecture.name) exported by kd from a model file with SHA-256 \(sourceSHA256). "
            + "Input: \(inputFormat)."
        onnx.graph = proto
        var metadata = [("kd_architecture", architecture.jsonText), ("kd_version", Provenance.kdVersion),
                        ("kd_model_sha256", sourceSHA256), ("input_format", inputFormat),
                        ("input_mean", CanonicalJSON.text(normalization.mean)),
                        ("input_std", CanonicalJSON.text(normalization.std))]
        if !trained.classes.isEmpty { metadata.append(("classes", CanonicalJSON.text(trained.classes, formatting: .withoutEscapingSlashes))) }
        onnx.metadataProps = metadata.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return onnx
    }

    /// A float32 value of per-sample shape `dims` with a free batch dimension "N" first.
    private static func tensorInfo(_ name: String, dims: [Int]) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        var shape = Onnx_TensorShapeProto()
        shape.dim = [batch] + dims.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(size)
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}
