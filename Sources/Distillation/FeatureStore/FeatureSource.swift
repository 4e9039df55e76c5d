import KDCore
import NeuralNet

/// What `kd extract` computes from a batch with a frozen model (inference mode):
///
/// - a classifier (a head whose outputs are the store's classes): its dense feature, the input
///   of the output layer, plus the logits;
/// - any other model (a distilled student, whose output regresses part of its teacher's
///   features, or a network without head): its output, which is what it stands for;
/// - with a tap name (`group2`, `feature`) or a layer path (`features.10`): that output, taken
///   during the forward pass, plus a classifier's logits; [N, C, H, W] outputs are kept or
///   flattened to [N, C·H·W];
/// - with attention taps: for each, the attention map a(x) of its output (`AttentionTransfer`),
///   [N, H·W] — what attention transfer compares, far smaller than the activations.
///
/// Cost: one inference pass over the batch, plus two passes over each attention tap's output.
public struct FeatureSource {
    /// Path of the layer whose output is stored (`flatten`, `classifier`, `features.10`, `layer2`).
    public let layer: String
    /// What the stored features are, in words.
    public let description: String
    /// Shape of one image's features as stored.
    public let sampleShape: [Int]
    /// Width of the stored logits; nil when none are stored.
    public let logitsWidth: Int?
    /// Whether the features are the model's own output (what a distilled student stands for).
    public let storesModelOutput: Bool
    /// The taps whose attention maps are stored, each with the map's width H·W.
    public let attention: [(tap: String, width: Int)]
    private let model: Model
    /// The tap whose output is the features; nil: the model's output.
    private let featureTap: String?
    private let storesLogits: Bool

    /// Throws 64 for a name that is neither a tap nor a layer of the model (listing both), and
    /// for an attention tap whose output is not [C, H, W].
    public init(model: Model, isClassifier: Bool, layer requested: String?, flatten: Bool,
                attention: [String] = []) throws {
        self.model = model
        let headName = model.architecture.head?.name
        let lastPath = model.rows.last?.path
        let shape: [Int]
        switch requested {
        case nil where isClassifier && model.head != nil:
            layer = model.tapPaths["feature"] ?? ""
            description = "dense feature (input of \(headName ?? "the head"))"
            shape = [model.featureWidth]
            featureTap = "feature"
            storesLogits = true
            storesModelOutput = false
        case let name? where name != headName && name != lastPath && model.tapPaths[name] != lastPath:
            shape = try Self.shape(of: name, in: model)
            layer = model.tapPaths[name] ?? name
            let label = model.layer(at: layer)?.label ?? layer
            description = "output of \(layer) (\(label))" + (layer == name ? "" : ", tap \(name)")
            featureTap = name
            storesLogits = isClassifier
            storesModelOutput = false
        default:
            // The model's own output: a regressor's or head-less model's feature, or the layer
            // asked for is the last one.
            layer = lastPath ?? ""
            description = "output of \(layer)" + (isClassifier ? " (logits)" : " (the model's output)")
            shape = [model.outputWidth]
            featureTap = nil
            storesLogits = false
            storesModelOutput = true
        }
        logitsWidth = storesLogits ? model.outputWidth : nil
        sampleShape = flatten ? [shape.reduce(1, *)] : shape
        self.attention = try attention.map { tap in
            let tapShape = try Self.shape(of: tap, in: model)
            guard tapShape.count == 3 else {
                throw StageError.usage("--attention \(tap): its output is \(tapShape) per image; attention maps need "
                                       + "[C, H, W] (a convolutional layer or group, e.g. group1)")
            }
            return (tap, tapShape[1] * tapShape[2])
        }
    }

    private static func shape(of name: String, in model: Model) throws -> [Int] {
        guard let shape = try? model.tapShape(name) else {
            throw StageError.usage("\(model.architecture.name) has no tap or layer \"\(name)\"; its taps are "
                                   + model.tapNames.joined(separator: ", ") + "; its layers are "
                                   + model.rows.map(\.path).joined(separator: ", "))
        }
        return shape
    }

    /// Features [N] + sampleShape, logits [N, logitsWidth] and the attention maps [N, H·W] of a
    /// normalized batch.
    public func callAsFunction(_ batch: Tensor) -> (features: Tensor, logits: Tensor?, attention: [Tensor]) {
        let taps = (featureTap.map { [$0] } ?? []) + attention.map(\.tap)
        let (output, tapped) = model.forward(batch, mode: .prediction, taps: taps)
        let features = featureTap.flatMap { tapped[$0] } ?? output
        return (features.reshaped([features.batch] + sampleShape), storesLogits ? output : nil,
                attention.map { AttentionTransfer.maps(tapped[$0.tap]!) })
    }
}
