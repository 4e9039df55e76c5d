import Foundation
import KDCore
import NeuralNet
import Testing

/// The CIFAR ResNets and WRNs: parameter counts and state_dict names as the reference PyTorch
/// implementations, their initialization, taps with gradients, and the one layer tree.
@Suite struct ResidualNetworkTests {
    /// RepDistiller's counts (`sum(p.numel() for p in model.parameters())`), 10 classes.
    static let counts10 = [
        "resnet8": 78_042, "resnet14": 175_258, "resnet20": 272_474, "resnet26": 369_690, "resnet32": 466_906,
        "resnet44": 661_338, "resnet56": 855_770, "resnet110": 1_730_714, "resnet8x4": 1_210_410,
        "resnet32x4": 7_410_730, "wrn-16-1": 175_066, "wrn-16-2": 691_674, "wrn-40-1": 563_930, "wrn-40-2": 2_243_546,
    ]
    static let counts100 = [
        "resnet8": 83_892, "resnet20": 278_324, "resnet56": 861_620, "resnet110": 1_736_564,
        "resnet32x4": 7_433_860, "wrn-16-2": 703_284, "wrn-40-2": 2_255_156,
    ]

    @Test func parameterCountsEqualTheReferenceImplementations() throws {
        for (name, count) in Self.counts10 {
            let model = try Model(try ArchitectureCatalog.resolve(name))
            #expect(model.parameterCount == count, "\(name)")
            #expect(model.rows.reduce(0) { $0 + $1.parameterCount } == count, "\(name)")
        }
        for (name, count) in Self.counts100 {
            let model = try Model(try ArchitectureCatalog.resolve(name, input: nil, classes: 100))
            #expect(model.parameterCount == count, "\(name), 100 classes")
        }
    }

    @Test func genericNamesFollowTheFamilies() throws {
        #expect(try ArchitectureCatalog.resolve("resnet-20") == ArchitectureCatalog.resolve("resnet20").renamed("resnet-20"))
        #expect(try Model(try ArchitectureCatalog.resolve("resnet-8x4")).parameterCount == 1_210_410)
        #expect(try Model(try ArchitectureCatalog.resolve("wrn-28-10")).parameterCount == 36_479_194)
        for bad in ["resnet9", "resnet-0", "wrn-15-1", "wrn-16-0", "resnet8x", "wrn-16"] {
            let error = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve(bad) }
            #expect(error?.code == .usage && error?.message.contains("6n + 2") == true, "\(bad)")
        }
    }

    @Test func stateDictNamesAreTheReferenceKeys() throws {
        let resnet = try Model(try ArchitectureCatalog.resolve("resnet8"))
        let names = Set(resnet.stateDict.map(\.0))
        for key in ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.0.bn1.running_mean",
                    "layer1.0.bn2.bias", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                    "layer3.0.conv2.weight", "fc.weight", "fc.bias"] {
            #expect(names.contains(key), "\(key)")
        }
        #expect(!names.contains { $0.hasPrefix("layer1.0.downsample") })   // 16 → 16 at stride 1: identity
        #expect(Set(try Model(try ArchitectureCatalog.resolve("resnet8x4")).stateDict.map(\.0))
            .contains("layer1.0.downsample.0.weight"))   // the 32-wide stem meets a 64-wide group

        let wrn = try Model(try ArchitectureCatalog.resolve("wrn-16-2"))
        let wrnNames = Set(wrn.stateDict.map(\.0))
        for key in ["conv1.weight", "block1.layer.0.bn1.weight", "block1.layer.0.conv1.weight",
                    "block1.layer.0.convShortcut.weight", "block1.layer.1.bn2.running_var",
                    "block3.layer.1.conv2.weight", "bn1.weight", "bn1.running_mean", "fc.weight", "fc.bias"] {
            #expect(wrnNames.contains(key), "\(key)")
        }
        #expect(!wrnNames.contains("block1.layer.1.convShortcut.weight"))
        #expect(!Set(try Model(try ArchitectureCatalog.resolve("wrn-16-1")).stateDict.map(\.0))
            .contains("block1.layer.0.convShortcut.weight"))   // 16 → 16: the raw input is the shortcut
    }

    /// Kaiming-normal (fan_out) convolutions, BatchNorm 1 and 0, PyTorch's Linear (ResNet) or a
    /// zero Linear bias (WRN); the same seed gives the same weights.
    @Test func initializationFollowsTheReferences() throws {
        for name in ["resnet20", "wrn-16-2"] {
            let architecture = try ArchitectureCatalog.resolve(name)
            let model = try Model(architecture, seed: 5)
            let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.0, $0.1.value) })
            let conv = try #require(parameters[name == "wrn-16-2" ? "block2.layer.1.conv1.weight" : "layer2.1.conv1.weight"])
            let fanOut = Double(conv.shape[0] * conv.shape[2] * conv.shape[3])
            let mean = conv.data.reduce(0) { $0 + Double($1) } / Double(conv.count)
            let std = (conv.data.reduce(0) { $0 + pow(Double($1) - mean, 2) } / Double(conv.count)).squareRoot()
            #expect(abs(std - (2 / fanOut).squareRoot()) < 0.05 * (2 / fanOut).squareRoot(), "\(name): std \(std)")
            #expect(abs(mean) < 0.1 * std)
            for (key, value) in parameters where key.contains("bn") && !key.contains("running") {
                #expect(value.data.allSatisfy { $0 == (key.hasSuffix("weight") ? 1 : 0) }, "\(key)")
            }
            let fcBias = try #require(parameters["fc.bias"])
            #expect(fcBias.data.allSatisfy { $0 == 0 } == (name == "wrn-16-2"))
            let bound = 1 / Float(parameters["fc.weight"]!.shape[1]).squareRoot()
            #expect(parameters["fc.weight"]!.data.allSatisfy { abs($0) <= bound })
            let again = try Model(architecture, seed: 5)
            #expect(again.stateDict.map(\.1.value) == model.stateDict.map(\.1.value))
            #expect(try Model(architecture, seed: 6).namedParameters.first!.1.value != model.namedParameters.first!.1.value)
        }
    }

    @Test func tapsHaveTheGroupShapes() throws {
        let model = try Model(try ArchitectureCatalog.resolve("wrn-40-1"))
        #expect(model.tapNames == ["group1", "group2", "group3", "feature", "logits"])
        #expect(try model.tapShape("group1") == [16, 32, 32])
        #expect(try model.tapShape("group2") == [32, 16, 16])
        #expect(try model.tapShape("group3") == [64, 8, 8])
        #expect(try model.tapShape("feature") == [64])
        #expect(try model.tapShape("logits") == [10])
        #expect(try model.tapShape("block2.layer.0.conv1") == [32, 16, 16])   // any layer path works as a tap
        let error = #expect(throws: StageError.self) { try model.tapShape("group4") }
        #expect(error?.code == .usage && error?.message.contains("group1, group2, group3, feature, logits") == true)

        var rng = RandomState(seed: 3)
        let x = randomTensor([2, 3, 32, 32], &rng)
        let (output, taps) = model.forward(x, mode: .inference, taps: ["group3", "feature", "logits"])
        #expect(taps["group3"]?.shape == [2, 64, 8, 8])
        #expect(taps["logits"] == output)
        // The feature is the per-channel mean of the last group after bn1-relu.
        #expect(taps["feature"]?.shape == [2, 64])
        #expect(model.forward(x, mode: .inference) == output)
    }

    /// Gradients injected at two inner taps and at the output at once, checked against
    /// difference quotients of L = Σ r·logits + Σ r₁·group1 + Σ r₂·group2.
    @Test func gradientsAtTwoTapsAndTheOutput() throws {
        let json = """
            {"name": "tapped", "input": [2, 6, 6], "init": "resnet-cifar",
             "taps": {"early": "stem", "middle": "block"},
             "layers": [
               {"type": "sequential", "name": "stem", "layers": [
                 {"type": "conv", "out": 3, "kernel": 3, "padding": 1, "bias": false}, {"type": "batchnorm"}]},
               {"type": "residual", "name": "block",
                "pre": [{"type": "batchnorm", "name": "bn1"}, {"type": "relu", "name": "relu1"}],
                "body": [{"type": "conv", "name": "conv1", "out": 4, "kernel": 3, "stride": 2, "padding": 1, "bias": false}],
                "shortcut": {"type": "conv", "name": "convShortcut", "out": 4, "kernel": 1, "stride": 2, "bias": false}},
               {"type": "relu"}, {"type": "globalavgpool"}, {"type": "flatten"}],
             "head": {"out": 3, "name": "fc"}}
            """
        let model = try Model(try Architecture(jsonText: json), seed: 1)
        var rng = RandomState(seed: 21)
        randomizeParameters(model, &rng)
        let probe = TapProbe(model: model, taps: ["early", "middle"])
        #expect(gradientDisagreements(of: probe, at: randomTensor([3, 2, 6, 6], &rng), mode: .training,
                                      steps: [1e-2, 3e-3, 1e-3], parameterSteps: [1e-3, 3e-4]) == [])
    }

    /// Training's backward leaves out the gradient of the images (the first convolution's
    /// Wᵀ·dY): every parameter gradient is bit for bit that of a full backward.
    @Test(arguments: ["resnet8", "wrn-16-1"])
    func trainingSkipsTheInputGradient(name: String) throws {
        let model = try Model(try ArchitectureCatalog.resolve(name), seed: 3)
        var rng = RandomState(seed: 4)
        let output = model.forward(randomTensor([4, 3, 32, 32], &rng), mode: .training)
        let grad = softmaxCrossEntropy(logits: output, labels: [0, 1, 2, 3]).grad
        func gradients(inputGradient: Bool) -> (Tensor, [Tensor]) {
            for (_, p) in model.namedParameters { p.zeroGrad() }
            return (model.backward(grad, taps: [:], inputGradient: inputGradient), model.namedParameters.map(\.1.grad))
        }
        let full = gradients(inputGradient: true), skipped = gradients(inputGradient: false)
        #expect(full.0.shape == [4, 3, 32, 32] && skipped.0.count == 0)
        #expect(skipped.1 == full.1)
    }

    /// Every layer of every preset (and of an ensemble, whose members sit in a Concat) is reached
    /// by each use of the tree: state_dict names, buffers, dropout reseeding, the summary rows,
    /// the profile and the hooks that taps and the profile rely on.
    @Test func everyUseReachesEveryLayer() throws {
        var architectures = try ArchitectureCatalog.presetNames.map { try ArchitectureCatalog.resolve($0) }
        architectures.append(try Architecture(jsonText: """
            {"name": "ensemble", "input": [3, 8, 8],
             "layers": [{"type": "concat", "name": "members", "branches": [
                {"type": "sequential", "layers": [{"type": "conv", "out": 4, "kernel": 3}, {"type": "dropout", "p": 0.2},
                  {"type": "globalavgpool"}, {"type": "flatten"}]},
                {"type": "residual", "body": [{"type": "conv", "out": 3, "kernel": 3, "padding": 1}, {"type": "dropout", "p": 0.3}],
                 "post": [{"type": "globalavgpool", "name": "pool"}, {"type": "flatten", "name": "flat"}]}]}],
             "head": {"out": 5}}
            """))
        for architecture in architectures {
            let model = try Model(architecture)
            let walked = model.walk().dropFirst()
            let leafPaths = walked.filter { $0.layer.children.isEmpty }.map(\.path)
            // Names: every parameter and buffer of every leaf, under its path.
            var expected: [String] = [], expectedBuffers: [String] = []
            for (path, layer) in walked {
                expected += layer.ownParameters.map { path + "." + $0.0 }
                expectedBuffers += layer.ownBuffers.map { path + "." + $0.0 }
            }
            #expect(model.namedParameters.map(\.0) == expected, "\(architecture.name)")
            #expect(model.namedBuffers.map(\.0) == expectedBuffers, "\(architecture.name)")
            #expect(Set(expected).count == expected.count, "\(architecture.name): a name given twice")
            // Dropout reseeding and the hooks.
            #expect(model.dropouts.count == walked.filter { $0.layer is Dropout }.count, "\(architecture.name)")
            for (path, layer) in walked {
                if let container = layer as? any LayerContainer {
                    #expect(container.hooks === model.hooks, "\(architecture.name): \(path) has no hooks")
                }
            }
            // Summary rows and profile rows: every leaf.
            #expect(Set(leafPaths).isSubset(of: Set(model.rows.map(\.path))), "\(architecture.name)")
            if architecture.name == "ensemble" {
                #expect(model.dropouts.count == 2)
                // The process's own thread count: the bound is global, and tests running beside
                // this one compare bits computed with it.
                let profile = try LayerProfile.measure(architecture, batch: 2, steps: 1, threads: ComputeThreads.count)
                #expect(profile.map(\.path) == leafPaths)
                #expect(profile.allSatisfy { $0.forward > 0 && $0.backward > 0 })
            }
        }
        let profile = try LayerProfile.measure(try ArchitectureCatalog.resolve("resnet8"), batch: 2, steps: 1,
                                               threads: ComputeThreads.count)
        let resnet = try Model(try ArchitectureCatalog.resolve("resnet8"))
        #expect(profile.map(\.path) == resnet.leaves.map(\.path))
        #expect(profile.allSatisfy { $0.forward > 0 && $0.backward > 0 })
    }

    @Test func architectureFilesDescribeTheResidualFamilies() throws {
        for name in ["resnet8x4", "wrn-16-2"] {
            let architecture = try ArchitectureCatalog.resolve(name)
            let text = architecture.jsonText
            #expect(text.contains("\"pre\"") == (name == "wrn-16-2"))
            #expect(text.contains("\"post\"") == (name == "resnet8x4"))
            let decoded = try Architecture(jsonText: text)
            #expect(decoded == architecture)
            let a = try Model(decoded, seed: 2), b = try Model(architecture, seed: 2)
            #expect(a.stateDict.map(\.0) == b.stateDict.map(\.0))
            #expect(a.stateDict.map(\.1.value) == b.stateDict.map(\.1.value))
        }
    }

    @Test func residualFilesAreCheckedWithClearMessages() throws {
        func problem(_ json: String) -> String {
            do {
                _ = try Model(try Architecture(jsonText: json))
                return "accepted"
            } catch let error as ArchitectureFieldError {
                return error.description
            } catch let error as StageError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        let clash = problem("""
            {"name": "a", "layers": [{"type": "residual", "pre": [{"type": "relu"}], "body": [{"type": "relu"}]},
             {"type": "globalavgpool"}, {"type": "flatten"}]}
            """)
        #expect(clash.contains("layers[0].body") && clash.contains("used twice in this block"), "\(clash)")
        let mismatch = problem("""
            {"name": "a", "layers": [{"type": "residual", "body": [{"type": "conv", "out": 4, "kernel": 1}]},
             {"type": "globalavgpool"}, {"type": "flatten"}]}
            """)
        #expect(mismatch.contains("no shortcut"), "\(mismatch)")
        let badTap = problem("""
            {"name": "a", "taps": {"g": "nowhere"}, "layers": [{"type": "globalavgpool"}, {"type": "flatten"}]}
            """)
        #expect(badTap.contains("tap g") && badTap.contains("nowhere"), "\(badTap)")
        let builtIn = problem("""
            {"name": "a", "taps": {"logits": "flatten"}, "layers": [{"type": "globalavgpool"}, {"type": "flatten"}]}
            """)
        #expect(builtIn.contains("taps.logits") && builtIn.contains("built in"), "\(builtIn)")
        let scheme = problem("""
            {"name": "a", "init": "xavier", "layers": [{"type": "globalavgpool"}, {"type": "flatten"}]}
            """)
        #expect(scheme.contains("xavier") && scheme.contains("resnet-cifar"), "\(scheme)")
    }
}

/// A model seen as one layer whose output is its output and the taps asked for, flattened
/// side by side per image, so the generic gradient check can drive gradients into all of them.
private final class TapProbe: Layer {
    let model: Model
    let taps: [String]
    private var widths: [Int] = []

    init(model: Model, taps: [String]) {
        self.model = model
        self.taps = taps
    }

    var label: String { "TapProbe" }
    var children: [(name: String, layer: any Layer)] { [("model", model)] }
    func outputShape(for input: [Int]) throws -> [Int] { [] }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (output, tapped) = model.forward(x, mode: mode, taps: taps)
        let parts = [output] + taps.map { tapped[$0]! }
        widths = parts.map(\.sampleSize)
        let n = x.batch, total = widths.reduce(0, +)
        var y = Tensor(shape: [n, total])
        for row in 0..<n {
            var column = 0
            for (part, width) in zip(parts, widths) {
                for j in 0..<width { y.data[row * total + column + j] = part.data[row * width + j] }
                column += width
            }
        }
        return y
    }

    func backward(_ dy: Tensor) -> Tensor {
        let n = dy.batch, total = dy.sampleSize
        var parts = widths.map { Tensor(shape: [n, $0]) }
        for row in 0..<n {
            var column = 0
            for (k, width) in widths.enumerated() {
                for j in 0..<width { parts[k].data[row * width + j] = dy.data[row * total + column + j] }
                column += width
            }
        }
        let gradients = Dictionary(uniqueKeysWithValues: zip(taps, parts.dropFirst()).map { name, part in
            (name, part.reshaped([n] + (try! model.tapShape(name))))
        })
        return model.backward(parts[0], taps: gradients)
    }
}

extension Architecture {
    func renamed(_ name: String) -> Architecture {
        var a = self
        a.name = name
        return a
    }
}
