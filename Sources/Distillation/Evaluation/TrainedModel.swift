import HDF5
import KDCore
import NeuralNet

/// A frozen model as the later stages use it: the network with its weights, the input
/// normalization it was trained with and the class names of its data, read from a `model.h5`.
/// Cost: one read of the parameters.
public struct TrainedModel {
    public let path: String
    public let model: Model
    public let normalization: InputNormalization
    public let classes: [String]

    public static func load(path: String) throws -> TrainedModel {
        let file = try H5File.open(path)
        let model = try ModelFile.build(try ModelFile.architecture(in: file.root), from: file.root)
        try ModelFile.load(into: model, from: file.root)
        let normalization = try InputNormalization.read(from: file)
        guard normalization.mean.count == model.architecture.input[0] else {
            throw StageError.badData("\(path): input normalization has \(normalization.mean.count) channels, "
                                     + "the network takes \(model.architecture.input[0])")
        }
        return TrainedModel(path: path, model: model, normalization: normalization,
                            classes: try file.stringArrayAttribute("classes") ?? [])
    }

    /// Throws 65 unless images of `shape` ([C, H, W]) fit the network.
    public func checkInput(_ shape: [Int], of dataPath: String) throws {
        guard shape == model.architecture.input else {
            throw StageError.badData("\(path) takes images of \(model.architecture.input.map(String.init).joined(separator: "×")), "
                                     + "but \(dataPath) holds \(shape.map(String.init).joined(separator: "×"))")
        }
    }
}
