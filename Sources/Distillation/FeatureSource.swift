import KDCore
import NeuralNet

/// What `kd extract` computes from a batch with a frozen model (inference mode):
///
/// - a classifier (a head whose outputs are the store's classes): its dense feature, the input
///   of the output layer, plus the logits;
/// - any other model (a distilled student, whose output regresses part of its teacher's
///   features, or a network without head): its output, which is what it stands for;
/// - with a layer name: that layer's output alone (no logits), running the network only as far
///   as that layer; [N, C, H, W] outputs are kept or flattened to [N, C·H·W].
///
/// Cost: one inference pass over the batch, a partial one for an intermediate layer.
public struct FeatureSource {
    /// Path of the layer whose output is stored (`flatten`, `classifier`, `features.10`).
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

    /// Throws 64 for a layer name the model does not have, listing the names it has.
    public init(model: Model, isClassifier: Bool, layer requested: String?, flatten: Bool) throws {
        let headName = model.architecture.head?.name
        let trunkRows = model.rows.filter { $0.path != headName }
        let shape: [Int]
        switch requested {
        case nil where isClassifier && model.head != nil:
            layer = trunkRows.last?.path ?? ""
            description = "dense feature (input of \(headName ?? "the head"))"
            shape = [model.featureWidth]
            logitsWidth = model.outputWidth
            storesModelOutput = false
            compute = { x in
                let (feature, output) = model.forwardWithFeature(x, mode: .inference)
                return (feature, output)
            }
        case let name? where name != headName && name != model.rows.last?.path:
            guard let run = Self.forward(to: name, in: model.trunk, prefix: ""),
                  let row = model.rows.last(where: { $0.path == name || $0.path.hasPrefix(name + ".") }) else {
                throw StageError.usage("\(model.architecture.name) has no layer \"\(name)\"; its layers are "
                                       + model.rows.map(\.path).joined(separator: ", "))
            }
            layer = name
            description = "output of \(name) (\(row.label))"
            shape = row.outputShape
            logitsWidth = nil
            storesModelOutput = false
            compute = { x in (run(x), nil) }
        default:
            // The model's own output: a regressor's or head-less model's feature, or the layer
            // asked for is the last one.
            layer = model.rows.last?.path ?? ""
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

    /// The function taking the input of `sequential` (whose layers are named `prefix.name`) to
    /// the output of the layer at `target`, through nested sequences and residual blocks; nil
    /// when no layer has that path.
    private static func forward(to target: String, in sequential: Sequential, prefix: String) -> ((Tensor) -> Tensor)? {
        var before: [any Layer] = []
        func runBefore(_ x: Tensor, _ layers: [any Layer]) -> Tensor {
            layers.reduce(x) { $1.forward($0, mode: .inference) }
        }
        for (name, layer) in sequential.layers {
            let path = prefix.isEmpty ? name : prefix + "." + name
            if path == target {
                let layers = before + [layer]
                return { x in runBefore(x, layers) }
            }
            if target.hasPrefix(path + "."), let inner = forward(to: target, inside: layer, path: path) {
                let layers = before
                return { x in inner(runBefore(x, layers)) }
            }
            before.append(layer)
        }
        return nil
    }

    /// As `forward(to:in:prefix:)` for a container layer at `path`: a sequence, or a residual
    /// block (its body's layers are named `path.name`, its shortcut's `path.shortcut.name`).
    private static func forward(to target: String, inside layer: any Layer, path: String) -> ((Tensor) -> Tensor)? {
        switch layer {
        case let sequential as Sequential:
            return forward(to: target, in: sequential, prefix: path)
        case let block as Residual:
            if target.hasPrefix(path + ".shortcut."), let shortcut = block.shortcut {
                return forward(to: target, inside: shortcut, path: path + ".shortcut")
            }
            return forward(to: target, inside: block.body, path: path)
        default:
            return nil
        }
    }
}
