import Datasets
import Distillation
import Foundation
import HDF5
import KDCore
import NeuralNet
import Testing

/// `kd extract` through the real binary: the stored features are those of a direct forward
/// pass, bit for bit; what is stored follows the model (classifier, student, head-less, a named
/// layer); views reproduce from their stored parameters; a killed run resumes to identical
/// contents; bad inputs are refused; `kd inspect` and h5py read the file.
@Suite(.serialized) struct ExtractTests {
    /// A synthetic store and a small classifier trained for one epoch on 600 of its images.
    struct Fixture {
        let dir: TempDir
        let store: String
        let model: String

        init(train: Int = 600) throws {
            dir = try TempDir()
            store = try SyntheticStore.make(in: dir, train: train, test: 200)
            model = dir.file("run/model.h5")
            let r = try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("run"),
                                       "--epochs", "1", "--limit", "600", "--batch-size", "32", "--threads", "2"])
            #expect(r.status == 0, "kd train failed: \(r.stderr)")
        }

        /// `kd extract` of this model and store into `out`, on the thread count of this process
        /// (so the direct passes below compute with the same arithmetic).
        func extract(_ out: String, _ extra: [String] = [], model: String? = nil,
                     env: [String: String] = [:]) throws -> KDRun {
            try KDProcess.run(["extract", "--model", model ?? self.model, "--data", store, "--out", out,
                               "--threads", String(ComputeThreads.count)] + extra, environment: env)
        }
    }

    /// The direct computation kd extract must match: `pass` over the images of `split` in
    /// batches of `batch` from the first image, each image cropped and flipped by `crops[i]`
    /// when given. Returns the arrays `pass` gives per batch, concatenated.
    static func direct(_ images: ImageSet, normalization: InputNormalization, batch: Int, crops: [CropFlip]? = nil,
                       _ pass: (Tensor) -> [Tensor]) -> [[Float]] {
        var out: [[Float]] = []
        var input = Tensor(shape: [0])
        for first in stride(from: 0, to: images.count, by: batch) {
            let rows = Array(first ..< min(first + batch, images.count))
            images.fill(&input, indices: rows[...], normalization: normalization, augmentations: crops.map { c in rows.map { c[$0] } })
            let results = pass(input)
            if out.isEmpty { out = Array(repeating: [], count: results.count) }
            for (k, r) in results.enumerated() { out[k] += r.data }
        }
        return out
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// View `v` of image-major [N, views, width] values, as [N, width].
    static func view(_ v: Int, of views: Int, in values: [Float], width: Int) -> [Float] {
        let n = values.count / (views * width)
        var out: [Float] = []
        for i in 0..<n {
            let start = (i * views + v) * width
            out += values[start ..< start + width]
        }
        return out
    }

    /// Every dataset of an HDF5 file: its shape followed by its values as bit patterns, by path.
    static func contents(_ path: String) throws -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        func walk(_ group: H5Group) throws {
            for name in try group.memberNames() {
                if try group.isGroup(name) { try walk(group.openGroup(name)); continue }
                let d = try group.openDataset(name)
                let values: [UInt64]
                switch d.elementType {
                case .float32: values = try d.read(as: Float.self).map { UInt64($0.bitPattern) }
                case .uint8: values = try d.read(as: UInt8.self).map { UInt64($0) }
                case .int32: values = try d.read(as: Int32.self).map { UInt64(UInt32(bitPattern: $0)) }
                default: values = []
                }
                out[d.path] = d.shape.map { UInt64($0) } + values
            }
        }
        try walk(H5File.open(path).root)
        return out
    }

    // MARK: - Contents

    @Test func featuresEqualADirectForwardPass() throws {
        let f = try Fixture()
        let out = f.dir.file("features.h5")
        let r = try f.extract(out, ["--batch", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("features: \(out)"))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))

        let features = try FeatureStore(path: out)
        #expect(features.modelSHA256 == (try FileDigest.sha256(path: f.model)))
        #expect(features.dataSHA256 == (try FileDigest.sha256(path: f.store)))
        #expect(features.layer == "flatten")
        #expect(try features.file.stringAttribute("kd_kind") == "features")
        #expect(try features.file.intAttribute("feature_width") == 64)
        #expect(try features.file.stringAttribute("command_line")?.contains("extract") == true)
        let dataset = try features.file.root.openDataset("train/features")
        #expect(dataset.chunkShape?.last == 64 && dataset.hasShuffle && dataset.deflateLevel == FeatureExtraction.defaultDeflate)

        let trained = try TrainedModel.load(path: f.model)
        let store = try DataStore(path: f.store)
        for name in ["train", "test"] {
            let split = try features.split(name)
            let images = try ImageSet.load(store, split: name)
            #expect(split.count == images.count && split.featureShape == [64] && split.logitsWidth == 10)
            #expect(try split.readLabels() == images.labels)
            let expected = Self.direct(images, normalization: trained.normalization, batch: 64) { x in
                let (feature, output) = trained.model.forwardWithFeature(x, mode: .prediction)
                return [feature, output]
            }
            #expect(Self.bits(try split.readFeatures(0 ..< split.count)) == Self.bits(expected[0]), "/\(name)/features")
            #expect(Self.bits(try split.readLogits(0 ..< split.count)) == Self.bits(expected[1]), "/\(name)/logits")
            // Ranges and column ranges read the same values.
            let part: [Float] = try split.readFeatures(10 ..< 13, columns: 8 ..< 24)
            let columns: [Float] = (10 ..< 13).flatMap { (row: Int) -> [Float] in Array(expected[0][row * 64 + 8 ..< row * 64 + 24]) }
            #expect(part == columns)
        }

        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let again = try f.extract(out, ["--batch", "64"])
        #expect(again.status == 0 && again.stdout.contains("already complete"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before, "a complete file is left alone")
    }

    @Test func whatIsStoredFollowsTheModel() throws {
        let f = try Fixture()
        let normalization = InputNormalization(mean: [0.25], std: [0.3])
        func save(_ architecture: Architecture, _ path: String, extra: @escaping (H5File) throws -> Void = { _ in }) throws -> Model {
            let model = try Model(architecture, seed: 5)
            try ModelFile.save(model, to: path) { file in
                try normalization.write(to: file)
                try extra(file)
            }
            return model
        }
        let images = try ImageSet.load(try DataStore(path: f.store), split: "test")

        // Without a head, the features are the output.
        let headless = try save(Architecture.vgg("tiny", "8 M 16 M", head: nil, input: [1, 16, 16])!, f.dir.file("headless.h5"))
        let r1 = try f.extract(f.dir.file("headless-features.h5"), ["--splits", "test", "--batch", "50"], model: f.dir.file("headless.h5"))
        #expect(r1.status == 0, "\(r1.stderr)")
        let s1 = try FeatureStore(path: f.dir.file("headless-features.h5")).split("test")
        #expect(s1.featureShape == [16] && s1.logitsWidth == nil)
        let e1 = Self.direct(images, normalization: normalization, batch: 50) { [headless.forward($0, mode: .prediction)] }
        #expect(Self.bits(try s1.readFeatures(0 ..< s1.count)) == Self.bits(e1[0]))

        // A distilled student (its file says which part of the root's features it stands for):
        // its output, with that part recorded for the next level.
        let student = try save(Architecture.vgg("tiny", "8 M 16 M", head: 16, input: [1, 16, 16])!, f.dir.file("student.h5")) { file in
            try file.setAttribute("root_sha256", String(repeating: "ab", count: 32))
            try file.setAttribute("root_range", [16, 32])
        }
        let r2 = try f.extract(f.dir.file("student-features.h5"), ["--splits", "test", "--batch", "50"], model: f.dir.file("student.h5"))
        #expect(r2.status == 0, "\(r2.stderr)")
        let file2 = try FeatureStore(path: f.dir.file("student-features.h5"))
        #expect(try file2.file.intArrayAttribute("root_range") == [16, 32])
        #expect(try file2.file.stringAttribute("root_sha256") == String(repeating: "ab", count: 32))
        let s2 = try file2.split("test")
        #expect(s2.featureShape == [16] && s2.logitsWidth == nil)
        let e2 = Self.direct(images, normalization: normalization, batch: 50) { [student.forward($0, mode: .prediction)] }
        #expect(Self.bits(try s2.readFeatures(0 ..< s2.count)) == Self.bits(e2[0]))

        // A named layer: that layer's output, kept [N, C, H, W] or flattened.
        let trained = try TrainedModel.load(path: f.model)
        let features = try #require(trained.model.trunk.layers.first?.layer as? Sequential)
        let e3 = Self.direct(images, normalization: trained.normalization, batch: 50) { x in
            [Sequential(features.layers[0...3].map { ($0.name, $0.layer) }).forward(x, mode: .prediction),
             trained.model.forward(x, mode: .prediction)]
        }
        for (flatten, shape) in [(false, [16, 8, 8]), (true, [1024])] {
            let out = f.dir.file("layer-\(flatten).h5")
            let r = try f.extract(out, ["--splits", "test", "--batch", "50", "--layer", "features.3"] + (flatten ? ["--flatten"] : []))
            #expect(r.status == 0, "\(r.stderr)")
            let file = try FeatureStore(path: out)
            #expect(file.layer == "features.3")
            let split = try file.split("test")
            // A classifier's logits are stored beside any layer's output.
            #expect(split.featureShape == shape && split.logitsWidth == 10)
            #expect(Self.bits(try split.readFeatures(0 ..< split.count)) == Self.bits(e3[0]))
            #expect(Self.bits(try split.readLogits(0 ..< split.count)) == Self.bits(e3[1]))
        }

        // A head scoring the store's 10 classes makes a classifier whatever the file's attributes
        // say (this one has no `classes`): its logits are stored.
        let bare = try save(Architecture.vgg("bare", "8 M 16 M", head: 10, input: [1, 16, 16])!, f.dir.file("bare.h5"))
        let r4 = try f.extract(f.dir.file("bare-features.h5"), ["--splits", "test", "--batch", "50"], model: f.dir.file("bare.h5"))
        #expect(r4.status == 0, "\(r4.stderr)")
        let s4 = try FeatureStore(path: f.dir.file("bare-features.h5")).split("test")
        #expect(s4.featureShape == [16] && s4.logitsWidth == 10)
        let e4 = Self.direct(images, normalization: normalization, batch: 50) { [bare.forward($0, mode: .prediction)] }
        #expect(Self.bits(try s4.readLogits(0 ..< s4.count)) == Self.bits(e4[0]))

        let unknown = try f.extract(f.dir.file("x.h5"), ["--layer", "features.99"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("has no tap or layer \"features.99\"") && unknown.stderr.contains("features.3"))
    }

    /// `--layer` takes a tap name: a residual group's output, as the direct forward's tap.
    @Test func aTapOfAResidualNetwork() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 100)
        let trained = try KDProcess.run(["train", "--arch", "resnet8", "--data", store, "--out", dir.file("run"),
                                         "--epochs", "1", "--batch-size", "32", "--threads", "2"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let out = dir.file("group2.h5")
        let r = try KDProcess.run(["extract", "--model", dir.file("run/model.h5"), "--data", store, "--out", out,
                                   "--splits", "test", "--batch", "50", "--layer", "group2",
                                   "--threads", String(ComputeThreads.count)])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try FeatureStore(path: out)
        #expect(file.layer == "layer2")
        let split = try file.split("test")
        #expect(split.featureShape == [32, 8, 8] && split.logitsWidth == 10, "\(split.featureShape)")   // 12 + 2·2 padding, halved
        let model = try TrainedModel.load(path: dir.file("run/model.h5"))
        let images = try ImageSet.load(try DataStore(path: store), split: "test")
        let direct = Self.direct(images, normalization: model.normalization, batch: 50) { x in
            [model.model.forward(x, mode: .prediction, taps: ["group2"]).taps["group2"]!]
        }
        #expect(Self.bits(try split.readFeatures(0 ..< split.count)) == Self.bits(direct[0]))
    }

    @Test func viewsReproduceFromTheirParameters() throws {
        let f = try Fixture()
        let out = f.dir.file("views.h5")
        let r = try f.extract(out, ["--views", "4", "--seed", "7", "--batch", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try FeatureStore(path: out)
        let split = try file.split("train")
        #expect(split.viewCount == 4)
        #expect(try file.split("test").viewCount == 0, "only training images get views")
        let n = split.count
        let params = try split.readViewParams(0 ..< n)
        #expect(params.count == n * 4)
        #expect((0..<n).allSatisfy { params[$0 * 4] == .identity }, "view 0 is the plain image")
        let drawn = (0..<n).flatMap { i in params[i * 4 + 1 ..< i * 4 + 4] }
        #expect(drawn.allSatisfy { abs($0.dx) <= 4 && abs($0.dy) <= 4 })
        #expect(drawn.contains { $0.flip } && drawn.contains { !$0.flip } && Set(drawn.map(\.dx)).count == 9)

        // View 0 is the plain features; view v is the model on the stored image with view v's
        // crop and flip applied, batch for batch.
        let plain = try split.readFeatures(0 ..< n)
        let stored = try split.readViewFeatures(0 ..< n)
        let storedLogits = try split.readViewLogits(0 ..< n)
        let trained = try TrainedModel.load(path: f.model)
        let images = try ImageSet.load(try DataStore(path: f.store), split: "train")
        for v in 0..<4 {
            let crops = (0..<n).map { params[$0 * 4 + v] }
            let expected = Self.direct(images, normalization: trained.normalization, batch: 64, crops: crops) { x in
                let (feature, output) = trained.model.forwardWithFeature(x, mode: .prediction)
                return [feature, output]
            }
            let view = Self.view(v, of: 4, in: stored, width: 64)
            let viewLogits = Self.view(v, of: 4, in: storedLogits, width: 10)
            #expect(Self.bits(view) == Self.bits(expected[0]), "view \(v) features")
            #expect(Self.bits(viewLogits) == Self.bits(expected[1]), "view \(v) logits")
            if v == 0 { #expect(Self.bits(view) == Self.bits(plain)) }
        }

        // The same seed draws the same views; another seed others.
        #expect(try f.extract(f.dir.file("same.h5"), ["--views", "4", "--seed", "7", "--splits", "train"]).status == 0)
        #expect(try FeatureStore(path: f.dir.file("same.h5")).split("train").readViewParams(0 ..< n) == params)
        #expect(try f.extract(f.dir.file("other.h5"), ["--views", "4", "--seed", "8", "--splits", "train"]).status == 0)
        #expect(try FeatureStore(path: f.dir.file("other.h5")).split("train").readViewParams(0 ..< n) != params)
    }

    // MARK: - The stage contract

    /// 3000 training images with 4 views: three blocks of 1024 rows, long enough to kill mid-run.
    static let resumeSettings = ["--views", "4", "--seed", "3", "--batch", "32"]

    @Test func killedExtractionsResumeToIdenticalContents() throws {
        let f = try Fixture(train: 3000)
        let reference = f.dir.file("reference.h5")
        let unbroken = try f.extract(reference, Self.resumeSettings)
        #expect(unbroken.status == 0, "\(unbroken.stderr)")
        let expected = try Self.contents(reference)
        #expect(expected["/train/views/features"] != nil && expected["/test/logits"] != nil)

        // Killed after writing block 2 of /train, before recording it: redone on resume.
        let crashed = f.dir.file("crashed.h5")
        let killed = try f.extract(crashed, Self.resumeSettings, env: ["KD_CRASH_AT": "extract-block:2"])
        #expect(killed.status != 0)
        #expect(!FileManager.default.fileExists(atPath: crashed), "no final file before the work is complete")
        #expect(FileManager.default.fileExists(atPath: crashed + ".partial"))
        let resumed = try f.extract(crashed, Self.resumeSettings)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming /train after block 1 of 3"))
        #expect(try Self.contents(crashed) == expected)

        // SIGKILL while blocks are being computed. The process is first stopped right after it
        // reports its first block (so the kill lands mid-run however fast the machine), and a
        // second process meanwhile is told the output is busy.
        let out = f.dir.file("sigkill.h5")
        let p = Process()
        p.executableURL = KDProcess.binary
        p.arguments = ["extract", "--model", f.model, "--data", f.store, "--out", out,
                       "--threads", String(ComputeThreads.count)] + Self.resumeSettings
        let stderr = Pipe()
        p.standardError = stderr
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var seen = ""
        while !seen.contains("block 1/3"), p.isRunning {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGSTOP)
        let busy = try f.extract(out, Self.resumeSettings)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(busy.status == 75 && busy.stderr.contains("another kd process") && busy.stderr.contains(out), "\(busy.stderr)")
        #expect(p.terminationReason == .uncaughtSignal, "the kill should land mid-run")
        #expect(!FileManager.default.fileExists(atPath: out))
        let after = try f.extract(out, Self.resumeSettings)
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stderr.contains("resuming /train after block"))
        #expect(try Self.contents(out) == expected)
    }

    @Test func otherSettingsOverAPartialAreRefusedUnlessRestart() throws {
        let f = try Fixture()
        let out = f.dir.file("features.h5")
        let crashed = try f.extract(out, ["--views", "2", "--batch", "32"], env: ["KD_CRASH_AT": "extract-block:1"])
        #expect(crashed.status != 0)
        let partial = try Data(contentsOf: URL(fileURLWithPath: out + ".partial"))
        let changed = try f.extract(out, ["--views", "3", "--batch", "32"])
        #expect(changed.status == 64)
        #expect(changed.stderr.contains("other settings (--views 2 → 3)") && changed.stderr.contains("--restart"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + ".partial")) == partial, "a refused run touches nothing")
        let restarted = try f.extract(out, ["--views", "3", "--batch", "32", "--restart"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(try FeatureStore(path: out).split("train").viewCount == 3)
    }

    @Test func badInputsAreRefused() throws {
        let f = try Fixture()
        let out = f.dir.file("features.h5")
        // A model of 1×16×16 images against a store of 3×32×32 ones.
        try DecodeTests.write(DecodeTests.cifar10Files(), to: f.dir.file("cifar"))
        #expect(try KDProcess.run(["decode", f.dir.file("cifar"), "--out", f.dir.file("cifar.h5")]).status == 0)
        let mismatch = try KDProcess.run(["extract", "--model", f.model, "--data", f.dir.file("cifar.h5"), "--out", out])
        #expect(mismatch.status == 65)
        #expect(mismatch.stderr.contains("takes images of 1×16×16") && mismatch.stderr.contains("3×32×32"), "\(mismatch.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".partial"))

        let missing = try f.extract(out, model: f.dir.file("none.h5"))
        #expect(missing.status == 66 && missing.stderr.contains("none.h5"))
        let notAModel = try f.extract(out, model: f.store)
        #expect(notAModel.status == 65 && notAModel.stderr.contains("not a kd model"))
        for (flags, message) in [(["--views", "0"], "--views must be in 1"), (["--batch", "0"], "--batch must be in 1…65536"),
                                 (["--splits", "validation"], "has no split validation"), (["--splits", "test,test"], "must name each split once"),
                                 (["--views", "2", "--splits", "test"], "the train split is not extracted"),
                                 (["--deflate", "10"], "--deflate must be")] {
            let r = try f.extract(out, flags)
            #expect(r.status == 64 && r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        // --out naming a file that is not a feature file (a copy of the store) is refused, and
        // so, before that, is the store itself: an input.
        let store = try Data(contentsOf: URL(fileURLWithPath: f.store))
        try store.write(to: URL(fileURLWithPath: f.dir.file("copy.h5")))
        let overCopy = try f.extract(f.dir.file("copy.h5"))
        #expect(overCopy.status == 73 && overCopy.stderr.contains("is not a kd feature file"), "\(overCopy.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.dir.file("copy.h5"))) == store)
        let overStore = try f.extract(f.store)
        #expect(overStore.status == 64 && overStore.stderr.contains("is the input"), "\(overStore.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.store)) == store)
    }

    // MARK: - Reading the file elsewhere

    @Test func inspectShowsShapesProvenanceAndFeatureStatistics() throws {
        let f = try Fixture()
        let out = f.dir.file("features.h5")
        #expect(try f.extract(out, ["--views", "2"]).status == 0)
        let text = try KDProcess.run(["inspect", out])
        #expect(text.status == 0, "\(text.stderr)")
        for needle in ["kd features", "model_sha256", "data_sha256", "layer_description", "/train/views/features",
                       "feature statistics", "/train: 600 images, features 64", "/test/logits: 10 dims, 200 of 200 rows sampled"] {
            #expect(text.stdout.contains(needle), "\(needle)")
        }
        let json = try KDProcess.run(["inspect", out, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let section = try #require(object["feature_statistics"] as? [String: Any])
        let datasets = try #require(section["datasets"] as? [[String: Any]])
        let train = try #require(datasets.first { $0["path"] as? String == "/train/features" })
        // 600 rows: the sample is every row, so the statistics are exact.
        let values = try FeatureStore(path: out).split("train").readFeatures(0 ..< 600)
        let column = (0..<600).map { Double(values[$0 * 64 + 5]) }
        let mean = column.reduce(0, +) / 600
        #expect(abs(((train["mean"] as? [Double])?[5] ?? .nan) - mean) <= 1e-9 * max(1, abs(mean)))
        // (JSON numbers come back as Doubles a rounding away; the values are Floats.)
        #expect((train["max"] as? [Double]).map { Float($0[5]) } == column.max().map(Float.init))
        #expect((train["min"] as? [Double]).map { Float($0[5]) } == column.min().map(Float.init))

        // A dead and an exploding dimension are named.
        let made = f.dir.file("made.h5")
        do {   // the file stays open (and locked) while any of its objects lives
            let file = try H5File.create(made)
            for (name, value) in [("kd_kind", "features"), ("model_sha256", "m"), ("data_sha256", "d"), ("layer", "flatten")] {
                try file.setAttribute(name, value)
            }
            let train = try file.root.createGroup("train")
            let rows = (0..<100).flatMap { i -> [Float] in [Float(i), 0, Float(i % 7), i == 50 ? 3e5 : 1] }
            try train.writeDataset("features", rows, shape: [100, 4], chunk: [50, 4], deflate: 1, shuffle: true)
            try train.writeDataset("labels", [UInt8](repeating: 0, count: 100), shape: [100])
        }
        let flagged = try KDProcess.run(["inspect", made])
        #expect(flagged.status == 0, "\(flagged.stderr)")
        #expect(flagged.stdout.contains("dead (constant): 1 — 1"))
        #expect(flagged.stdout.contains("exploding (non-finite or |x| > 1e+04): 1 — 3"))
    }

    /// Interop: h5py (installed by `make test` into a venv named by KD_H5PY_PYTHON) reads the
    /// same shapes, dtypes and values as kd.
    @Test func h5pyReadsWhatKdWrote() throws {
        guard let python = ProcessInfo.processInfo.environment["KD_H5PY_PYTHON"] else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "CI must run the h5py interop test (make test sets KD_H5PY_PYTHON)")
            return
        }
        let f = try Fixture()
        let out = f.dir.file("features.h5")
        #expect(try f.extract(out, ["--views", "3"]).status == 0)
        let script = """
            import h5py, json, sys, numpy
            f = h5py.File(sys.argv[1], "r")
            out = {"kind": f.attrs["kd_kind"].decode(), "model_sha256": f.attrs["model_sha256"].decode(), "datasets": {}}
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    flat = obj[...].reshape(-1)
                    if flat.dtype == numpy.float32:   # compare floats bit for bit
                        flat = flat.view(numpy.uint32)
                    out["datasets"]["/" + name] = {"shape": list(obj.shape), "dtype": str(obj.dtype),
                        "chunks": list(obj.chunks or []), "compression": obj.compression,
                        "first": [int(v) for v in flat[:5]], "last": [int(v) for v in flat[-5:]]}
            f.visititems(visit)
            print(json.dumps(out))
            """
        let r = try ChildProcess.start(URL(fileURLWithPath: python), ["-c", script, out]).finish()
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        let store = try FeatureStore(path: out)
        #expect(object["kind"] as? String == "features")
        #expect(object["model_sha256"] as? String == store.modelSHA256)
        let datasets = try #require(object["datasets"] as? [String: [String: Any]])
        let train = try store.split("train"), test = try store.split("test")
        /// Floats as bit patterns, integers as they are.
        func check(_ path: String, shape: [Int], dtype: String, _ values: [Int]) {
            guard let d = datasets[path] else { Issue.record("h5py does not see \(path)"); return }
            #expect(d["shape"] as? [Int] == shape, "\(path)")
            #expect(d["dtype"] as? String == dtype, "\(path)")
            #expect(d["compression"] as? String == "gzip", "\(path)")
            #expect((d["first"] as? [Int]) == Array(values.prefix(5)), "\(path) first values")
            #expect((d["last"] as? [Int]) == Array(values.suffix(5)), "\(path) last values")
        }
        func bits(_ values: [Float]) -> [Int] { values.map { Int($0.bitPattern) } }
        check("/train/features", shape: [600, 64], dtype: "float32", bits(try train.readFeatures(0 ..< 600)))
        check("/train/logits", shape: [600, 10], dtype: "float32", bits(try train.readLogits(0 ..< 600)))
        check("/train/labels", shape: [600], dtype: "uint8", try train.readLabels())
        check("/test/features", shape: [200, 64], dtype: "float32", bits(try test.readFeatures(0 ..< 200)))
        check("/train/views/features", shape: [600, 3, 64], dtype: "float32", bits(try train.readViewFeatures(0 ..< 600)))
        check("/train/views/params", shape: [600, 3, 3], dtype: "int32",
              try train.readViewParams(0 ..< 600).flatMap { [$0.dx, $0.dy, $0.flip ? 1 : 0] })
    }
}
