import Datasets
import Distillation
import Foundation
import HDF5
import NeuralNet
import Testing

/// `kd distill` and `kd ensemble` through the real binary on a small synthetic store: a teacher
/// (the `small` preset, 64-d dense feature), its feature store, students of its chunks, a
/// student of a student, and ensembles — plus every refusal the stage contract asks for.
@Suite(.serialized) struct DistillEnsembleTests {
    /// Built once for the suite: store, teacher, features and two half-students.
    final class Lab: @unchecked Sendable {
        let dir: TempDir
        let store: String
        init() throws {
            dir = try TempDir()
            store = try SyntheticStore.make(in: dir)
            try Self.arch("half", out: 32, in: dir)
            try Self.arch("quarter", out: 16, in: dir)
            try Self.expectOK(["train", "--arch", "small", "--data", store, "--out", dir.file("teacher"),
                               "--epochs", "3", "--batch-size", "32", "--threads", "2"])
            try Self.expectOK(["extract", "--model", dir.file("teacher/model.h5"), "--data", store,
                               "--out", dir.file("teacher.h5"), "--threads", "2"])
            for k in 1...2 { try distill("half", "\(k)/2", targets: dir.file("teacher.h5"), out: "s2-\(k)") }
        }

        static func arch(_ name: String, out: Int, in dir: TempDir) throws {
            let json = #"{"name": "\#(name)", "input": [1, 16, 16], "vgg": "16 16 M 32 M 64 M", "head": {"out": \#(out)}}"#
            try Data(json.utf8).write(to: URL(fileURLWithPath: dir.file("\(name).json")))
        }

        static func expectOK(_ args: [String]) throws {
            let r = try KDProcess.run(args)
            #expect(r.status == 0, "kd \(args.joined(separator: " ")): \(r.stderr)")
        }

        func distill(_ arch: String, _ chunk: String, targets: String, out: String, _ extra: [String] = []) throws {
            try Self.expectOK(["distill", "--arch", dir.file("\(arch).json"), "--data", store, "--targets", targets,
                               "--chunk", chunk, "--out", dir.file(out), "--epochs", "6", "--batch-size", "32",
                               "--optimizer", "adam", "--lr", "0.003", "--threads", "2"] + extra)
        }
    }

    static let lab = Result { try Lab() }

    @Test func studentsLearnTheirChunks() throws {
        let lab = try Self.lab.get()
        let features = try H5File.open(lab.dir.file("teacher.h5")).root.openDataset("test/features")
        let (n, d) = (features.shape[0], features.shape[1])
        let values = try features.read(as: Float.self)
        for k in 1...2 {
            let model = try H5File.open(lab.dir.file("s2-\(k)/model.h5"))
            let columns = (k - 1) * d / 2 ..< k * d / 2
            // Variance of the chunk's columns around their own means: what predicting the mean would cost.
            var variance = 0.0
            for c in columns {
                let column = (0..<n).map { Double(values[$0 * d + c]) }
                let mean = column.reduce(0, +) / Double(n)
                variance += column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
            }
            variance /= Double(columns.count)
            let mse = try #require(try model.doubleAttribute("test_loss"))
            #expect(mse < 0.5 * variance, "student \(k)/2: test MSE \(mse) against chunk variance \(variance)")
            #expect(try model.intArrayAttribute("root_range") == [columns.lowerBound, columns.upperBound])
            #expect(try model.stringAttribute("chunk") == "\(k)/2")
            let metrics = try String(contentsOfFile: lab.dir.file("s2-\(k)/metrics.csv"), encoding: .utf8)
            #expect(metrics.split(separator: "\n").count == 7, "a header and one row per epoch")
        }
    }

    @Test func ensembleBeforeFineTuningIsTheHeadOnConcatenatedStudents() throws {
        let lab = try Self.lab.get()
        let r = try KDProcess.run(["ensemble", "--students", lab.dir.file("s2-1/model.h5"), lab.dir.file("s2-2/model.h5"),
                                   "--head", lab.dir.file("teacher/model.h5"), "--data", lab.store,
                                   "--out", lab.dir.file("ens0")])
        #expect(r.status == 0, "\(r.stderr)")
        let stored = try #require(try H5File.open(lab.dir.file("ens0/model.h5")).doubleAttribute("test_accuracy_before_finetune"))

        // By hand: each student on the test images, outputs side by side, the teacher's Linear, argmax.
        let students = try (1...2).map { try TrainedModel.load(path: lab.dir.file("s2-\($0)/model.h5")) }
        let teacher = try TrainedModel.load(path: lab.dir.file("teacher/model.h5"))
        let head = try #require(teacher.model.head)
        let images = try ImageSet.load(try DataStore(path: lab.store), split: "test")
        var batch = Tensor(shape: [0])
        images.fill(&batch, indices: Array(0..<images.count)[...], normalization: students[0].normalization)
        let outputs = students.map { $0.model.forward(batch, mode: .prediction) }
        let width = outputs.map(\.sampleSize).reduce(0, +)
        var joined: [Float] = []
        for row in 0..<images.count {
            for output in outputs {
                let w = output.sampleSize
                joined += output.data[row * w ..< (row + 1) * w]
            }
        }
        let predicted = argmaxRows(head.forward(Tensor(shape: [images.count, width], data: joined), mode: .prediction))
        let correct = zip(predicted, images.labels).filter { $0 == $1 }.count
        #expect(stored == Double(correct) / Double(images.count))

        let eval = try KDProcess.run(["eval", "--model", lab.dir.file("ens0/model.h5"), "--data", lab.store, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.contains("\"accuracy\""))
    }

    @Test func fineTunedEnsembleIsAModelLikeAnyOther() throws {
        let lab = try Self.lab.get()
        let r = try KDProcess.run(["ensemble", "--students", lab.dir.file("s2-1/model.h5"), lab.dir.file("s2-2/model.h5"),
                                   "--head", lab.dir.file("teacher/model.h5"), "--data", lab.store,
                                   "--out", lab.dir.file("ens2"), "--finetune-epochs", "2", "--lr", "0.01", "--batch-size", "32"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("fine-tuned"))
        let file = try H5File.open(lab.dir.file("ens2/model.h5"))
        #expect(try file.stringArrayAttribute("ensemble_members")?.count == 2)
        #expect(try file.doubleAttribute("test_accuracy") != nil)
        #expect(try file.root.contains("params/members.1.classifier.weight"))
        // Head-only fine-tuning leaves the students' weights as they were.
        let student = try SyntheticStore.parameterBits(lab.dir.file("s2-2/model.h5"))
        let ensemble = try SyntheticStore.parameterBits(lab.dir.file("ens2/model.h5"))
        #expect(ensemble["members.1.features.0.weight"] == student["features.0.weight"])
        let extract = try KDProcess.run(["extract", "--model", lab.dir.file("ens2/model.h5"), "--data", lab.store,
                                         "--out", lab.dir.file("ens2.h5")])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try H5File.open(lab.dir.file("ens2.h5")).root.openDataset("test/features").shape == [200, 64])
    }

    @Test func aStudentOfAStudentStandsForItsSliceOfTheRoot() throws {
        let lab = try Self.lab.get()
        try Lab.expectOK(["extract", "--model", lab.dir.file("s2-1/model.h5"), "--data", lab.store,
                          "--out", lab.dir.file("s2-1.h5")])
        try lab.distill("quarter", "2/2", targets: lab.dir.file("s2-1.h5"), out: "s4-2")
        let model = try H5File.open(lab.dir.file("s4-2/model.h5"))
        #expect(try model.intArrayAttribute("root_range") == [16, 32], "chunk 2/2 of [0, 32) is [16, 32)")
        #expect(try model.stringAttribute("root_sha256")
                == H5File.open(lab.dir.file("s2-1/model.h5")).stringAttribute("root_sha256"))
    }

    @Test func badChunksAndEnsemblesAreRefused() throws {
        let lab = try Self.lab.get()
        func distill(_ chunk: String, arch: String = "half") throws -> KDRun {
            try KDProcess.run(["distill", "--arch", lab.dir.file("\(arch).json"), "--data", lab.store,
                               "--targets", lab.dir.file("teacher.h5"), "--chunk", chunk, "--out", lab.dir.file("bad")])
        }
        let outOfRange = try distill("3/2")
        #expect(outOfRange.status == 64)
        #expect(outOfRange.stderr.contains("chunk 3/2 does not exist"))
        let notDivisible = try distill("1/3")
        #expect(notDivisible.status == 65)
        #expect(notDivisible.stderr.contains("do not split into 3 equal chunks"))
        let malformed = try distill("half")
        #expect(malformed.status == 64)
        let wrongWidth = try distill("1/4")
        #expect(wrongWidth.status == 65)
        #expect(wrongWidth.stderr.contains("outputs 32 values, but chunk 1/4"))

        func ensemble(_ students: [String]) throws -> KDRun {
            try KDProcess.run(["ensemble", "--students"] + students.map { lab.dir.file("\($0)/model.h5") }
                              + ["--head", lab.dir.file("teacher/model.h5"), "--data", lab.store, "--out", lab.dir.file("bad-ens")])
        }
        let gap = try ensemble(["s2-1"])
        #expect(gap.status == 65)
        #expect(gap.stderr.contains("gap: no student stands for [32, 64)"))
        let order = try ensemble(["s2-2", "s2-1"])
        #expect(order.status == 65)
        #expect(order.stderr.contains("wrong order"))
        let overlap = try ensemble(["s2-1", "s2-1", "s2-2"])
        #expect(overlap.status == 65)
        #expect(overlap.stderr.contains("overlap"))
        #expect(!FileManager.default.fileExists(atPath: lab.dir.file("bad-ens/model.h5")))

        // A second teacher (another seed) is another root: its students cannot join the first's.
        try Lab.expectOK(["train", "--arch", "small", "--data", lab.store, "--out", lab.dir.file("teacher-b"),
                          "--epochs", "1", "--batch-size", "32", "--seed", "7"])
        try Lab.expectOK(["extract", "--model", lab.dir.file("teacher-b/model.h5"), "--data", lab.store,
                          "--out", lab.dir.file("teacher-b.h5")])
        try lab.distill("half", "2/2", targets: lab.dir.file("teacher-b.h5"), out: "b-2", ["--epochs", "1"])
        let mixed = try ensemble(["s2-1", "b-2"])
        #expect(mixed.status == 65)
        #expect(mixed.stderr.contains("another teacher"))
    }

    @Test func seedEnsemblesHaveTheSeedsParameterCounts() throws {
        let head = Architecture.Head(out: 10)
        for (preset, n, expected) in [("s2", 2, 2_485_066), ("s4", 4, 2_405_514), ("s8", 8, 1_942_026)] {
            let member = try #require(ArchitectureCatalog.preset(preset))
            let architecture = EnsembleAssembly.architecture(members: Array(repeating: member, count: n),
                                                             input: [3, 32, 32], head: head)
            #expect(try Model(architecture).parameterCount == expected, "\(n) × \(preset)")
        }
    }
}
