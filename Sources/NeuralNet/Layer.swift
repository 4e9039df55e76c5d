/// Whether a forward pass trains (batch statistics, dropout on, caches for backward) or only
/// infers (running statistics, dropout off).
public enum Mode: Sendable {
    case training
    case inference
}

/// One step of a network, in the style of llm.c: `forward` computes the output and keeps what
/// `backward` needs; `backward` takes the gradient of the loss with respect to the output, adds
/// into the parameters' gradients and returns the gradient with respect to the input.
///
/// `backward` must follow a `forward` in training mode on the same batch.
public protocol Layer: AnyObject {
    /// The layer's kind and settings, as a short label for tables (`Conv2d(3→64, 3×3, s1, p1)`).
    var label: String { get }

    /// Per-sample output shape for a per-sample input shape ([C, H, W] or [D]); throws a
    /// `ShapeError` when the input does not fit the layer.
    func outputShape(for input: [Int]) throws -> [Int]

    func forward(_ x: Tensor, mode: Mode) -> Tensor
    func backward(_ dy: Tensor) -> Tensor

    /// Trainable arrays under their PyTorch state_dict names relative to the layer
    /// (`weight`, `bias`; `0.weight` inside a container).
    var namedParameters: [(String, Parameter)] { get }

    /// Non-trainable state under PyTorch names (`running_mean`, `running_var`).
    var namedBuffers: [(String, Parameter)] { get }
}

extension Layer {
    public var namedParameters: [(String, Parameter)] { [] }
    public var namedBuffers: [(String, Parameter)] { [] }
}

/// A layer was given an input whose shape it cannot take.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
