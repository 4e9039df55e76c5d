/// A residual block: y = post(body(x′) + shortcut(x′)) with x′ = pre(x), where `pre` and `post`
/// may be empty and a missing shortcut is the identity. This covers both CIFAR families:
/// - ResNet (He et al.): body conv1-bn1-relu-conv2-bn2, shortcut `downsample` (1×1 conv + BN)
///   where the shape changes, post the ReLU after the sum;
/// - pre-activation WRN (Zagoruyko & Komodakis): where the shape changes, pre bn1-relu1 shared
///   by the body and the 1×1 `convShortcut`; otherwise bn1-relu1 open the body and the shortcut
///   is the raw input.
/// Every child sits directly under the block in the state_dict (`conv1.weight`,
/// `downsample.0.weight`, `convShortcut.weight`), as in those PyTorch modules.
/// Cost: that of its children plus one pass to add the two paths (with the ReLU after them, or
/// none in prediction) and one to add their gradients.
public final class Residual: LayerContainer {
    public typealias Named = (name: String, layer: any Layer)
    public let pre: [Named]
    public let body: [Named]
    public let shortcut: Named?
    public let post: [Named]
    public var hooks: LayerHooks?

    public init(pre: [Named] = [], body: [Named], shortcut: Named? = nil, post: [Named] = []) {
        precondition(!body.isEmpty, "Residual: the body needs at least one layer")
        self.pre = pre
        self.body = body
        self.shortcut = shortcut
        self.post = post
    }

    public var label: String { shortcut == nil ? "Residual" : "Residual(with \(shortcut!.name))" }

    public var children: [(name: String, layer: any Layer)] {
        pre + body + (shortcut.map { [$0] } ?? []) + post
    }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        func chain(_ list: [Named], _ shape: [Int]) throws -> [Int] {
            try list.reduce(shape) { try $1.layer.outputShape(for: $0) }
        }
        let input = try chain(pre, shape)
        let out = try chain(body, input)
        let skip = try shortcut?.layer.outputShape(for: input) ?? input
        guard out == skip else {
            throw ShapeError("\(label): the body gives \(out) but the shortcut gives \(skip)")
        }
        return try chain(post, out)
    }

    /// The shortcut runs first, so that the sum can be made where the body ends: with `post` a
    /// lone ReLU, the sum and the rectifier are one pass (`ReLU.forward(_:adding:mode:)`); in
    /// prediction, with the body ending in a convolution and its batch norm, inside that
    /// convolution as its output lands (`Conv2d.predict(_:foldingIn:adding:relu:)`). Layers the
    /// hooks watch (a tap, a profile) run one by one.
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let input = hooks.forward(pre, x, mode: mode)
        let skip = shortcut.map { hooks.forward($0.layer, input, mode: mode) } ?? input
        let relu = post.count == 1 && !hooks.watches(post[0].layer) ? post[0].layer as? ReLU : nil
        if mode == .prediction, post.isEmpty || relu != nil, let (conv, bn) = hooks.convolutionWithNorm(body, at: body.count - 2) {
            let lead = hooks.forward(Array(body.dropLast(2)), input, mode: mode)
            return conv.predict(lead, foldingIn: bn, adding: skip, relu: relu != nil)
        }
        var sum = hooks.forward(body, input, mode: mode)
        precondition(sum.shape == skip.shape, "\(label): body output \(sum.shape) but shortcut \(skip.shape)")
        if let relu { return relu.forward(sum, adding: skip, mode: mode) }
        sum.add(skip)
        return hooks.forward(post, sum, mode: mode)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dSum = hooks.backward(post, dy)
        var dInput = hooks.backward(body, dSum)
        dInput.add(shortcut.map { hooks.backward($0.layer, dSum) } ?? dSum)
        return hooks.backward(pre, dInput)
    }
}
