/// The one traversal of a network: every layer under a root, each reached once through
/// `children`, with its dotted state_dict path. Names, initialization order, checkpoints,
/// dropout reseeding, summaries, profiles and taps all come from here, so a container that
/// lists its children is covered by all of them at once.
/// Cost: one visit per layer; the paths are built as strings.
extension Layer {
    /// This layer (path "") and every layer below it, parents before children, children in
    /// their order.
    public func walk() -> [(path: String, layer: any Layer)] {
        var out: [(path: String, layer: any Layer)] = []
        func visit(_ layer: any Layer, _ path: String) {
            out.append((path, layer))
            for (name, child) in layer.children { visit(child, LayerTree.join(path, name)) }
        }
        visit(self, "")
        return out
    }

    /// Trainable arrays of the whole tree under their state_dict keys (`layer1.0.conv1.weight`).
    public var namedParameters: [(String, Parameter)] {
        walk().flatMap { path, layer in layer.ownParameters.map { (LayerTree.join(path, $0.0), $0.1) } }
    }

    /// Non-trainable state of the whole tree (`layer1.0.bn1.running_mean`).
    public var namedBuffers: [(String, Parameter)] {
        walk().flatMap { path, layer in layer.ownBuffers.map { (LayerTree.join(path, $0.0), $0.1) } }
    }

    /// The layers that compute by themselves (no children), with their paths.
    public var leaves: [(path: String, layer: any Layer)] {
        walk().filter { $0.layer.children.isEmpty }
    }
}

public enum LayerTree {
    /// "layer1" + "0" → "layer1.0"; an empty prefix adds no dot.
    public static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }
}

/// A layer that calls into its children and lets its network's `LayerHooks` see each call.
public protocol LayerContainer: Layer {
    var hooks: LayerHooks? { get set }
}

/// What a network's containers do around each call into a child: record the outputs of the
/// tapped layers, add in the gradients given for those outputs before the layer's backward,
/// and time the leaves when profiling. A `Model` owns one and hands it to all its containers;
/// without taps or profiling a call costs one dictionary look-up.
public final class LayerHooks {
    /// Tap names of each layer whose output the current forward records.
    var recording: [ObjectIdentifier: [String]] = [:]
    /// The recorded outputs, by tap name.
    var recorded: [String: Tensor] = [:]
    /// Gradients to add to the output gradient of these layers in the current backward.
    var injecting: [ObjectIdentifier: Tensor] = [:]
    /// Set while profiling: receives the time of every leaf call.
    var timer: LayerTimer?

    public init() {}

    func forward(_ layer: any Layer, _ x: Tensor, mode: Mode) -> Tensor {
        let y = timer?.measure(layer, forward: true) { layer.forward(x, mode: mode) } ?? layer.forward(x, mode: mode)
        if !recording.isEmpty, let names = recording[ObjectIdentifier(layer)] {
            for name in names { recorded[name] = y }
        }
        return y
    }

    func backward(_ layer: any Layer, _ dy: Tensor) -> Tensor {
        var dy = dy
        if !injecting.isEmpty, let extra = injecting[ObjectIdentifier(layer)] { dy.add(extra) }
        return timer?.measure(layer, forward: false) { layer.backward(dy) } ?? layer.backward(dy)
    }
}

/// Time spent in each leaf layer, forward and backward, accumulated over calls (profiles).
final class LayerTimer {
    private let clock = ContinuousClock()
    private(set) var forward: [ObjectIdentifier: Duration] = [:]
    private(set) var backward: [ObjectIdentifier: Duration] = [:]
    private let leaves: Set<ObjectIdentifier>
    var counting = true

    init(leaves: [any Layer]) { self.leaves = Set(leaves.map { ObjectIdentifier($0) }) }

    func measure(_ layer: any Layer, forward isForward: Bool, _ body: () -> Tensor) -> Tensor {
        let id = ObjectIdentifier(layer)
        guard counting, leaves.contains(id) else { return body() }
        let start = clock.now
        let y = body()
        let spent = clock.now - start
        if isForward { forward[id, default: .zero] += spent } else { backward[id, default: .zero] += spent }
        return y
    }
}

extension Optional where Wrapped == LayerHooks {
    /// `layer.forward`, seen by the hooks when there are any.
    func forward(_ layer: any Layer, _ x: Tensor, mode: Mode) -> Tensor {
        self?.forward(layer, x, mode: mode) ?? layer.forward(x, mode: mode)
    }

    /// The layers of `list` one after another, each seen by the hooks. In prediction mode a
    /// convolution followed by a batch norm (and a ReLU) runs as one (`Conv2d.predict`); in
    /// training the convolution measures the norm's batch statistics as its output lands
    /// (`Conv2d.forwardMeasuringMoments`); in every mode a batch norm followed by a ReLU runs as
    /// one (`BatchNorm2d.forward(_:mode:rectify:)`) — unless the hooks watch one of them (a tap,
    /// a profile).
    func forward(_ list: [(name: String, layer: any Layer)], _ x: Tensor, mode: Mode) -> Tensor {
        var y = x
        var i = 0
        func rectifierFollows(_ j: Int) -> Bool { j < list.count && list[j].layer is ReLU && !watches(list[j].layer) }
        while i < list.count {
            if mode == .prediction || mode == .training, let (conv, bn) = convolutionWithNorm(list, at: i) {
                let relu = rectifierFollows(i + 2)
                if mode == .prediction {
                    y = conv.predict(y, foldingIn: bn, relu: relu)
                } else {
                    let (output, moments) = conv.forwardMeasuringMoments(y, mode: mode)
                    y = bn.forward(output, mode: mode, rectify: relu, moments: moments)
                }
                i += relu ? 3 : 2
            } else if let bn = list[i].layer as? BatchNorm2d, !watches(bn), rectifierFollows(i + 1) {
                y = bn.forward(y, mode: mode, rectify: true)
                i += 2
            } else {
                y = forward(list[i].layer, y, mode: mode)
                i += 1
            }
        }
        return y
    }

    /// The convolution at `i` of `list` and the batch norm of its output right after it, when the
    /// hooks watch neither: a pair the chains above (and a residual block's end) run as one.
    func convolutionWithNorm(_ list: [(name: String, layer: any Layer)], at i: Int) -> (Conv2d, BatchNorm2d)? {
        guard i >= 0, i + 1 < list.count, let conv = list[i].layer as? Conv2d, let bn = list[i + 1].layer as? BatchNorm2d,
              bn.channels == conv.outChannels, !watches(conv), !watches(bn) else { return nil }
        return (conv, bn)
    }

    /// Backward through `list` after `forward(list)`: a ReLU that ran inside the batch norm
    /// before it goes back inside that norm's backward.
    func backward(_ list: [(name: String, layer: any Layer)], _ dy: Tensor) -> Tensor {
        var dx = dy
        var i = list.count - 1
        while i >= 0 {
            if i > 0, list[i].layer is ReLU, let bn = list[i - 1].layer as? BatchNorm2d, bn.rectified {
                dx = backward(bn, dx)
                i -= 2
            } else {
                dx = backward(list[i].layer, dx)
                i -= 1
            }
        }
        return dx
    }

    /// Whether the hooks need to see `layer`'s own call: its output is tapped, or layers are timed.
    func watches(_ layer: any Layer) -> Bool {
        guard let hooks = self else { return false }
        return hooks.timer != nil || hooks.recording[ObjectIdentifier(layer)] != nil
    }

    /// `layer.backward`, seen by the hooks when there are any.
    func backward(_ layer: any Layer, _ dy: Tensor) -> Tensor {
        self?.backward(layer, dy) ?? layer.backward(dy)
    }
}
