import Foundation
import KDCore
import NeuralNet
import Testing

/// The presets, their names and counts, the JSON form and the messages for bad files.
@Suite struct ArchitectureTests {
    /// The parameter counts of the seed paper (ARCHITECTURE.md's table).
    static let seedCounts = ["teacher": 14_728_266, "s1": 2_618_016, "s2": 1_239_968,
                             "s4": 600_096, "s8": 242_112]

    @Test(arguments: ["teacher", "s1", "s2", "s4", "s8"])
    func presetsHaveTheSeedParameterCounts(name: String) throws {
        let model = try Model(try ArchitectureCatalog.resolve(name))
        #expect(model.parameterCount == Self.seedCounts[name])
        #expect(model.rows.reduce(0) { $0 + $1.parameterCount } == model.parameterCount)
    }

    @Test func outputsAndDenseFeaturesHaveTheTableWidths() throws {
        for (name, feature, output) in [("teacher", 512, 10), ("s1", 512, 512), ("s2", 256, 256),
                                        ("s4", 128, 128), ("s8", 64, 64)] {
            let model = try Model(ArchitectureCatalog.preset(name)!)
            #expect(model.featureWidth == feature && model.outputWidth == output, "\(name)")
        }
    }

    @Test func stateDictNamesAreTorchvisionsVGGNames() throws {
        let model = try Model(ArchitectureCatalog.preset("teacher")!)
        let names = model.stateDict.map(\.0)
        #expect(Array(model.namedParameters.map(\.0).prefix(6)) ==
                ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                 "features.3.weight", "features.3.bias"])
        #expect(names.contains("features.1.running_mean") && names.contains("features.1.running_var"))
        // 13 convs, 5 pools: the last conv is features.40, its BatchNorm features.41.
        #expect(names.contains("features.40.weight") && names.contains("features.41.running_var"))
        #expect(Array(model.namedParameters.map(\.0).suffix(2)) == ["classifier.weight", "classifier.bias"])
        let shapes = Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.0, $0.1.value.shape) })
        #expect(shapes["features.0.weight"] == [64, 3, 3, 3])
        #expect(shapes["classifier.weight"] == [10, 512])
    }

    @Test func forwardGivesFeatureAndOutput() throws {
        let model = try Model(ArchitectureCatalog.preset("small")!, seed: 1)
        let x = Tensor(shape: [2, 3, 32, 32], repeating: 0.5)
        let (feature, output) = model.forwardWithFeature(x, mode: .inference)
        #expect(feature.shape == [2, 64] && output.shape == [2, 10])
        #expect(model.forward(x, mode: .inference) == output)
    }

    @Test func inputAndClassesCanBeChanged() throws {
        let fashion = try ArchitectureCatalog.resolve("teacher", input: "1x32x32", classes: 7)
        let model = try Model(fashion)
        let base = ArchitectureTests.seedCounts["teacher"]!
        // The first conv loses two input channels (64·2·9 weights); the head three classes (3·513).
        #expect(model.parameterCount == base - 64 * 2 * 9 - 3 * 513)
        #expect(model.outputWidth == 7)
        let noHead = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve("s8", input: nil, classes: 10) }
        #expect(noHead?.code == .usage)
        let badShape = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve("s1", input: "3x32", classes: nil) }
        #expect(badShape?.code == .usage && badShape?.message.contains("CxHxW") == true)
        // Five 2×2 pools cannot shrink 16×16 (down to 1×1 after four).
        let tooSmall = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve("teacher", input: "3x16x16", classes: nil) }
        #expect(tooSmall?.code == .dataErr && tooSmall?.message.contains("MaxPool2d") == true)
    }

    @Test(arguments: ["teacher", "s1", "s2", "s4", "s8", "small"])
    func presetsRoundTripThroughJSON(name: String) throws {
        let preset = ArchitectureCatalog.preset(name)!
        #expect(try Architecture(jsonText: preset.jsonText) == preset)
    }

    /// Pipelines/archs/, found from this source file's place in the repository.
    static let archFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines/archs")

    @Test(arguments: ["teacher", "s1", "s2", "s4", "s8"])
    func pipelineFilesAreThePresets(name: String) throws {
        let path = Self.archFolder.appendingPathComponent(name + ".json").path
        #expect(try ArchitectureCatalog.resolve(path) == ArchitectureCatalog.preset(name))
    }

    /// The teacher written as a general layer list builds the same state_dict as its VGG form.
    @Test func layerListFormMatchesTheVGGForm() throws {
        let vgg = ArchitectureCatalog.preset("s4")!
        let conv = { (out: Int) -> [LayerSpec] in
            [LayerSpec(.conv(out: out, kernel: 3, stride: 1, padding: 1, bias: true)), LayerSpec(.batchNorm), LayerSpec(.relu)]
        }
        let pool = [LayerSpec(.maxPool(kernel: 2, stride: nil))]
        let features = conv(32) + pool + conv(32) + pool + conv(64) + conv(64) + pool + conv(128) + conv(128) + pool
            + conv(128) + conv(128) + pool
        let list = Architecture(name: "s4-list", body: .layers([
            LayerSpec(.sequential(features), name: "features"), LayerSpec(.globalAvgPool, name: "avgpool"),
            LayerSpec(.flatten, name: "flatten")]), head: .init(out: 128))
        let a = try Model(vgg, seed: 5), b = try Model(try Architecture(jsonText: list.jsonText), seed: 5)
        #expect(a.stateDict.map(\.0) == b.stateDict.map(\.0))
        #expect(a.stateDict.map(\.1.value) == b.stateDict.map(\.1.value))
    }

    @Test func residualBlocksBuildWithTheirNames() throws {
        let json = """
            {"name": "tiny-resnet", "input": [3, 8, 8],
             "layers": [
               {"type": "conv", "name": "conv1", "out": 8, "kernel": 3, "padding": 1, "bias": false},
               {"type": "batchnorm", "name": "bn1"}, {"type": "relu", "name": "relu"},
               {"type": "residual", "name": "block",
                "body": [{"type": "conv", "name": "conv1", "out": 16, "kernel": 3, "stride": 2, "padding": 1, "bias": false},
                         {"type": "batchnorm", "name": "bn1"}],
                "shortcut": [{"type": "conv", "out": 16, "kernel": 1, "stride": 2, "bias": false},
                             {"type": "batchnorm"}],
                "post": [{"type": "relu", "name": "relu_out"}]},
               {"type": "relu"}, {"type": "dropout", "p": 0.1},
               {"type": "globalavgpool", "name": "avgpool"}, {"type": "flatten"}],
             "head": {"out": 10, "name": "fc"}}
            """
        let architecture = try Architecture(jsonText: json)
        let model = try Model(architecture, seed: 0)
        #expect(model.namedParameters.map(\.0) ==
                ["conv1.weight", "bn1.weight", "bn1.bias", "block.conv1.weight", "block.bn1.weight",
                 "block.bn1.bias", "block.shortcut.0.weight", "block.shortcut.1.weight",
                 "block.shortcut.1.bias", "fc.weight", "fc.bias"])
        #expect(model.rows.contains { $0.path == "block" && $0.outputShape == [16, 4, 4] })
        let y = model.forward(Tensor(shape: [2, 3, 8, 8], repeating: 1), mode: .training)
        #expect(y.shape == [2, 10])
        #expect(try Architecture(jsonText: architecture.jsonText) == architecture)
    }

    // MARK: - Errors

    private func loadError(_ json: String) throws -> StageError? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kd-arch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("net.json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve(path) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.hasPrefix(path + ": ") == true)
        return error
    }

    @Test func badFilesNameTheField() throws {
        let cases: [(String, String)] = [
            (#"{"name": "x", "vgg": "64 Q"}"#, #"field vgg[1]: expected a channel count or M, got "Q""#),
            (#"{"name": "x", "vgg": "64", "head": {"out": 0}}"#, "field head.out: must be positive, got 0"),
            (#"{"name": "x", "vgg": "64", "haed": {"out": 10}}"#, #"unknown field "haed""#),
            (#"{"vgg": "64"}"#, "field name: is missing"),
            (#"{"name": "x", "input": [3, "a", 32], "vgg": "64"}"#, "field input[1]: expected an integer"),
            (#"{"name": "x", "layers": [{"type": "conv", "out": 8}]}"#, "field layers[0].kernel: is missing"),
            (#"{"name": "x", "layers": [{"type": "convolution"}]}"#, #"unknown layer type "convolution""#),
            (#"{"name": "x", "layers": [{"type": "relu", "kernel": 3}]}"#, #"unknown field "kernel" (a relu layer takes: type, name)"#),
            (#"{"name": "x", "layers": [{"type": "dropout", "p": 1.5}, {"type": "flatten"}]}"#, "field layers[0].p: must be in [0, 1)"),
            (#"{"name": "x", "vgg": "64", "layers": []}"#, #"give exactly one of "vgg""#),
            (#"{"name": "x", "vgg": "64 M M M M M M"}"#, "layer features.8 (maxpool) cannot take its input"),
            (#"{"name": "x", "layers": [{"type": "conv", "out": 8, "kernel": 3}], "head": {"out": 10}}"#,
             "not a flat vector"),
            ("{\"name\": \"x\",", "not valid JSON"),
        ]
        for (json, expected) in cases {
            let error = try loadError(json)
            #expect(error?.message.contains(expected) == true, "\(json) → \(error?.message ?? "no error")")
        }
    }

    @Test func unknownNamesListThePresets() {
        let error = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve("vgg19") }
        #expect(error?.code == .usage)
        #expect(error?.message.contains("teacher, s1, s2, s4, s8, small") == true)
    }

    @Test func missingFilesAreMissingInput() {
        let error = #expect(throws: StageError.self) { try ArchitectureCatalog.resolve("/no/such/net.json") }
        #expect(error?.code == .noInput)
        #expect(error?.message.contains("/no/such/net.json") == true)
    }
}
