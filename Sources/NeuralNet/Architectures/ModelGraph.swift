import KDCore

/// One row of a model's layer table: a layer that computes (not a container), its state_dict
/// path (`features.0`), its label, its per-sample output shape and the parameters it owns.
/// A residual block adds a row of its own for the sum.
public struct LayerRow: Equatable, Sendable {
    public var path: String
    public var label: String
    public var outputShape: [Int]
    public var parameterCount: Int
}

/// The layers an architecture describes, built with their state_dict names and checked shape
/// by shape from the input to the output (weights left at zero: `Model` initializes them).
/// Each layer's input size comes from its predecessor's output, so an architecture gives only
/// output sizes. Cost: allocating the weights; no arithmetic on them.
struct ModelGraph {
    let trunk: Sequential
    let head: Linear?
    /// The dense feature (the trunk's output, the head's input) and the output, per sample.
    let featureWidth: Int
    let outputWidth: Int
    /// Per-sample output shape of every layer, containers included, by state_dict path.
    let outputShapes: [String: [Int]]

    /// Weights one layer may have (4 GiB of floats) and values one image may have at any layer:
    /// beyond any CIFAR network by orders of magnitude, far below what would exhaust memory.
    static let maxWeights = 1 << 30, maxValuesPerImage = 1 << 28

    /// Throws `StageError` 65 naming the architecture, and the field or layer at fault.
    init(_ architecture: Architecture) throws {
        let name = architecture.name
        do {
            try architecture.validate()
        } catch let error as ArchitectureFieldError {
            throw StageError.badData("architecture \(name): \(error)")
        }
        var builder = Builder(architecture: name)
        let (layers, feature) = try builder.sequence(architecture.layerList, prefix: "", input: architecture.input)
        guard feature.count == 1 else {
            throw StageError.badData("architecture \(name): the body ends in shape \(feature), not a flat vector; "
                                     + "end the layer list with globalavgpool and flatten")
        }
        trunk = Sequential(layers.map { ($0.name, $0.layer) })
        featureWidth = feature[0]
        if let spec = architecture.head {
            guard spec.out >= 1, spec.out <= LayerSpec.maxSize, featureWidth * spec.out <= Self.maxWeights else {
                throw StageError.badData("architecture \(name): the head \(spec.name) asks for \(spec.out) outputs from "
                                         + "\(featureWidth) features; at most \(LayerSpec.maxSize) outputs and "
                                         + "\(Self.maxWeights) weights are allowed")
            }
            head = Linear(inFeatures: featureWidth, outFeatures: spec.out, bias: spec.bias)
            builder.shapes[spec.name] = [spec.out]
            outputWidth = spec.out
        } else {
            head = nil
            outputWidth = featureWidth
        }
        outputShapes = builder.shapes
    }

    private struct Builder {
        let architecture: String
        var shapes: [String: [Int]] = [:]

        init(architecture: String) { self.architecture = architecture }

        /// The layers of `list` one after another, named `prefix.<name or index>`, and the shape
        /// they end in.
        mutating func sequence(_ list: [LayerSpec], prefix: String, input: [Int]) throws -> ([Residual.Named], [Int]) {
            var shape = input
            var children: [Residual.Named] = []
            for (index, spec) in list.enumerated() {
                let name = spec.name ?? String(index)
                let (layer, out) = try build(spec, path: LayerTree.join(prefix, name), input: shape)
                children.append((name, layer))
                shape = out
            }
            return (children, shape)
        }

        mutating func build(_ spec: LayerSpec, path: String, input: [Int]) throws -> (any Layer, [Int]) {
            func fail(_ problem: String) -> StageError {
                StageError.badData("architecture \(architecture): layer \(path) (\(spec.typeName)) \(problem)")
            }
            func channels() throws -> Int {
                guard input.count == 3 else { throw fail("needs an image input [C, H, W], got \(input)") }
                return input[0]
            }
            // Sizes are bounded (`LayerSpec.maxSize`), so these products cannot overflow; what
            // they would allocate is refused before it is.
            func checkWeights(_ count: Int) throws {
                guard count <= ModelGraph.maxWeights else {
                    throw fail("asks for \(count) weights; at most \(ModelGraph.maxWeights) are allowed per layer")
                }
            }
            guard input.reduce(1, *) <= ModelGraph.maxValuesPerImage else {
                throw fail("takes \(input) (\(input.reduce(1, *)) values per image); at most \(ModelGraph.maxValuesPerImage) "
                           + "are allowed")
            }
            let layer: any Layer
            switch spec.kind {
            case .conv(let out, let kernel, let stride, let padding, let bias):
                try checkWeights(out * (try channels()) * kernel * kernel)
                layer = Conv2d(inChannels: try channels(), outChannels: out, kernel: kernel,
                               stride: stride, padding: padding, bias: bias)
            case .batchNorm:
                layer = BatchNorm2d(channels: try channels())
            case .relu:
                layer = ReLU()
            case .maxPool(let kernel, let stride):
                layer = MaxPool2d(kernel: kernel, stride: stride)
            case .avgPool(let kernel, let stride):
                layer = AvgPool2d(kernel: kernel, stride: stride)
            case .globalAvgPool:
                layer = GlobalAvgPool()
            case .flatten:
                layer = Flatten()
            case .linear(let out, let bias):
                guard input.count == 1 else { throw fail("needs a flat input [D], got \(input); add a flatten before it") }
                try checkWeights(input[0] * out)
                layer = Linear(inFeatures: input[0], outFeatures: out, bias: bias)
            case .dropout(let p):
                layer = Dropout(p: Float(p), seed: 0)
            case .sequential(let list):
                let (children, out) = try sequence(list, prefix: path, input: input)
                shapes[path] = out
                return (Sequential(children.map { ($0.name, $0.layer) }), out)
            case .concat(let branches):
                var children: [(String, any Layer)] = []
                for (index, branch) in branches.enumerated() {
                    let name = branch.name ?? String(index)
                    let (child, out) = try build(branch, path: path + "." + name, input: input)
                    guard out.count == 1 else { throw fail("branch \(name) gives \(out), not a flat vector [D]") }
                    children.append((name, child))
                }
                layer = Concat(children)
            case .residual(let pre, let body, let shortcut, let post):
                // Every layer of the block is named directly under it; check the two paths meet
                // before building what follows the sum.
                let (preLayers, inner) = try sequence(pre, prefix: path, input: input)
                let (bodyLayers, bodyOut) = try sequence(body, prefix: path, input: inner)
                let shortcutLayer = try shortcut.map { spec -> Residual.Named in
                    let name = spec.name ?? "shortcut"
                    let (layer, out) = try build(spec, path: LayerTree.join(path, name), input: inner)
                    guard out == bodyOut else {
                        throw fail("has a body giving \(bodyOut) but a shortcut \(name) giving \(out)")
                    }
                    return (name, layer)
                }
                guard shortcut != nil || bodyOut == inner else {
                    throw fail("has a body giving \(bodyOut) from \(inner) but no shortcut to match it")
                }
                let (postLayers, out) = try sequence(post, prefix: path, input: bodyOut)
                shapes[path] = out
                return (Residual(pre: preLayers, body: bodyLayers, shortcut: shortcutLayer, post: postLayers), out)
            }
            let out = try outputShape(of: layer, input: input, fail)
            shapes[path] = out
            return (layer, out)
        }

        private func outputShape(of layer: any Layer, input: [Int], _ fail: (String) -> StageError) throws -> [Int] {
            do {
                let out = try layer.outputShape(for: input)
                guard out.allSatisfy({ $0 > 0 }) else { throw fail("gives an empty output \(out) from input \(input)") }
                guard out.reduce(1, *) <= ModelGraph.maxValuesPerImage else {
                    throw fail("gives \(out) per image from \(input); at most \(ModelGraph.maxValuesPerImage) values are allowed")
                }
                return out
            } catch let error as ShapeError {
                throw fail("cannot take its input: \(error.description)")
            }
        }
    }
}
