/// Layers applied one after another (PyTorch's `nn.Sequential`). Each layer has a name that
/// becomes the middle of its state_dict keys: the parameter `weight` of the layer named `0` is
/// `0.weight`, and containers nest (`features.0.weight`). Cost: that of its layers.
public final class Sequential: LayerContainer {
    public let layers: [(name: String, layer: any Layer)]
    public var hooks: LayerHooks?

    public init(_ layers: [(String, any Layer)]) {
        self.layers = layers.map { (name: $0.0, layer: $0.1) }
    }

    /// Layers named by their position, "0", "1", … as PyTorch names them.
    public convenience init(_ layers: [any Layer]) {
        self.init(layers.enumerated().map { (String($0.offset), $0.element) })
    }

    public var label: String { "Sequential(\(layers.count) layers)" }

    public var children: [(name: String, layer: any Layer)] { layers }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        try layers.reduce(shape) { try $1.layer.outputShape(for: $0) }
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        hooks.forward(layers, x, mode: mode)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        hooks.backward(layers, dy)
    }
}
