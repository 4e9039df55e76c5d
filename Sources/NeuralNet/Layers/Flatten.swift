/// Reshapes [N, C, H, W] to [N, C·H·W] (PyTorch's `nn.Flatten`). Cost: none; the data is shared.
public final class Flatten: Layer {
    private var inputShape: [Int] = []

    public init() {}

    public var label: String { "Flatten" }

    public func outputShape(for shape: [Int]) throws -> [Int] { [shape.reduce(1, *)] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        inputShape = x.shape
        return x.reshaped([x.batch, x.sampleSize])
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.count == inputShape.reduce(1, *), "Flatten: output gradient shape \(dy.shape) does not match the forward pass")
        return dy.reshaped(inputShape)
    }
}
