import KDCore
import NeuralNet

/// What `kd extract` computes from a batch with a frozen model (inference mode):
///
/// - a classifier (a head whose outputs are the store's classes): its dense feature, the input
///   of the output layer, plus the logits;
/// - any other model (a distilled student, whose output regresses part of its teacher's
///   features, or a network without head): its output, which is what it stands for;
/// - with a tap name (`group2`, `feature`) or a layer path (`features.10`): that output alone
///   (no logits), taken during the forward pass; [N, C, H, W] outputs are kept or flattened to
///   [N, C·H·W].
///
/// Cost: one inference pass over the batch.
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
    private let compute: (Tensor) -> (features: Tensor, logits: Tensor?)

    /// Throws 64 for a name that is neither a tap nor a layer of the model, listing both.
    public init(model: Model, isClassifier: Bool, layer requested: String?, flatten: Bool) throws {
        let headName = model.architecture.head?.name
        let lastPath = model.rows.last?.path
        let shape: [Int]
        switch requested {
        case nil where isClassifier && model.head != nil:
            layer = model.tapPaths["feature"] ?? ""
            description = "dense feature (input of \(headName ?? "the head"))"
            shape = [model.featureWidth]
            logitsWidth = model.outputWidth
            storesModelOutput = false
            compute = { x in
                let (feature, output) = model.forwardWithFeature(x, mode: .inference)
                return (feature, output)
            }
        case let name? where name != headName && name != lastPath && model.tapPaths[name] != lastPath:
            guard let tapShape = try? model.tapShape(name) else {
                throw StageError.usage("\(model.architecture.name) has no tap or layer \"\(name)\"; its taps are "
                                       + model.tapNames.joined(separator: ", ") + "; its layers are "
                                       + model.rows.map(\.path).joined(separator: ", "))
            }
            layer = model.tapPaths[name] ?? name
            let label = model.layer(at: layer)?.label ?? layer
            description = "output of \(layer) (\(label))" + (layer == name ? "" : ", tap \(name)")
            shape = tapShape
            logitsWidth = nil
            storesModelOutput = false
            compute = { x in
                let (output, taps) = model.forward(x, mode: .inference, taps: [name])
                return (taps[name] ?? output, nil)
            }
        default:
            // The model's own output: a regressor's or head-less model's feature, or the layer
            // asked for is the last one.
            layer = lastPath ?? ""
            description = "output of \(layer)" + (isClassifier ? " (logits)" : " (the model's output)")
            shape = [model.outputWidth]
            logitsWidth = nil
            storesModelOutput = true
            compute = { x in (model.forward(x, mode: .inference), nil) }
        }
        sampleShape = flatten ? [shape.reduce(1, *)] : shape
    }

    /// Features [N] + sampleShape and logits [N, logitsWidth] of a normalized batch.
    public func callAsFunction(_ batch: Tensor) -> (features: Tensor, logits: Tensor?) {
        let (features, logits) = compute(batch)
        return (features.reshaped([features.batch] + sampleShape), logits)
    }
}
