import Distillation
import Foundation
import KDCore
import SwiftProtobuf

/// `kd export MODEL.h5 --onnx OUT.onnx`: a trained model file (kd train's, a distilled
/// student's, an ensemble's) written as an ONNX file (`ONNXModel`) that onnxruntime and other
/// ONNX tools run without kd.
///
/// The output is claimed (`OutputLock`, 75 when another kd process writes it), written to
/// `OUT.onnx.partial` and renamed into place when whole (`AtomicOutput`); an existing file is
/// replaced. Errors: 66 missing model file, 65 a file that is not a whole kd model (no input
/// normalization, shapes that do not fit), 73 a folder for OUT that is missing or not
/// writable, 74 a failed write. Cost: one read of the model, one copy of its weights into the
/// protobuf message and one write of about 4 bytes per weight.
public enum ONNXExportStage {
    public struct Outcome: Sendable {
        public var path: String
        public var architecture: String
        public var nodes: Int
        public var constants: Int
        public var bytes: Int
        public var inputShape: [Int]
        public var output: String
        public var outputWidth: Int
    }

    public static func run(modelPath: String, outPath: String) throws -> Outcome {
        let output = AtomicOutput(outPath)
        try output.claim(inputs: [modelPath])
        let trained = try TrainedModel.load(path: modelPath)
        let onnx = try ONNXModel.build(trained, sourceSHA256: try FileDigest.sha256(path: modelPath))
        let bytes: Data
        do {
            bytes = try onnx.serializedBytes()
        } catch {
            // A message over protobuf's 2 GiB limit (a network far beyond kd's presets).
            throw StageError.badData("\(modelPath): the model cannot be written as one ONNX file: \(error)")
        }
        do {
            try bytes.write(to: URL(fileURLWithPath: output.partialPath))
        } catch {
            output.discard()
            throw StageError.io("cannot write \(output.partialPath): \(error.localizedDescription)")
        }
        do {
            try output.commit()
        } catch {
            output.discard()
            throw error
        }
        return Outcome(path: outPath, architecture: trained.model.architecture.name, nodes: onnx.graph.node.count,
                       constants: onnx.graph.initializer.count, bytes: bytes.count,
                       inputShape: trained.model.architecture.input, output: ONNXModel.outputName(of: trained.model),
                       outputWidth: trained.model.outputWidth)
    }
}
