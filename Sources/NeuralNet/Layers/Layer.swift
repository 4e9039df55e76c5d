/// Whether a forward pass trains (batch statistics, dropout on, caches for backward) or only
/// infers (running statistics, dropout off), and whether a backward may follow.
public enum Mode: Sendable {
    /// Batch statistics, dropout on; every layer keeps what its backward needs.
    case training
    /// Running statistics, dropout off; the caches are kept, so an input gradient may follow
    /// (the gradient checks and reference tests take one through a frozen network).
    case inference
    /// As `inference`, with no backward to follow: layers keep nothing of the pass, so only the
    /// activations in flight take memory (evaluation, extraction, measuring a run).
    case prediction

    /// Whether the layers keep what a backward needs.
    public var keepsCaches: Bool { self != .prediction }
}

/// One step of a network, in the style of llm.c: `forward` computes the output and keeps what
/// `backward` needs; `backward` takes the gradient of the loss with respect to the output, adds
/// into the parameters' gradients and returns the gradient with respect to the input.
///
/// `backward` must follow a `forward` on the same batch in `training` or `inference` mode (a
/// `prediction` forward keeps nothing for it).
public protocol Layer: AnyObject {
    /// The layer's kind and settings, as a short label for tables (`Conv2d(3→64, 3×3, s1, p1)`).
    var label: String { get }

    /// Per-sample output shape for a per-sample input shape ([C, H, W] or [D]); throws a
    /// `ShapeError` when the input does not fit the layer.
    func outputShape(for input: [Int]) throws -> [Int]

    func forward(_ x: Tensor, mode: Mode) -> Tensor
    func backward(_ dy: Tensor) -> Tensor

    /// The trainable arrays this layer holds itself, not its children's, under their PyTorch
    /// names (`weight`, `bias`). The whole tree's, with paths, is `namedParameters`.
    var ownParameters: [(String, Parameter)] { get }

    /// Non-trainable state held by the layer itself, under PyTorch names (`running_mean`).
    var ownBuffers: [(String, Parameter)] { get }

    /// The layers this one is made of, each once, with its part of the state_dict path (`0`,
    /// `conv1`, `downsample`); empty for a layer that computes by itself. Everything that walks
    /// a network — names, initialization, checkpoints, dropout reseeding, summaries, profiles,
    /// taps — goes through this list (`LayerTree`).
    var children: [(name: String, layer: any Layer)] { get }
}

extension Layer {
    public var ownParameters: [(String, Parameter)] { [] }
    public var ownBuffers: [(String, Parameter)] { [] }
    public var children: [(name: String, layer: any Layer)] { [] }
}

/// A layer was given an input whose shape it cannot take.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
