import Foundation
import KDCore

// Architectures as JSON, the form of `--arch FILE.json`, of Pipelines/archs/ and of the `arch`
// attribute of model files:
//
//   {"name": "teacher", "input": [3, 32, 32],
//    "vgg": "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M",
//    "head": {"out": 10}}
//
// or, for any other network, a layer list instead of "vgg":
//
//   "layers": [{"type": "conv", "out": 16, "kernel": 3, "padding": 1, "bias": false, "name": "conv1"},
//              {"type": "batchnorm"}, {"type": "relu"},
//              {"type": "residual", "pre": [...], "body": [...], "shortcut": {...}, "post": [...]},
//              {"type": "concat", "branches": [...]},     (flat outputs side by side: ensembles)
//              {"type": "globalavgpool"}, {"type": "flatten"}]
//
// plus, optionally, named inner outputs and the initialization scheme:
//
//   "taps": {"group1": "layer1", "group2": "layer2"}, "init": "resnet-cifar"   (or "pytorch", "wrn")
//
// Decoding is strict: an unknown field or layer type is an error naming where it is, so a typo
// cannot silently fall back to a default.

/// A coding key for any field name, used to list the fields an object really has.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws for the first field of the object at `decoder` that is not in `allowed`.
private func rejectUnknownFields(_ decoder: Decoder, allowed: [String], what: String) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys where !allowed.contains(key.stringValue) {
        throw DecodingError.dataCorruptedError(
            forKey: key, in: container,
            debugDescription: "unknown field \"\(key.stringValue)\" (\(what) takes: \(allowed.joined(separator: ", ")))")
    }
}

extension Architecture: Codable {
    private enum Keys: String, CodingKey { case name, input, vgg, layers, head, taps, initialization = "init" }

    public init(from decoder: Decoder) throws {
        try rejectUnknownFields(decoder, allowed: ["name", "input", "vgg", "layers", "head", "taps", "init"],
                                what: "an architecture")
        let c = try decoder.container(keyedBy: Keys.self)
        name = try c.decode(String.self, forKey: .name)
        input = try c.decodeIfPresent([Int].self, forKey: .input) ?? [3, 32, 32]
        head = try c.decodeIfPresent(Head.self, forKey: .head)
        taps = try c.decodeIfPresent([String: String].self, forKey: .taps) ?? [:]
        let scheme = try c.decodeIfPresent(String.self, forKey: .initialization) ?? Initialization.Scheme.pytorch.rawValue
        guard let known = Initialization.Scheme(rawValue: scheme) else {
            throw DecodingError.dataCorruptedError(forKey: .initialization, in: c, debugDescription:
                "unknown initialization \"\(scheme)\" (known: "
                + Initialization.Scheme.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        initialization = known
        switch (c.contains(.vgg), c.contains(.layers)) {
        case (true, false):
            if let text = try? c.decode(String.self, forKey: .vgg) {
                body = .vgg(try Self.parseVGG(text))
            } else {
                body = .vgg(try c.decode([VGGItem].self, forKey: .vgg))
            }
        case (false, true):
            body = .layers(try c.decode([LayerSpec].self, forKey: .layers))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "give exactly one of \"vgg\" (a configuration such as \"64 64 M\") or \"layers\" (a layer list)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(input, forKey: .input)
        switch body {
        case .vgg: try c.encode(vggText, forKey: .vgg)
        case .layers(let list): try c.encode(list, forKey: .layers)
        }
        try c.encodeIfPresent(head, forKey: .head)
        if !taps.isEmpty { try c.encode(taps, forKey: .taps) }
        if initialization != .pytorch { try c.encode(initialization.rawValue, forKey: .initialization) }
    }

    /// The architecture as compact JSON with sorted keys: the same value always gives the same
    /// text, so files that store it stay byte-identical run to run.
    public var jsonText: String { CanonicalJSON.text(self, formatting: .withoutEscapingSlashes) }

    /// Decodes and validates JSON text; throws an `ArchitectureFieldError` naming the field.
    public init(jsonText: String) throws {
        do {
            self = try JSONDecoder().decode(Architecture.self, from: Data(jsonText.utf8))
        } catch let error as DecodingError {
            throw ArchitectureFieldError(error)
        }
        try validate()
    }
}

extension Architecture.Head: Codable {
    private enum Keys: String, CodingKey { case out, name, bias }

    public init(from decoder: Decoder) throws {
        try rejectUnknownFields(decoder, allowed: ["out", "name", "bias"], what: "a head")
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(out: try c.decode(Int.self, forKey: .out),
                  name: try c.decodeIfPresent(String.self, forKey: .name) ?? "classifier",
                  bias: try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(out, forKey: .out)
        try c.encode(name, forKey: .name)
        try c.encode(bias, forKey: .bias)
    }
}

extension Architecture.VGGItem: Codable {
    /// A width (64) or "M".
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let width = try? c.decode(Int.self) {
            self = .conv(width)
        } else if let text = try? c.decode(String.self), text == "M" || text == "m" {
            self = .maxPool
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a channel count or \"M\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .conv(let width): try c.encode(width)
        case .maxPool: try c.encode("M")
        }
    }
}

extension LayerSpec: Codable {
    private enum Keys: String, CodingKey {
        case type, name, out, kernel, stride, padding, bias, p, layers, pre, body, shortcut, post, branches
    }

    /// The fields each type takes besides `type` and `name`.
    private static let fields: [String: [String]] = [
        "conv": ["out", "kernel", "stride", "padding", "bias"], "batchnorm": [], "relu": [],
        "maxpool": ["kernel", "stride"], "avgpool": ["kernel", "stride"], "globalavgpool": [],
        "flatten": [], "linear": ["out", "bias"], "dropout": ["p"], "sequential": ["layers"],
        "residual": ["pre", "body", "shortcut", "post"], "concat": ["branches"],
    ]

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let type = try c.decode(String.self, forKey: .type)
        guard let own = Self.fields[type] else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: c,
                debugDescription: "unknown layer type \"\(type)\" (known: \(Self.typeNames.joined(separator: ", ")))")
        }
        try rejectUnknownFields(decoder, allowed: ["type", "name"] + own, what: "a \(type) layer")
        name = try c.decodeIfPresent(String.self, forKey: .name)
        func int(_ key: Keys) throws -> Int { try c.decode(Int.self, forKey: key) }
        func int(_ key: Keys, default value: Int) throws -> Int { try c.decodeIfPresent(Int.self, forKey: key) ?? value }
        func bias() throws -> Bool { try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true }
        switch type {
        case "conv":
            kind = .conv(out: try int(.out), kernel: try int(.kernel), stride: try int(.stride, default: 1),
                         padding: try int(.padding, default: 0), bias: try bias())
        case "batchnorm": kind = .batchNorm
        case "relu": kind = .relu
        case "maxpool": kind = .maxPool(kernel: try int(.kernel), stride: try c.decodeIfPresent(Int.self, forKey: .stride))
        case "avgpool": kind = .avgPool(kernel: try int(.kernel), stride: try c.decodeIfPresent(Int.self, forKey: .stride))
        case "globalavgpool": kind = .globalAvgPool
        case "flatten": kind = .flatten
        case "linear": kind = .linear(out: try int(.out), bias: try bias())
        case "dropout": kind = .dropout(p: try c.decode(Double.self, forKey: .p))
        case "sequential": kind = .sequential(try c.decode([LayerSpec].self, forKey: .layers))
        case "concat": kind = .concat(try c.decode([LayerSpec].self, forKey: .branches))
        default:
            // A shortcut is one layer; a list is read as a sequence named "shortcut" (older files).
            var shortcut: LayerSpec?
            if let list = try? c.decode([LayerSpec].self, forKey: .shortcut) {
                guard !list.isEmpty else {
                    throw DecodingError.dataCorruptedError(forKey: .shortcut, in: c,
                        debugDescription: "the layer list is empty (leave it out for the identity)")
                }
                shortcut = LayerSpec(.sequential(list), name: "shortcut")
            } else {
                shortcut = try c.decodeIfPresent(LayerSpec.self, forKey: .shortcut)
            }
            kind = .residual(pre: try c.decodeIfPresent([LayerSpec].self, forKey: .pre) ?? [],
                             body: try c.decode([LayerSpec].self, forKey: .body), shortcut: shortcut,
                             post: try c.decodeIfPresent([LayerSpec].self, forKey: .post) ?? [])
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(typeName, forKey: .type)
        try c.encodeIfPresent(name, forKey: .name)
        switch kind {
        case .conv(let out, let kernel, let stride, let padding, let bias):
            try c.encode(out, forKey: .out); try c.encode(kernel, forKey: .kernel)
            try c.encode(stride, forKey: .stride); try c.encode(padding, forKey: .padding)
            try c.encode(bias, forKey: .bias)
        case .maxPool(let kernel, let stride), .avgPool(let kernel, let stride):
            try c.encode(kernel, forKey: .kernel); try c.encodeIfPresent(stride, forKey: .stride)
        case .linear(let out, let bias):
            try c.encode(out, forKey: .out); try c.encode(bias, forKey: .bias)
        case .dropout(let p):
            try c.encode(p, forKey: .p)
        case .sequential(let list):
            try c.encode(list, forKey: .layers)
        case .residual(let pre, let body, let shortcut, let post):
            if !pre.isEmpty { try c.encode(pre, forKey: .pre) }
            try c.encode(body, forKey: .body)
            try c.encodeIfPresent(shortcut, forKey: .shortcut)
            if !post.isEmpty { try c.encode(post, forKey: .post) }
        case .concat(let branches):
            try c.encode(branches, forKey: .branches)
        case .batchNorm, .relu, .globalAvgPool, .flatten:
            break
        }
    }
}

extension ArchitectureFieldError {
    /// The field a decoding error is at, written as in the file (`layers[2].kernel`).
    init(_ error: DecodingError) {
        func path(_ keys: [CodingKey]) -> String {
            keys.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: path(context.codingPath + [key]), "is missing")
        case .typeMismatch(let type, let context):
            self.init(field: path(context.codingPath), "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            self.init(field: path(context.codingPath), "is null, expected \(Self.describe(type))")
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError {
                let detail = (underlying as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
                self.init(field: "", "not valid JSON" + (detail.map { ": \($0)" } ?? ""))
            } else {
                self.init(field: path(context.codingPath), context.debugDescription)
            }
        @unknown default:
            self.init(field: "", "\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "text"
        case is [Int].Type: "a list of integers"
        default: type is any Collection.Type ? "a list" : "an object"
        }
    }
}
