import KDCore

/// A network described as data: the input it takes, a body of layers and an optional linear
/// head. The value is what `--arch` names, what a JSON file in `Pipelines/archs/` holds and
/// what every model file stores (as JSON text), so a model can always be rebuilt from its file.
///
/// The body is either a VGG configuration — conv widths and `M`s, as in the seed paper's table,
/// each width a 3×3 convolution with padding 1 and bias, BatchNorm and ReLU, each `M` a 2×2
/// max-pool, then global average pooling and a flatten — or a general layer list (convolution,
/// BatchNorm, ReLU, pooling, linear, dropout, nested sequences and residual blocks) for
/// networks such as ResNet and WRN. The head is a Linear from the body's flat output (the
/// dense feature) to `out` values; without a head the dense feature is the output.
/// Cost: a description only; `Model` builds the layers.
public struct Architecture: Equatable, Sendable {
    public var name: String
    /// Per-sample input shape [C, H, W].
    public var input: [Int]
    public var body: Body
    public var head: Head?
    /// Named inner outputs: tap name → path of the layer whose output it is (`group1` →
    /// `layer1`). Every model also has the taps `feature` (the dense feature) and, with a head,
    /// `logits`.
    public var taps: [String: String]
    /// How `Model` draws the starting weights.
    public var initialization: Initialization.Scheme

    public enum Body: Equatable, Sendable {
        case vgg([VGGItem])
        case layers([LayerSpec])
    }

    /// One entry of a VGG configuration.
    public enum VGGItem: Equatable, Sendable {
        /// A 3×3 convolution (padding 1, bias) to this many channels, then BatchNorm and ReLU.
        case conv(Int)
        /// MaxPool2d(2).
        case maxPool
    }

    /// The output layer: Linear(dense feature → out), named as in the state_dict.
    public struct Head: Equatable, Sendable {
        public var out: Int
        public var name: String
        public var bias: Bool

        public init(out: Int, name: String = "classifier", bias: Bool = true) {
            self.out = out
            self.name = name
            self.bias = bias
        }
    }

    public init(name: String, input: [Int] = [3, 32, 32], body: Body, head: Head?, taps: [String: String] = [:],
                initialization: Initialization.Scheme = .pytorch) {
        self.name = name
        self.input = input
        self.body = body
        self.head = head
        self.taps = taps
        self.initialization = initialization
    }

    /// Taps every model has besides those the architecture names.
    public static let builtInTaps = ["feature", "logits"]

    /// A VGG network from a configuration such as "64 64 M 128", with a head to `out` values
    /// or none; nil when the configuration does not parse (files go through `load`, which
    /// says why).
    public static func vgg(_ name: String, _ config: String, head out: Int?,
                           input: [Int] = [3, 32, 32]) -> Architecture? {
        (try? parseVGG(config)).map { Architecture(name: name, input: input, body: .vgg($0), head: out.map { Head(out: $0) }) }
    }

    /// The same network on inputs of another shape [C, H, W] (e.g. Fashion-MNIST's 1×32×32).
    public func with(input shape: [Int]) -> Architecture {
        var a = self
        a.input = shape
        return a
    }

    /// The same network with a head to `classes` values; throws `StageError` 64 when the
    /// network has no head.
    public func with(classes: Int) throws -> Architecture {
        guard var head else {
            throw StageError.usage("architecture \(name) has no head, so its number of classes cannot be set")
        }
        head.out = classes
        var a = self
        a.head = head
        return a
    }

    /// Parses "64 64 M 128" (spaces or commas between entries). Throws a description of the
    /// first bad entry.
    static func parseVGG(_ config: String) throws -> [VGGItem] {
        let tokens = config.split(whereSeparator: { $0 == " " || $0 == "," })
        return try tokens.enumerated().map { index, token in
            if token == "M" || token == "m" { return .maxPool }
            guard let width = Int(token) else {
                throw ArchitectureFieldError(field: "vgg[\(index)]",
                                             "expected a channel count or M, got \"\(token)\"")
            }
            return .conv(width)
        }
    }

    /// The configuration as text, "64 64 M 128".
    var vggText: String? {
        guard case .vgg(let items) = body else { return nil }
        return items.map { if case .conv(let w) = $0 { String(w) } else { "M" } }.joined(separator: " ")
    }

    /// The whole body as one layer list, the VGG form expanded with torchvision's names
    /// (`features`, then `avgpool` and `flatten`).
    public var layerList: [LayerSpec] {
        switch body {
        case .layers(let list):
            return list
        case .vgg(let items):
            let features = items.flatMap { item -> [LayerSpec] in
                switch item {
                case .conv(let width):
                    return [LayerSpec(.conv(out: width, kernel: 3, stride: 1, padding: 1, bias: true)),
                            LayerSpec(.batchNorm), LayerSpec(.relu)]
                case .maxPool:
                    return [LayerSpec(.maxPool(kernel: 2, stride: nil))]
                }
            }
            return [LayerSpec(.sequential(features), name: "features"),
                    LayerSpec(.globalAvgPool, name: "avgpool"),
                    LayerSpec(.flatten, name: "flatten")]
        }
    }

    /// Checks every value a builder needs (positive sizes, probabilities in range, names
    /// without dots) and throws an `ArchitectureFieldError` naming the field, in the JSON
    /// file's terms (`layers[2].kernel`, `head.out`).
    public func validate() throws {
        guard input.count == 3, input.allSatisfy({ $0 > 0 && $0 <= LayerSpec.maxSize }) else {
            throw ArchitectureFieldError(field: "input", "expected three sizes [C, H, W] in 1…\(LayerSpec.maxSize), got \(input)")
        }
        switch body {
        case .vgg(let items):
            guard !items.isEmpty else { throw ArchitectureFieldError(field: "vgg", "the configuration is empty") }
            for (index, item) in items.enumerated() {
                if case .conv(let width) = item, width <= 0 || width > LayerSpec.maxSize {
                    throw ArchitectureFieldError(field: "vgg[\(index)]",
                                                 "a channel count must be in 1…\(LayerSpec.maxSize), got \(width)")
                }
            }
        case .layers(let list):
            guard !list.isEmpty else { throw ArchitectureFieldError(field: "layers", "the layer list is empty") }
            try LayerSpec.validate(list, field: "layers")
        }
        for name in taps.keys.sorted() {
            try LayerSpec.checkName(name, field: "taps.\(name)")
            guard !Self.builtInTaps.contains(name) else {
                throw ArchitectureFieldError(field: "taps.\(name)", "\"\(name)\" is built in; choose another name")
            }
        }
        if let head {
            guard head.out > 0 else { throw ArchitectureFieldError(field: "head.out", "must be positive, got \(head.out)") }
            try LayerSpec.checkName(head.name, field: "head.name")
        }
    }
}

/// A value of an architecture that cannot be used, with the field it is in (`layers[2].out`).
/// Loading from a file turns it into a `StageError` 65 naming the file.
public struct ArchitectureFieldError: Error, CustomStringConvertible, Sendable {
    public var field: String
    public var problem: String

    public init(field: String, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    /// "field layers[2].out: must be positive, got 0"; problems of the whole text (not JSON,
    /// neither body form) have an empty field.
    public var description: String { field.isEmpty ? problem : "field \(field): \(problem)" }
}
