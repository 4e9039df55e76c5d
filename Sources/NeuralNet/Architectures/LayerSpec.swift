/// One entry of an architecture's general layer list: the kind of layer with its settings and
/// an optional name (its part of the state_dict keys; by default its position, as PyTorch's
/// `nn.Sequential` names children). Sequences and residual blocks nest further lists.
/// Defaults follow PyTorch (stride 1, padding 0, bias on; a pool's stride is its kernel).
/// Cost: a description only.
public struct LayerSpec: Equatable, Sendable {
    public var name: String?
    public var kind: Kind

    public indirect enum Kind: Equatable, Sendable {
        case conv(out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
        case batchNorm
        case relu
        case maxPool(kernel: Int, stride: Int?)
        case avgPool(kernel: Int, stride: Int?)
        case globalAvgPool
        case flatten
        case linear(out: Int, bias: Bool)
        case dropout(p: Double)
        case sequential([LayerSpec])
        /// post(body(x′) + shortcut(x′)), x′ = pre(x); no shortcut means the identity. All the
        /// block's layers are named directly under it (`Residual`).
        case residual(pre: [LayerSpec], body: [LayerSpec], shortcut: LayerSpec?, post: [LayerSpec])
        /// Branches on the same input, flat outputs joined in order (an ensemble's members).
        case concat([LayerSpec])
    }

    public init(_ kind: Kind, name: String? = nil) {
        self.kind = kind
        self.name = name
    }

    /// The `type` of each kind in JSON files.
    static let typeNames = ["conv", "batchnorm", "relu", "maxpool", "avgpool", "globalavgpool",
                            "flatten", "linear", "dropout", "sequential", "residual", "concat"]

    var typeName: String {
        switch kind {
        case .conv: "conv"
        case .batchNorm: "batchnorm"
        case .relu: "relu"
        case .maxPool: "maxpool"
        case .avgPool: "avgpool"
        case .globalAvgPool: "globalavgpool"
        case .flatten: "flatten"
        case .linear: "linear"
        case .dropout: "dropout"
        case .sequential: "sequential"
        case .residual: "residual"
        case .concat: "concat"
        }
    }

    /// Validates a list whose JSON field is `field` (`layers`, `layers[3].body`).
    static func validate(_ list: [LayerSpec], field: String) throws {
        var names = Set<String>()
        for (index, spec) in list.enumerated() {
            let here = "\(field)[\(index)]"
            if let name = spec.name {
                try checkName(name, field: here + ".name")
                guard names.insert(name).inserted else {
                    throw ArchitectureFieldError(field: here + ".name", "the name \"\(name)\" is used twice in this list")
                }
            }
            try spec.validateSettings(field: here)
        }
    }

    /// The names a residual block's layers get (their own, or their position in their list;
    /// "shortcut" for an unnamed shortcut), each with the list it is in.
    static func residualChildNames(pre: [LayerSpec], body: [LayerSpec], shortcut: LayerSpec?,
                                   post: [LayerSpec]) -> [(name: String, list: String)] {
        func names(_ list: [LayerSpec], _ key: String) -> [(name: String, list: String)] {
            list.enumerated().map { ($1.name ?? String($0), key) }
        }
        return names(pre, "pre") + names(body, "body") + (shortcut.map { [($0.name ?? "shortcut", "shortcut")] } ?? [])
            + names(post, "post")
    }

    /// A state_dict name part: not empty, no dots or slashes (HDF5 paths and dotted keys).
    static func checkName(_ name: String, field: String) throws {
        guard !name.isEmpty, !name.contains("."), !name.contains("/") else {
            throw ArchitectureFieldError(field: field, "a name must be non-empty without \".\" or \"/\", got \"\(name)\"")
        }
    }

    /// The largest channel count, kernel, stride or padding an architecture may ask for: far
    /// beyond any real network, small enough that no size computed from them overflows.
    public static let maxSize = 1 << 16

    private func validateSettings(field: String) throws {
        func positive(_ value: Int, _ key: String) throws {
            guard value > 0, value <= Self.maxSize else {
                throw ArchitectureFieldError(field: "\(field).\(key)", "must be in 1…\(Self.maxSize), got \(value)")
            }
        }
        switch kind {
        case .conv(let out, let kernel, let stride, let padding, _):
            try positive(out, "out"); try positive(kernel, "kernel"); try positive(stride, "stride")
            guard padding >= 0, padding <= Self.maxSize else {
                throw ArchitectureFieldError(field: field + ".padding", "must be in 0…\(Self.maxSize), got \(padding)")
            }
        case .maxPool(let kernel, let stride), .avgPool(let kernel, let stride):
            try positive(kernel, "kernel")
            if let stride { try positive(stride, "stride") }
        case .linear(let out, _):
            try positive(out, "out")
        case .dropout(let p):
            // Float(p), what the layer keeps, must be below 1 too: 0.99999999 rounds up to 1.
            guard p >= 0 && p < 1 && Float(p) < 1 else {
                throw ArchitectureFieldError(field: field + ".p", "must be in [0, 1), got \(p)")
            }
        case .sequential(let list):
            guard !list.isEmpty else { throw ArchitectureFieldError(field: field + ".layers", "the layer list is empty") }
            try Self.validate(list, field: field + ".layers")
        case .residual(let pre, let body, let shortcut, let post):
            guard !body.isEmpty else { throw ArchitectureFieldError(field: field + ".body", "the layer list is empty") }
            for (list, key) in [(pre, "pre"), (body, "body"), (post, "post")] {
                try Self.validate(list, field: "\(field).\(key)")
            }
            if let shortcut { try Self.validate([shortcut], field: field + ".shortcut") }
            // The block's layers share one namespace (`Residual`): a name may appear once.
            var seen = Set<String>()
            for (name, key) in Self.residualChildNames(pre: pre, body: body, shortcut: shortcut, post: post) {
                guard seen.insert(name).inserted else {
                    throw ArchitectureFieldError(field: "\(field).\(key)",
                        "the name \"\(name)\" is used twice in this block; give its layers distinct names")
                }
            }
        case .concat(let branches):
            guard !branches.isEmpty else { throw ArchitectureFieldError(field: field + ".branches", "the branch list is empty") }
            try Self.validate(branches, field: field + ".branches")
        case .batchNorm, .relu, .globalAvgPool, .flatten:
            break
        }
    }
}
