import Foundation
import HDF5
import NeuralNet
import Testing

/// `kd distill --method ctkd` through the real binary: the student and the scratch teacher train
/// side by side, both models and both optimizers live in every checkpoint, a run killed at
/// several points resumes to both models bit-identical, metrics.csv has a column per term and
/// the scratch teacher's accuracy, and every check before work refuses with the right code and
/// a message naming the problem.
@Suite(.serialized) struct CollaborativeTeachingTests {
    /// A synthetic store and an expert (resnet8) trained on it, extracted with attention maps
    /// of its three groups and two stored views.
    struct Expert {
        let dir: TempDir
        let store: String
        let features: String

        init() throws {
            dir = try TempDir()
            store = try SyntheticStore.make(in: dir, train: 300, test: 100, side: 16)
            features = dir.file("expert.h5")
            let t = try KDProcess.run(["train", "--arch", "resnet8", "--data", store, "--out", dir.file("expert"),
                                       "--epochs", "1", "--batch-size", "32", "--threads", "2"])
            #expect(t.status == 0, "\(t.stderr)")
            let e = try KDProcess.run(["extract", "--model", dir.file("expert/model.h5"), "--data", store, "--out", features,
                                       "--attention", "group1,group2,group3", "--views", "2", "--threads", "2"])
            #expect(e.status == 0, "\(e.stderr)")
        }

        var arguments: [String] {
            ["distill", "--method", "ctkd", "--arch", "resnet8", "--scratch", "resnet14", "--data", store,
             "--targets", features, "--augment", "--epochs", "3", "--batch-size", "32", "--threads", "2"]
        }

        func ctkd(_ out: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> KDRun {
            try KDProcess.run(arguments + ["--out", out] + extra, environment: env)
        }

        func bits(_ out: String) throws -> [[String: [UInt32]]] {
            [try SyntheticStore.parameterBits(out + "/model.h5"), try SyntheticStore.parameterBits(out + "/scratch/model.h5")]
        }
    }

    @Test func bothNetworksTrainAndResumeBitIdenticalAfterSIGKILL() throws {
        let f = try Expert()
        let first = try f.ctkd(f.dir.file("ctkd"))
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains(f.dir.file("ctkd/scratch/model.h5")), "\(first.stdout)")
        let reference = try f.bits(f.dir.file("ctkd"))
        #expect(reference[0] != reference[1].filter { reference[0][$0.key] != nil }, "two networks, not one")

        // The columns of the issue, in order, then the scratch teacher's accuracy.
        let metrics = try String(contentsOfFile: f.dir.file("ctkd/metrics.csv"), encoding: .utf8).split(separator: "\n")
        let columns = ["ce/student", "ce/scratch", "l2/scratch", "at/group1", "at/group2", "at/group3", "accuracy/scratch"]
        #expect(metrics[0].hasSuffix(columns.map { ",train_\($0),test_\($0)" }.joined()), "\(metrics[0])")
        #expect(metrics.count == 4)
        for row in metrics.dropFirst() {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields.count == 10 + 2 * columns.count && fields.suffix(14).allSatisfy { Double($0) != nil }, "\(row)")
        }

        // The models and a checkpoint: both networks, both optimizers.
        let student = try H5File.open(f.dir.file("ctkd/model.h5")), scratch = try H5File.open(f.dir.file("ctkd/scratch/model.h5"))
        #expect(try student.stringAttribute("trainee") == "student" && scratch.stringAttribute("trainee") == "scratch")
        #expect(try student.stringAttribute("method") == "ctkd" && student.doubleAttribute("l2_weight") == 0.05)
        #expect(try scratch.doubleAttribute("test_accuracy") != nil)
        let checkpoint = try H5File.open(f.dir.file("ctkd/checkpoints/epoch-0003.h5"))
        #expect(try checkpoint.root.contains("params") && checkpoint.root.contains("optimizer"))
        #expect(try checkpoint.root.contains("trainees/scratch/params") && checkpoint.root.contains("trainees/scratch/optimizer"))
        #expect(try checkpoint.root.openGroup("trainees/scratch").stringAttribute("arch")?.contains("resnet14") == true)
        let eval = try KDProcess.run(["eval", "--model", f.dir.file("ctkd/scratch/model.h5"), "--data", f.store])
        #expect(eval.status == 0, "\(eval.stderr)")

        // Killed while writing the first checkpoint, between the two final models, and by
        // SIGKILL mid-epoch: each resumes to both models bit-identical.
        for point in ["checkpoint:1", "model:1"] {
            let out = f.dir.file("crash-\(point)")
            let crashed = try f.ctkd(out, env: ["KD_CRASH_AT": point])
            #expect(crashed.status != 0, "\(point)")
            #expect(!FileManager.default.fileExists(atPath: out + "/model.h5"), "\(point)")
            let resumed = try f.ctkd(out)
            #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
            #expect(try f.bits(out) == reference, "crashed at \(point), resumed")
        }
        for delay in [0.0, 0.15] {
            let out = f.dir.file("kill-\(delay)")
            try KDProcess.killed(f.arguments + ["--out", out], after: out + "/checkpoints/epoch-0001.h5", delay: delay)
            let resumed = try f.ctkd(out)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try f.bits(out) == reference, "killed after \(delay) s, resumed")
        }
        // Another scratch teacher is another run.
        let changed = try KDProcess.run(f.arguments.map { $0 == "resnet14" ? "resnet8" : $0 } + ["--out", f.dir.file("ctkd")])
        #expect(changed.status == 64 && changed.stderr.contains("arch/scratch"), "\(changed.stderr)")
    }

    @Test func checksRefuseBeforeWork() throws {
        let f = try Expert()
        var attempt = 0
        func refused(_ arguments: [String], _ code: Int32, _ needles: [String], _ what: String) throws {
            attempt += 1
            let out = f.dir.file("refused-\(attempt)")
            let r = try KDProcess.run(arguments + ["--out", out])
            #expect(r.status == code, "\(what): \(r.stderr)")
            for needle in needles { #expect(r.stderr.contains(needle), "\(what): \(r.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: out + "/model.h5"), "\(what)")
        }
        func replacing(_ option: String, with value: String) -> [String] {
            var a = f.arguments
            a[a.firstIndex(of: option)! + 1] = value
            return a
        }
        try refused(f.arguments.filter { $0 != "--scratch" && $0 != "resnet14" }, 64, ["--scratch"], "no scratch teacher")
        try refused(f.arguments + ["--targets", f.features], 64, ["one --targets"], "two targets files")
        try refused(f.arguments + ["--l2-weight", "-1"], 64, ["--l2-weight", "≥ 0"], "negative γ")
        try refused(f.arguments + ["--temperature", "4"], 64, ["--temperature"], "KD's option")
        let kdWithGamma = ["distill", "--method", "kd", "--arch", "resnet8", "--data", f.store, "--targets", f.features,
                           "--l2-weight", "1"]
        try refused(kdWithGamma, 64, ["--l2-weight", "ctkd"], "γ without ctkd")

        // A scratch teacher without a classifier head.
        let headless = f.dir.file("headless.json")
        try #"{"name": "headless", "input": [1, 16, 16], "vgg": "8 M"}"#.write(toFile: headless, atomically: true, encoding: .utf8)
        try refused(replacing("--scratch", with: headless), 64, ["headless", "no classifier head", "--scratch"],
                    "headless scratch teacher")
        // A store without attention maps.
        let plain = f.dir.file("plain.h5")
        #expect(try KDProcess.run(["extract", "--model", f.dir.file("expert/model.h5"), "--data", f.store, "--out", plain,
                                   "--views", "2", "--threads", "2"]).status == 0)
        try refused(replacing("--targets", with: plain), 65, [plain, "no attention maps"], "no maps")
        // A student whose tap has another spatial size than the stored maps.
        let shifted = f.dir.file("shifted.json")
        var architecture = try ArchitectureCatalog.resolve("resnet8")
        architecture.taps["group1"] = "layer2"   // 8×8 where the stored group1 is 16×16
        try architecture.jsonText.write(toFile: shifted, atomically: true, encoding: .utf8)
        try refused(replacing("--arch", with: shifted) + ["--attention", "group1"], 65,
                    ["group1", "same spatial size", f.features], "tap shape mismatch")
    }
}
