import KDCore

/// A network built from an `Architecture`: the trunk (everything up to the dense feature, e.g.
/// torchvision's VGG `features`, `avgpool`, `flatten`, or a ResNet's `conv1` … `layer3`,
/// `avgpool`, `flatten`) and an optional linear head (`classifier`, `fc`), initialized from one
/// seed as the architecture's family does it.
///
/// Parameters and buffers carry PyTorch state_dict names (`features.0.weight`,
/// `layer1.0.bn1.running_mean`, `fc.bias`), so a model maps one to one onto its PyTorch twin
/// and onto its checkpoint file. A forward can also return named inner outputs (taps: `group1`,
/// `feature`, `logits`, …), and a backward take gradients for them beside the output's.
/// Cost: that of its layers; a tap costs nothing when not asked for.
public final class Model: LayerContainer {
    /// The most images one pass may take: beyond what fits in memory for any network here,
    /// so a mistyped batch size is refused (64) before anything is allocated.
    public static let maxBatch = 65_536

    public let architecture: Architecture
    public let trunk: Sequential
    public let head: Linear?
    /// Width of the dense feature (the head's input; the output when there is no head).
    public let featureWidth: Int
    /// Width of the output.
    public let outputWidth: Int
    /// Layer path of every tap: the architecture's, plus `feature` and (with a head) `logits`.
    public let tapPaths: [String: String]
    /// Per-sample output shape of every layer, by path.
    public let outputShapes: [String: [Int]]
    public var hooks: LayerHooks?
    private var layersByPath: [String: any Layer] = [:]
    /// The convolution the images go into first, when the trunk starts with one (through
    /// nested `Sequential`s): the layer whose input gradient training skips.
    private let firstConvolution: Conv2d?

    /// Builds the layers and draws the initial weights from `RandomState(seed:)` in state_dict
    /// order; dropout layers then get their own generators from the same stream.
    /// Throws `StageError` 65 when the architecture is invalid, its shapes do not chain or a tap
    /// names a layer it does not have.
    public init(_ architecture: Architecture, seed: UInt64 = 0) throws {
        let graph = try ModelGraph(architecture)
        self.architecture = architecture
        trunk = graph.trunk
        head = graph.head
        featureWidth = graph.featureWidth
        outputWidth = graph.outputWidth
        outputShapes = graph.outputShapes
        var taps = architecture.taps
        taps["feature"] = trunk.layers.last?.name
        if let name = architecture.head?.name { taps["logits"] = name }
        tapPaths = taps
        var first: (any Layer)? = trunk
        while let sequential = first as? Sequential { first = sequential.layers.first?.layer }
        firstConvolution = first as? Conv2d
        let hooks = LayerHooks()
        self.hooks = hooks
        trunk.hooks = hooks
        var byPath: [String: any Layer] = [:]
        for (path, layer) in walk() {
            byPath[path] = layer
            if path != "", let container = layer as? any LayerContainer { container.hooks = hooks }
        }
        layersByPath = byPath
        for (name, path) in architecture.taps.sorted(by: { $0.key < $1.key }) where byPath[path] == nil {
            throw StageError.badData("architecture \(architecture.name): tap \(name) names the layer \"\(path)\", "
                                     + "which it does not have; its layers are "
                                     + byPath.keys.filter { !$0.isEmpty }.sorted().joined(separator: ", "))
        }
        var rng = RandomState(seed: seed)
        Initialization.initialize(architecture.initialization, parameters: namedParameters, buffers: namedBuffers,
                                  rng: &rng)
        for dropout in dropouts { dropout.rng = RandomState(seed: rng.next()) }
    }

    public var label: String { "Model(\(architecture.name))" }

    /// The trunk's layers, then the head under its name.
    public var children: [(name: String, layer: any Layer)] {
        trunk.layers + (head.map { [(architecture.head?.name ?? "head", $0 as any Layer)] } ?? [])
    }

    /// The dropout layers, in order: a trainer saves and restores their generators (`rng`).
    public var dropouts: [Dropout] { walk().compactMap { $0.layer as? Dropout } }

    /// The layer table, for summaries: every layer that computes by itself, and each residual
    /// block (whose row gives the block's output), in the order of the tree.
    public var rows: [LayerRow] {
        walk().filter { !$0.path.isEmpty && ($0.layer.children.isEmpty || $0.layer is Residual) }.map { path, layer in
            LayerRow(path: path, label: layer.label, outputShape: outputShapes[path] ?? [],
                     parameterCount: layer.ownParameters.reduce(0) { $0 + $1.1.value.count })
        }
    }

    /// Tap names, the architecture's first (sorted), then `feature` and `logits`.
    public var tapNames: [String] {
        architecture.taps.keys.sorted() + Architecture.builtInTaps.filter { tapPaths[$0] != nil }
    }

    /// Per-sample shape of a tap's output — a tap name, or any layer's path, which works as a
    /// tap too; throws `StageError` 64 for a name that is neither.
    public func tapShape(_ name: String) throws -> [Int] {
        guard let shape = outputShapes[tapPaths[name] ?? name], !name.isEmpty else {
            throw StageError.usage("\(architecture.name) has no tap \"\(name)\"; its taps are "
                                   + tapNames.joined(separator: ", "))
        }
        return shape
    }

    /// The layer at a state_dict path (`layer1.0.conv1`), or nil.
    public func layer(at path: String) -> (any Layer)? { layersByPath[path] }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        let feature = try trunk.outputShape(for: shape)
        return try head?.outputShape(for: feature) ?? feature
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        forward(x, mode: mode, taps: []).output
    }

    /// The output and the outputs of the taps named (tap names or layer paths; each
    /// [N] + `tapShape`). A name the model lacks is a programming error: check user input with
    /// `tapShape` first.
    public func forward(_ x: Tensor, mode: Mode, taps names: [String]) -> (output: Tensor, taps: [String: Tensor]) {
        precondition(Array(x.shape.dropFirst()) == architecture.input,
                     "\(label): input \(x.shape) is not [N] + \(architecture.input)")
        hooks?.recording = Dictionary(grouping: names, by: { ObjectIdentifier(tapLayer($0)) })
        defer { hooks?.recording = [:]; hooks?.recorded = [:] }
        let feature = trunk.forward(x, mode: mode)
        let output = head.map { hooks.forward($0, feature, mode: mode) } ?? feature
        return (output, hooks?.recorded ?? [:])
    }

    /// The output [N, outputWidth] and the dense feature [N, featureWidth] it was computed from
    /// (the same tensor when there is no head).
    public func forwardWithFeature(_ x: Tensor, mode: Mode) -> (feature: Tensor, output: Tensor) {
        let (output, taps) = forward(x, mode: mode, taps: ["feature"])
        return (taps["feature"] ?? output, output)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        backward(dy, taps: [:])
    }

    /// Backward from the output's gradient plus gradients for taps of the last training-mode
    /// forward, each added where its tap was taken. Without `inputGradient` (training, where
    /// nothing reads it) a first layer that can skip the gradient of the images does
    /// (`Conv2d.computesInputGradient`), and the result is then empty.
    public func backward(_ dy: Tensor, taps gradients: [String: Tensor], inputGradient: Bool = true) -> Tensor {
        firstConvolution?.computesInputGradient = inputGradient
        hooks?.injecting = Dictionary(gradients.map { (ObjectIdentifier(tapLayer($0.key)), $0.value) }) { a, b in
            var sum = a
            sum.add(b)
            return sum
        }
        defer { hooks?.injecting = [:] }
        return trunk.backward(head.map { hooks.backward($0, dy) } ?? dy)
    }

    private func tapLayer(_ name: String) -> any Layer {
        guard !name.isEmpty, let layer = layersByPath[tapPaths[name] ?? name] else {
            preconditionFailure("\(label) has no tap \"\(name)\"; its taps are \(tapNames)")
        }
        return layer
    }

    /// Parameters then buffers: everything a model file stores.
    public var stateDict: [(String, Parameter)] { namedParameters + namedBuffers }

    /// Number of trainable values (what torchsummary calls "Total params").
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.1.value.count } }
}
