import Foundation
import HDF5
import NeuralNet
import Testing

/// Files that were damaged after they were made, or hold what no stage can use: a finished
/// model or feature file cut short is refused (65) instead of reported "already complete" and
/// rebuilt with --restart; NaN targets, a feature file without a split the run measures and a
/// model file whose architecture asks for absurd sizes are refused before any work, naming the
/// file and what is wrong; the damaged files stay byte-identical.
@Suite(.serialized) struct DamagedInputsTests {
    static func truncate(_ path: String, to fraction: Double) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: path))
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func finishedOutputsDamagedAfterwards() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 100, test: 40)
        let train = ["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                     "--batch-size", "20", "--threads", "1"]
        #expect(try KDProcess.run(train).status == 0)
        try Self.truncate(dir.file("t/model.h5"), to: 0.6)
        let damaged = try Self.bytes(dir.file("t/model.h5"))
        let again = try KDProcess.run(train)
        #expect(again.status == 65, "\(again.stderr)")
        #expect(again.stderr.contains(dir.file("t/model.h5")) && again.stderr.contains("--restart"), "\(again.stderr)")
        #expect(!again.stderr.contains("already complete"))
        #expect(try Self.bytes(dir.file("t/model.h5")) == damaged, "a refused run touches nothing")
        #expect(try KDProcess.run(train + ["--restart"]).status == 0)
        #expect(try KDProcess.run(["eval", "--model", dir.file("t/model.h5"), "--data", store]).status == 0)

        let extract = ["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", dir.file("f.h5"),
                       "--threads", "1"]
        #expect(try KDProcess.run(extract).status == 0)
        try Self.truncate(dir.file("f.h5"), to: 0.7)
        let cut = try Self.bytes(dir.file("f.h5"))
        let reextract = try KDProcess.run(extract)
        #expect(reextract.status == 65, "\(reextract.stderr)")
        #expect(reextract.stderr.contains(dir.file("f.h5")), "\(reextract.stderr)")
        #expect(try Self.bytes(dir.file("f.h5")) == cut)
        let rebuilt = try KDProcess.run(extract + ["--restart"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try KDProcess.run(["inspect", dir.file("f.h5")]).status == 0)
    }

    @Test func badNumbersMissingSplitsAndAbsurdArchitectures() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 100, test: 40)
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        let features = dir.file("f.h5")
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", features,
                                   "--threads", "1"]).status == 0)
        let distill = ["distill", "--method", "kd", "--arch", "small", "--data", store, "--epochs", "1",
                       "--batch-size", "20", "--threads", "1"]

        // NaN logits in rows 7 and 31 of /train.
        let poisoned = dir.file("poisoned.h5")
        try FileManager.default.copyItem(atPath: features, toPath: poisoned)
        do {
            let file = try H5File.open(poisoned, writable: true)
            let logits = try file.root.openDataset("train/logits")
            for row in [7, 31] {
                try logits.write([Float](repeating: .nan, count: 10), start: [row, 0], count: [1, 10])
            }
            try file.close()
        }
        let before = try Self.bytes(poisoned)
        let nan = try KDProcess.run(distill + ["--targets", poisoned, "--out", dir.file("nan")])
        #expect(nan.status == 65, "\(nan.stderr)")
        #expect(nan.stderr.contains(poisoned) && nan.stderr.contains("/train/logits") && nan.stderr.contains("rows 7, 31"),
                "\(nan.stderr)")
        #expect(try Self.bytes(poisoned) == before)
        #expect(!FileManager.default.fileExists(atPath: dir.file("nan/model.h5")))

        // Features of the training split only: the run measures the test split too.
        let trainOnly = dir.file("train-only.h5")
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", trainOnly,
                                   "--splits", "train", "--threads", "1"]).status == 0)
        let missing = try KDProcess.run(distill + ["--targets", trainOnly, "--out", dir.file("missing")])
        #expect(missing.status == 65 && missing.stderr.contains(trainOnly) && missing.stderr.contains("/test"),
                "\(missing.stderr)")

        // A model file whose architecture asks for a layer of 2⁶⁰ weights.
        let absurd = dir.file("absurd.h5")
        try FileManager.default.copyItem(atPath: dir.file("t/model.h5"), toPath: absurd)
        do {
            let file = try H5File.open(absurd, writable: true)
            let text = try #require(try file.stringAttribute("arch"))
            try file.setAttribute("arch", text.replacingOccurrences(of: "\"vgg\":\"16 M 32 M 64 M\"",
                                                                    with: "\"vgg\":\"16 M 32 M 1073741824 M\""))
            try file.close()
        }
        for command in [["eval", "--model", absurd, "--data", store],
                        ["extract", "--model", absurd, "--data", store, "--out", dir.file("absurd-f.h5")]] {
            let r = try KDProcess.run(command)
            #expect(r.status == 65, "\(command[0]): \(r.stderr)")
            #expect(r.stderr.contains(absurd) && r.stderr.contains("1073741824"), "\(command[0]): \(r.stderr)")
        }
    }

    /// An output whose folder is a file: every writing stage exits 73 naming the path and why,
    /// and the file in the way is untouched.
    @Test func outputsUnderAFileAreCannotCreate() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", dir.file("f.h5"),
                                   "--threads", "1"]).status == 0)
        let blocker = dir.file("blocker")
        try "in the way".write(toFile: blocker, atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            ["decode", dir.file("idx"), "--out", blocker + "/s.h5"],
            ["train", "--arch", "small", "--data", store, "--out", blocker + "/run", "--epochs", "1"],
            ["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", blocker + "/f.h5"],
            ["distill", "--method", "kd", "--arch", "small", "--data", store, "--targets", dir.file("f.h5"),
             "--out", blocker + "/kd", "--epochs", "1"],
        ]
        for command in commands {
            let r = try KDProcess.run(command)
            #expect(r.status == 73, "\(command[0]): \(r.stderr)")
            #expect(r.stderr.contains(blocker) && r.stderr.contains("is a file, not a folder"), "\(command[0]): \(r.stderr)")
        }
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "in the way")
    }
}
