import Datasets
import Distillation
import Foundation
import KDCore
import NeuralNet
import Testing

/// `kd export --onnx` through the real binary, checked by onnxruntime and onnx's checker in
/// the venv KD_H5PY_PYTHON names (`make h5py` installs them): trained networks give kd's
/// logits of the same images at batch 1 and 7; every preset exports, passes the checker and
/// computes what kd computes; bad inputs are refused with their exit codes.
///
/// Errors are measured per image, relative to its largest output: max|onnx − kd| / max|kd|.
@Suite(.serialized) struct ExportTests {
    /// Below this, onnxruntime and kd agree (their float32 sums run in other orders).
    static let tolerance = 1e-4

    /// The venv's Python; nil when KD_H5PY_PYTHON is not set, which CI must never be.
    static func python() -> String? {
        guard let python = ProcessInfo.processInfo.environment["KD_H5PY_PYTHON"] else {
            print("ExportTests: skipping onnxruntime: KD_H5PY_PYTHON is not set (make test sets it)")
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "CI must run the onnxruntime test (make test sets KD_H5PY_PYTHON)")
            return nil
        }
        return python
    }

    /// Runs an ONNX file in onnxruntime on `pixels` (float32 [n, C, H, W], values 0…255) in
    /// batches of each size of `batches`, compares with `expected` ([n, K]) and reads the
    /// file back with onnx (checker included). Pixels and expected values go through files of
    /// raw float32.
    struct RuntimeCheck: Decodable {
        /// Largest per-image relative error, by batch size.
        var errors: [String: Double]
        var outputShape: [Int]
        var inputDims: [String]
        var outputName: String
        var opset: Int
        var metadata: [String: String]

        static let script = """
            import json, sys
            import numpy, onnx, onnxruntime
            path, pixels, expected, shape = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
            batches = [int(b) for b in sys.argv[5].split(",")]
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            x = numpy.fromfile(pixels, dtype="<f4").reshape(shape)
            want = numpy.fromfile(expected, dtype="<f4").reshape(len(x), -1)
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            errors = {}
            for b in batches:
                got = numpy.concatenate([session.run(None, {name: x[i:i + b]})[0] for i in range(0, len(x), b)])
                assert got.shape == want.shape, (got.shape, want.shape)
                per_image = numpy.abs(got - want).max(axis=1) / numpy.abs(want).max(axis=1)
                errors[str(b)] = float(per_image.max())
            dims = [d.dim_param or str(d.dim_value) for d in model.graph.input[0].type.tensor_type.shape.dim]
            print(json.dumps({"errors": errors, "outputShape": list(got.shape), "inputDims": dims,
                              "outputName": model.graph.output[0].name,
                              "opset": [o.version for o in model.opset_import if o.domain == ""][0],
                              "metadata": {p.key: p.value for p in model.metadata_props}}))
            """

        static func run(_ python: String, onnx: String, pixels: [Float], shape: [Int], expected: [Float],
                        batches: [Int], dir: TempDir) throws -> RuntimeCheck? {
            func raw(_ values: [Float], _ name: String) throws -> String {
                let path = dir.file(name)
                try values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
                return path
            }
            let r = try ChildProcess.start(URL(fileURLWithPath: python),
                                           ["-c", script, onnx, try raw(pixels, "pixels.f32"), try raw(expected, "expected.f32"),
                                            "\(shape)", batches.map(String.init).joined(separator: ",")]).finish()
            #expect(r.status == 0, "onnxruntime check of \(onnx) failed: \(r.stderr)")
            guard r.status == 0 else { return nil }
            return try JSONDecoder().decode(RuntimeCheck.self, from: Data(r.stdout.utf8))
        }
    }

    /// A teacher (VGG-16-BN), a student (s1) and a ResNet-8, each trained for one epoch on a
    /// 32×32 synthetic store (so the BatchNorm statistics are the data's, not 0 and 1),
    /// exported and run by onnxruntime on the test images one at a time and seven at a time:
    /// the logits are those kd extract stores, within `tolerance`.
    @Test(arguments: ["teacher", "s1", "resnet8"])
    func onnxruntimeGivesKdsLogits(arch: String) throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 64, test: 14, side: 28)
        let run = dir.file("run")
        let trained = try KDProcess.run(["train", "--arch", arch, "--data", store, "--out", run, "--epochs", "1",
                                         "--batch-size", "8", "--threads", "2"])
        #expect(trained.status == 0, "kd train failed: \(trained.stderr)")
        let model = run + "/model.h5", features = dir.file("features.h5"), onnx = dir.file("model.onnx")
        let extracted = try KDProcess.run(["extract", "--model", model, "--data", store, "--out", features,
                                           "--splits", "test", "--threads", "2"])
        #expect(extracted.status == 0, "kd extract failed: \(extracted.stderr)")
        let exported = try KDProcess.run(["export", model, "--onnx", onnx])
        #expect(exported.status == 0, "kd export failed: \(exported.stderr)")
        #expect(exported.stdout.contains("opset 17") && exported.stdout.contains("logits [N×10]"), "\(exported.stdout)")
        #expect(!FileManager.default.fileExists(atPath: onnx + ".partial") && !FileManager.default.fileExists(atPath: onnx + ".lock"))

        // BatchNorm's running statistics moved away from their initial 0 and 1.
        let params = try SyntheticStore.parameterBits(model)
        let means = params.filter { $0.key.hasSuffix("running_mean") }.values.flatMap { $0 }
        #expect(!means.isEmpty && means.contains { Float(bitPattern: $0) != 0 })

        guard let python = Self.python() else { return }
        let images = try ImageSet.load(try DataStore(path: store), split: "test")
        let logits = try FeatureStore(path: features).split("test").readLogits(0 ..< images.count)
        let check = try #require(try RuntimeCheck.run(python, onnx: onnx, pixels: images.pixels.map(Float.init),
                                                      shape: [images.count] + images.shape, expected: logits,
                                                      batches: [1, 7], dir: dir))
        print("ExportTests: \(arch): largest relative error \(check.errors) (batch size: error)")
        for batch in ["1", "7"] {
            let error = try #require(check.errors[batch])
            #expect(error < Self.tolerance, "\(arch) at batch \(batch): relative error \(error)")
        }
        #expect(check.outputShape == [14, 10])
        #expect(check.inputDims == ["N", "1", "32", "32"])
        #expect(check.outputName == "logits")
        #expect(check.opset == 17)
        let metadata = check.metadata
        let normalization = try TrainedModel.load(path: model).normalization
        #expect(metadata["input_mean"] == CanonicalJSON.text(normalization.mean))
        #expect(metadata["input_std"] == CanonicalJSON.text(normalization.std))
        #expect(metadata["kd_model_sha256"] == (try FileDigest.sha256(path: model)))
        #expect(metadata["classes"] == CanonicalJSON.text((0..<10).map(String.init), formatting: .withoutEscapingSlashes))
        #expect(metadata["kd_architecture"]?.contains("\"name\":\"\(arch)\"") == true)
    }

    /// What an architecture file may hold that no preset does: branches side by side joined by
    /// a concat (an ensemble's members), average pooling with its own stride, a 1×1 convolution
    /// without bias, dropout and a linear layer inside the body.
    static let branches = Architecture(name: "branches", body: .layers([LayerSpec(.concat([
        LayerSpec(.sequential([LayerSpec(.conv(out: 8, kernel: 3, stride: 1, padding: 1, bias: true)),
                               LayerSpec(.batchNorm), LayerSpec(.relu), LayerSpec(.maxPool(kernel: 2, stride: nil)),
                               LayerSpec(.globalAvgPool), LayerSpec(.flatten)])),
        LayerSpec(.sequential([LayerSpec(.avgPool(kernel: 3, stride: 2)),
                               LayerSpec(.conv(out: 6, kernel: 1, stride: 1, padding: 0, bias: false)), LayerSpec(.relu),
                               LayerSpec(.flatten), LayerSpec(.dropout(p: 0.5)), LayerSpec(.linear(out: 12, bias: true))])),
    ]))]), head: .init(out: 10))

    /// The networks of the seed paper and the KD literature and `branches`, each built with
    /// random weights and random BatchNorm statistics and saved as a model file in this
    /// process: kd export writes every one, onnx's checker passes it, and onnxruntime computes
    /// kd's inference forward of seven random images (pre-activation WRN blocks, downsampling
    /// shortcuts, a network without head, a concat). Under a minute.
    @Test func everyPresetExports() throws {
        let dir = try TempDir()
        let python = Self.python()
        let presets = try ["teacher", "s1", "s2", "s4", "s8", "small", "resnet8", "resnet20", "resnet56", "resnet8x4",
                           "wrn-16-1", "wrn-40-2"].map { try #require(ArchitectureCatalog.preset($0)) }
        for architecture in presets + [Self.branches] {
            let name = architecture.name
            let model = try Model(architecture, seed: 3)
            var rng = RandomState(seed: 4)
            func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * Float(rng.next() >> 40) / Float(1 << 24) }
            for (key, p) in model.stateDict {
                if key.hasSuffix("running_mean") {
                    p.value.data = p.value.data.map { _ in uniform(-0.2, 0.2) }
                } else if key.hasSuffix("running_var") {
                    p.value.data = p.value.data.map { _ in uniform(0.5, 1.5) }
                }
            }
            let normalization = InputNormalization(mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26])
            let path = dir.file("\(name).h5"), onnx = dir.file("\(name).onnx")
            try ModelFile.save(model, to: path) { try normalization.write(to: $0) }
            let exported = try KDProcess.run(["export", path, "--onnx", onnx])
            #expect(exported.status == 0, "kd export \(name) failed: \(exported.stderr)")
            guard let python else { continue }

            let n = 7, shape = architecture.input, size = shape.reduce(1, *)
            let pixels = (0 ..< n * size).map { _ in Float(rng.next() % 256) }
            var input = Tensor(shape: [n] + shape)
            for i in 0 ..< n * size {
                let c = (i / (shape[1] * shape[2])) % shape[0]
                input.data[i] = pixels[i] * normalization.scale(channel: c) + normalization.shift(channel: c)
            }
            let expected = model.forward(input, mode: .inference).data
            let check = try #require(try RuntimeCheck.run(python, onnx: onnx, pixels: pixels, shape: [n] + shape,
                                                          expected: expected, batches: [7], dir: dir))
            let error = try #require(check.errors["7"])
            print("ExportTests: preset \(name): largest relative error \(error)")
            #expect(error < Self.tolerance, "\(name): relative error \(error)")
            #expect(check.outputName == (architecture.head == nil ? "feature" : "logits"), "\(name)")
            #expect(check.outputShape == [n, model.outputWidth], "\(name)")
        }
    }

    /// A missing model is 66, a file that is not a kd model 65, a model without the input
    /// normalization 65, a model cut short what kd eval answers for it, an output in a
    /// missing folder 73; none leaves an output behind.
    @Test func badInputsAreRefused() throws {
        let dir = try TempDir()
        let onnx = dir.file("out.onnx")
        func refused(_ model: String, out: String? = nil, _ code: Int32, _ words: [String]) throws {
            let r = try KDProcess.run(["export", model, "--onnx", out ?? onnx])
            #expect(r.status == code, "\(model): \(r.stderr)")
            for word in words { #expect(r.stderr.contains(word), "\(r.stderr) should name \(word)") }
            #expect(r.stderr.hasPrefix("kd export: error: "), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out ?? onnx))
        }
        try refused(dir.file("missing.h5"), 66, ["missing.h5"])
        let text = dir.file("text.h5")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: text))
        try refused(text, 65, ["text.h5", "not an HDF5 file"])
        let bare = dir.file("bare.h5")
        try ModelFile.save(try Model(try #require(ArchitectureCatalog.preset("small"))), to: bare)
        try refused(bare, 65, ["bare.h5", "input_mean"])
        let model = dir.file("small.h5")
        try ModelFile.save(try Model(try #require(ArchitectureCatalog.preset("small"))), to: model) {
            try InputNormalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]).write(to: $0)
        }
        try refused(model, out: dir.file("no/such/folder/out.onnx"), 73, ["no/such/folder"])
        let cut = dir.file("cut.h5")
        let whole = try Data(contentsOf: URL(fileURLWithPath: model))
        try whole.prefix(whole.count * 6 / 10).write(to: URL(fileURLWithPath: cut))
        let eval = try KDProcess.run(["eval", "--model", cut, "--data", cut])
        #expect(eval.status != 0)
        try refused(cut, eval.status, ["cut.h5"])
        let r = try KDProcess.run(["export", model, "--onnx", onnx])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: onnx))
    }
}
