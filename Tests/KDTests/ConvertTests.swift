import Distillation
import Foundation
import HDF5
import Testing

/// `kd convert` through the real binary: PyTorch's safetensors state_dicts (made once with the
/// project's PyTorch twin, Fixtures/make_safetensors_reference.py) become kd models whose logits
/// are PyTorch's; kd models go out as files the Python `safetensors` package reads back as
/// they were; and every malformed or mismatched file is refused with 65, saying what and
/// where, leaving an existing output as it was.
@Suite struct ConvertTests {
    /// Fixtures/safetensors_reference.json.
    struct Reference: Decodable {
        var mean: [Double]
        var std: [Double]
        var labels: [UInt8]
        var images: [[UInt8]]
        var logits: [String: [[Float]]]
    }

    static func fixture(_ name: String, _ ext: String) throws -> String {
        try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures")).path
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: try fixture("safetensors_reference", "json")))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    /// A data store of the reference images through kd decode: a CIFAR-10 folder whose test
    /// batch (and, as CIFAR-10 has them, every training batch) holds those images.
    static func store(_ reference: Reference, in dir: TempDir) throws -> String {
        var records: [UInt8] = []
        for (label, image) in zip(reference.labels, reference.images) { records += [label] + image }
        var files = ["test_batch.bin": records,
                     "batches.meta.txt": Array("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".utf8)]
        for b in 1...5 { files["data_batch_\(b).bin"] = records }
        try DecodeTests.write(files, to: dir.file("cifar-10-batches-bin"))
        let store = dir.file("cifar.h5")
        let r = try KDProcess.run(["decode", dir.file("cifar-10-batches-bin"), "--out", store])
        #expect(r.status == 0, "kd decode failed: \(r.stderr)")
        return store
    }

    /// The reference normalization as kd convert's flags.
    static func normalizationFlags(_ reference: Reference) -> [String] {
        ["--mean", reference.mean.map { "\($0)" }.joined(separator: ","),
         "--std", reference.std.map { "\($0)" }.joined(separator: ",")]
    }

    // MARK: - PyTorch in

    @Test(arguments: ["resnet8", "wrn-16-1"])
    func importedModelGivesPyTorchLogits(arch: String) throws {
        let dir = try TempDir()
        let reference = try Self.reference()
        let store = try Self.store(reference, in: dir)
        let model = dir.file("model.h5")
        let convert = try KDProcess.run(["convert", try Self.fixture(arch, "safetensors"), "--arch", arch, model]
                                        + Self.normalizationFlags(reference))
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("num_batches_tracked counters ignored"))
        let extract = try KDProcess.run(["extract", "--model", model, "--data", store, "--out", dir.file("f.h5"),
                                         "--splits", "test"])
        #expect(extract.status == 0, "\(extract.stderr)")
        let logits = try FeatureStore(path: dir.file("f.h5")).split("test").readLogits(0 ..< reference.labels.count)
        let expected = try #require(reference.logits[arch])
        var worst: Float = 0
        for (i, row) in expected.enumerated() {
            let scale = row.map(abs).max() ?? 1
            for (j, want) in row.enumerated() { worst = max(worst, abs(logits[i * row.count + j] - want) / scale) }
        }
        print("kd convert \(arch): largest logit difference from PyTorch, relative to the image's largest logit: \(worst)")
        #expect(worst <= 1e-4, "\(arch): logits differ from PyTorch's by \(worst) (relative)")
        let eval = try KDProcess.run(["eval", "--model", model, "--data", store])
        #expect(eval.status == 0, "\(eval.stderr)")
    }

    // MARK: - kd out (and back)

    /// A model kd trained: `small` on the synthetic 1×16×16 store, one short epoch.
    static func trainedModel(in dir: TempDir) throws -> String {
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let r = try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("run"),
                                   "--epochs", "1", "--batch-size", "32"])
        #expect(r.status == 0, "kd train failed: \(r.stderr)")
        return dir.file("run/model.h5")
    }

    @Test func modelRoundTripsThroughSafetensors() throws {
        let dir = try TempDir()
        for model in [try Self.trainedModel(in: dir), try Self.importedResNet(in: dir)] {
            let (st, back, again) = (model + ".safetensors", model + ".back.h5", model + ".again.safetensors")
            #expect(try KDProcess.run(["convert", model, st]).status == 0)
            // No --arch, --mean or --std: a file kd wrote says them in its metadata.
            let r = try KDProcess.run(["convert", st, back])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try SyntheticStore.parameterBits(back) == SyntheticStore.parameterBits(model))
            let (a, b) = (try H5File.open(model), try H5File.open(back))
            #expect(try b.doubleArrayAttribute("input_mean") == a.doubleArrayAttribute("input_mean"))
            #expect(try b.doubleArrayAttribute("input_std") == a.doubleArrayAttribute("input_std"))
            #expect(try b.stringArrayAttribute("classes") == a.stringArrayAttribute("classes"))
            #expect(try b.stringAttribute("arch") == a.stringAttribute("arch"))
            #expect(try KDProcess.run(["convert", back, again]).status == 0)
            #expect(FileManager.default.contents(atPath: again) == FileManager.default.contents(atPath: st),
                    "the same model must give the same bytes")
        }
    }

    /// The fixture's resnet8, imported.
    static func importedResNet(in dir: TempDir) throws -> String {
        let model = dir.file("resnet8.h5")
        let r = try KDProcess.run(["convert", try fixture("resnet8", "safetensors"), "--arch", "resnet8", model]
                                  + normalizationFlags(try reference()))
        #expect(r.status == 0, "\(r.stderr)")
        return model
    }

    @Test func pythonReadsWhatKdWrote() throws {
        guard let python = ProcessInfo.processInfo.environment["KD_H5PY_PYTHON"] else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true",
                    "CI must run the safetensors interop test (make test sets KD_H5PY_PYTHON)")
            return
        }
        let dir = try TempDir()
        for model in [try Self.trainedModel(in: dir), try Self.importedResNet(in: dir)] {
            let st = model + ".safetensors"
            let r = try KDProcess.run(["convert", model, st])
            #expect(r.status == 0, "\(r.stderr)")
            let script = """
                import h5py, json, sys, numpy
                from safetensors import safe_open
                from safetensors.numpy import load_file
                tensors = load_file(sys.argv[1])
                params = h5py.File(sys.argv[2], "r")["params"]
                out = {"different": [], "compared": 0, "counters": {}, "running_means": 0, "extra": []}
                for name, array in tensors.items():
                    if name.endswith(".num_batches_tracked"):
                        out["counters"][name] = [str(array.dtype), list(array.shape), int(array)]
                    elif name in params:
                        stored = params[name][...]
                        same = array.dtype == numpy.float32 and array.shape == stored.shape and \\
                            numpy.array_equal(array.view(numpy.uint32), stored.view(numpy.uint32))
                        out["compared"] += 1
                        if not same: out["different"].append(name)
                    else:
                        out["extra"].append(name)
                out["missing"] = sorted(set(params) - set(tensors))
                out["running_means"] = sum(1 for k in params if k.endswith(".running_mean"))
                with safe_open(sys.argv[1], "np") as f:
                    out["metadata"] = f.metadata()
                out["arch"] = params.file.attrs["arch"].decode()   # fixed-length strings read as bytes
                print(json.dumps(out))
                """
            let python = try ChildProcess.start(URL(fileURLWithPath: python), ["-c", script, st, model]).finish()
            #expect(python.status == 0, "\(python.stderr)")
            let out = try #require(try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [String: Any],
                                   "\(python.stderr)")
            let parameters = try SyntheticStore.parameterBits(model).count
            #expect(out["compared"] as? Int == parameters)
            #expect((out["different"] as? [String])?.isEmpty == true, "\(out["different"] ?? "")")
            #expect((out["missing"] as? [String])?.isEmpty == true, "\(out["missing"] ?? "")")
            #expect((out["extra"] as? [String])?.isEmpty == true, "\(out["extra"] ?? "")")
            let counters = try #require(out["counters"] as? [String: [Any]])
            #expect(counters.count == out["running_means"] as? Int)
            #expect(counters.count > 0)
            for (name, counter) in counters {
                #expect(counter[0] as? String == "int64", "\(name)")
                #expect((counter[1] as? [Int]) == [], "\(name): PyTorch stores a scalar []")
            }
            let metadata = try #require(out["metadata"] as? [String: String])
            #expect(metadata["format"] == "pt")
            #expect(metadata["kd_arch"] == out["arch"] as? String)
        }
    }

    // MARK: - Refusals

    /// Runs `args`, expecting exit `code` and each of `phrases` on standard error, with `out`
    /// (made beforehand) byte-identical afterwards and no partial or lock file left.
    static func refused(_ args: [String], out: String, code: Int32 = 65, _ phrases: [String],
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = Data("an earlier result".utf8)
        try before.write(to: URL(fileURLWithPath: out))
        let r = try KDProcess.run(args)
        #expect(r.status == code, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("kd convert: error: "), "\(r.stderr)", sourceLocation: sourceLocation)
        for phrase in phrases {
            #expect(r.stderr.contains(phrase), "no \"\(phrase)\" in: \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(FileManager.default.contents(atPath: out) == before, "\(out) was touched", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"), sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: out + ".lock"), sourceLocation: sourceLocation)
    }

    @Test func anotherArchitectureIsRefusedListingTheDifferences() throws {
        let dir = try TempDir()
        let resnet8 = try Self.fixture("resnet8", "safetensors")
        let norm = Self.normalizationFlags(try Self.reference())
        let out = dir.file("model.h5")
        try Self.refused(["convert", resnet8, "--arch", "wrn-16-1", out] + norm, out: out,
                         ["does not fit architecture wrn-16-1", "missing keys (in the model, not in the file)",
                          "block1.layer.0.bn1.weight [16]", "unexpected keys (in the file, not in the model)",
                          "layer1.0.bn1.running_mean [16]", "shape differences (file vs model): bn1.weight [16] vs [64]"])
        try Self.refused(["convert", resnet8, "--arch", "resnet8", "--classes", "100", out] + norm, out: out,
                         ["does not fit architecture resnet8 (3×32×32 input, 100 classes)",
                          "2 shape differences (file vs model): fc.weight [10, 64] vs [100, 64], fc.bias [10] vs [100]",
                          "--classes N"])
        try Self.refused(["convert", resnet8, "--arch", "resnet14", out] + norm, out: out,
                         ["missing keys", "layer1.1.conv1.weight [16, 16, 3, 3]"])
        try Self.refused(["convert", resnet8, "--arch", "resnet8", out], out: out, code: 64,
                         ["carries no input normalization", "--mean and --std"])
        try Self.refused(["convert", resnet8, "--arch", "no-such-net", out] + norm, out: out, code: 64,
                         ["unknown architecture \"no-such-net\""])
    }

    /// A safetensors file made from the header `header` (JSON text, as given) and `data`.
    static func safetensors(header: String, data: [UInt8] = [], length: UInt64? = nil) -> Data {
        let json = Array(header.utf8)
        return Data(withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian, Array.init) + json + data)
    }

    /// The fixture's header as a dictionary, changed by `change`, then written with its buffer.
    static func rewritten(_ path: String, _ change: (inout [String: Any]) -> Void) throws -> Data {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        var header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + length])) as? [String: Any])
        change(&header)
        let json = try JSONSerialization.data(withJSONObject: header)
        return Data(withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init)) + json + Data(bytes[(8 + length)...])
    }

    @Test func malformedFilesAreRefused() throws {
        let dir = try TempDir()
        let resnet8 = try Self.fixture("resnet8", "safetensors")
        let whole = try Data(contentsOf: URL(fileURLWithPath: resnet8))
        let norm = Self.normalizationFlags(try Self.reference())
        let out = dir.file("model.h5")
        let cases: [(String, Data, [String])] = [
            ("short", whole.prefix(5), ["is 5 bytes long, too short for a safetensors file"]),
            ("header-cut", whole.prefix(300), ["does not fit a file of 300 bytes", "truncated"]),
            ("data-cut", whole.prefix(whole.count - 100), ["reach past the end of the data", "truncated"]),
            ("absurd", Self.safetensors(header: "{}", length: 1 << 60), ["header length 1152921504606846976", "absurd"]),
            ("not-json", Self.safetensors(header: "{\"w\": [1, 2"), ["is not a JSON object"]),
            ("array", Self.safetensors(header: "[1, 2, 3]  "), ["is not a JSON object"]),
            ("offsets", Self.safetensors(header: #"{"fc.bias": {"dtype": "F32", "shape": [10], "data_offsets": [0, 4000]}}"#,
                                         data: [UInt8](repeating: 0, count: 40)),
             ["tensor fc.bias: data_offsets [0, 4000] reach past the end of the data (40 bytes after the header)"]),
            ("size", Self.safetensors(header: #"{"fc.bias": {"dtype": "F32", "shape": [10], "data_offsets": [0, 36]}}"#,
                                      data: [UInt8](repeating: 0, count: 40)),
             ["tensor fc.bias: data_offsets [0, 36] hold 36 bytes, but shape [10] of F32 needs 40"]),
            ("backwards", Self.safetensors(header: #"{"fc.bias": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}"#,
                                           data: [UInt8](repeating: 0, count: 8)),
             ["is not [begin, end] with 0 ≤ begin ≤ end"]),
            ("huge-shape", Self.safetensors(header: #"{"w": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#,
                                            data: [UInt8](repeating: 0, count: 8)),
             ["tensor w: shape [4294967296, 4294967296] of F64 is larger than the file's data"]),
            ("dtype", Self.safetensors(header: #"{"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}"#,
                                       data: [0, 0, 0, 0]),
             ["tensor w: dtype Q7 is not one the format defines"]),
            ("metadata", Self.safetensors(header: #"{"__metadata__": {"format": 1}}"#), ["__metadata__ entry format is not a string"]),
            ("int-weights", try Self.rewritten(resnet8) { header in
                var entry = header["fc.bias"] as? [String: Any] ?? [:]
                entry["dtype"] = "I32"
                header["fc.bias"] = entry
            }, ["1 tensor of a non-float dtype (expected F32, F16, BF16 or F64): fc.bias I32"]),
        ]
        for (name, bytes, phrases) in cases {
            let input = dir.file("\(name).safetensors")
            try bytes.write(to: URL(fileURLWithPath: input))
            try Self.refused(["convert", input, "--arch", "resnet8", out] + norm, out: out, [input] + phrases)
        }
        try Self.refused(["convert", dir.file("absent.safetensors"), "--arch", "resnet8", out] + norm, out: out, code: 66,
                         ["no such file"])
    }

    @Test func nonFiniteWeightsAreRefused() throws {
        let dir = try TempDir()
        let resnet8 = try Self.fixture("resnet8", "safetensors")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: resnet8)))
        let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + length])) as? [String: Any])
        let entry = try #require(header["layer1.0.bn2.running_var"] as? [String: Any])
        let begin = try #require((entry["data_offsets"] as? [Int])?.first)
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init)
        let at = 8 + length + begin + 4 * 3
        bytes.replaceSubrange(at ..< at + 4, with: nan)
        let input = dir.file("nan.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let out = dir.file("model.h5")
        try Self.refused(["convert", input, "--arch", "resnet8", out] + Self.normalizationFlags(try Self.reference()),
                         out: out, ["tensor layer1.0.bn2.running_var holds nan at element 3", "expected finite weights"])
    }

    @Test func otherFloatTypesAreConverted() throws {
        // F64 holds every float exactly, so a file widened to F64 gives the same model.
        let dir = try TempDir()
        let resnet8 = try Self.fixture("resnet8", "safetensors")
        let reference = try Self.importedResNet(in: dir)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: resnet8)))
        let length = original[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let header = try #require(try JSONSerialization.jsonObject(with: Data(original[8 ..< 8 + length])) as? [String: Any])
        var widened: [String: Any] = [:], buffer: [UInt8] = []
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            guard var entry = value as? [String: Any], let offsets = entry["data_offsets"] as? [Int],
                  let dtype = entry["dtype"] as? String else { widened[name] = value; continue }
            var bytes = Array(original[(8 + length + offsets[0]) ..< (8 + length + offsets[1])])
            if dtype == "F32" {
                bytes = stride(from: 0, to: bytes.count, by: 4).flatMap { i -> [UInt8] in
                    let bits = bytes[i ..< i + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    return withUnsafeBytes(of: Double(Float(bitPattern: bits)).bitPattern.littleEndian, Array.init)
                }
                entry["dtype"] = "F64"
            }
            entry["data_offsets"] = [buffer.count, buffer.count + bytes.count]
            buffer += bytes
            widened[name] = entry
        }
        let json = try JSONSerialization.data(withJSONObject: widened)
        let input = dir.file("f64.safetensors")
        try (Data(withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init)) + json + Data(buffer))
            .write(to: URL(fileURLWithPath: input))
        let out = dir.file("f64.h5")
        let r = try KDProcess.run(["convert", input, "--arch", "resnet8", out] + Self.normalizationFlags(try Self.reference()))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try SyntheticStore.parameterBits(out) == SyntheticStore.parameterBits(reference))
    }

    @Test func secondWriterOfOneOutputIsRefused() throws {
        let dir = try TempDir()
        let out = dir.file("raced.h5")
        let args = ["convert", try Self.fixture("resnet8", "safetensors"), "--arch", "resnet8", out]
            + Self.normalizationFlags(try Self.reference())
        let (_, second) = try ConcurrentWritersTests.race(args, lockFile: out + ".lock", seconds: 2)
        #expect(second.stderr.contains(out), "\(second.stderr)")
        #expect(try SyntheticStore.parameterBits(out) == SyntheticStore.parameterBits(try Self.importedResNet(in: dir)))
    }

    @Test func exportRefusals() throws {
        let dir = try TempDir()
        let model = try Self.importedResNet(in: dir)
        let out = dir.file("out.safetensors")
        try Self.refused(["convert", model, "--arch", "resnet8", out], out: out, code: 64,
                         ["--arch applies to a safetensors input", "is a kd model file"])
        let store = try Self.store(try Self.reference(), in: dir)
        try Self.refused(["convert", store, out], out: out, ["is not a kd model or checkpoint"])
        try Self.refused(["convert", model, dir.file("no-folder/out.safetensors")], out: out, code: 73,
                         ["folder", "does not exist"])
        // A success replaces the earlier result, whole.
        #expect(try KDProcess.run(["convert", model, out]).status == 0)
        #expect(FileManager.default.contents(atPath: out)?.prefix(8) != Data("an earli".utf8))
        #expect(!FileManager.default.fileExists(atPath: out + ".lock"))
    }
}
