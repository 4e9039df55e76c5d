import KDCore

/// A network built from an `Architecture`: the trunk (everything up to the dense feature, as
/// torchvision's VGG names it: `features`, `avgpool`, `flatten`) and an optional linear head
/// (`classifier`), with PyTorch's default initialization from one seed.
///
/// Parameters and buffers carry PyTorch state_dict names (`features.0.weight`,
/// `features.1.running_mean`, `classifier.weight`), so a model maps one to one onto its PyTorch
/// twin and onto its checkpoint file. `forwardWithFeature` also returns the dense feature (the
/// head's input), which feature extraction stores. Cost: that of its layers.
public final class Model: Layer {
    public let architecture: Architecture
    public let trunk: Sequential
    public let head: Linear?
    /// The layer table, for summaries.
    public let rows: [LayerRow]
    /// Width of the dense feature (the head's input; the output when there is no head).
    public let featureWidth: Int
    /// Width of the output.
    public let outputWidth: Int
    /// The dropout layers, in order: a trainer saves and restores their generators (`rng`).
    public let dropouts: [Dropout]

    /// Builds the layers and draws the initial weights from `RandomState(seed:)` in state_dict
    /// order; dropout layers then get their own generators from the same stream.
    /// Throws `StageError` 65 when the architecture is invalid or its shapes do not chain.
    public init(_ architecture: Architecture, seed: UInt64 = 0) throws {
        let graph = try ModelGraph(architecture)
        self.architecture = architecture
        trunk = graph.trunk
        head = graph.head
        rows = graph.rows
        featureWidth = graph.featureWidth
        outputWidth = graph.outputWidth
        dropouts = graph.dropouts
        var rng = RandomState(seed: seed)
        Initialization.pyTorchDefaults(parameters: namedParameters, buffers: namedBuffers, rng: &rng)
        for dropout in dropouts { dropout.rng = RandomState(seed: rng.next()) }
    }

    public var label: String { "Model(\(architecture.name))" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        let feature = try trunk.outputShape(for: shape)
        return try head?.outputShape(for: feature) ?? feature
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        forwardWithFeature(x, mode: mode).output
    }

    /// The output [N, outputWidth] and the dense feature [N, featureWidth] it was computed from
    /// (the same tensor when there is no head).
    public func forwardWithFeature(_ x: Tensor, mode: Mode) -> (feature: Tensor, output: Tensor) {
        precondition(Array(x.shape.dropFirst()) == architecture.input,
                     "\(label): input \(x.shape) is not [N] + \(architecture.input)")
        let feature = trunk.forward(x, mode: mode)
        return (feature, head?.forward(feature, mode: mode) ?? feature)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        trunk.backward(head?.backward(dy) ?? dy)
    }

    public var namedParameters: [(String, Parameter)] {
        trunk.namedParameters + headEntries(head?.namedParameters)
    }

    public var namedBuffers: [(String, Parameter)] {
        trunk.namedBuffers + headEntries(head?.namedBuffers)
    }

    /// Parameters then buffers: everything a model file stores.
    public var stateDict: [(String, Parameter)] { namedParameters + namedBuffers }

    /// Number of trainable values (what torchsummary calls "Total params").
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.1.value.count } }

    private func headEntries(_ entries: [(String, Parameter)]?) -> [(String, Parameter)] {
        guard let name = architecture.head?.name else { return [] }
        return (entries ?? []).map { (name + "." + $0.0, $0.1) }
    }
}
