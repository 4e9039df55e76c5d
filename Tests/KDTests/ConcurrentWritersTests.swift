import Datasets
import Distillation
import Foundation
import HDF5
import Testing

/// Two kd processes aimed at one output: the second is refused with exit 75 naming the output
/// and the process that holds it, before it writes anything, and the first one's result is
/// whole and bit-identical to a run alone — for decode, train, extract, distill and ensemble —
/// or, for a report, whole. The race
/// window is held open by `KD_PAUSE_AT=claimed:S`: the first process sleeps right after taking
/// its claim.
@Suite(.serialized) struct ConcurrentWritersTests {
    /// Runs `arguments` with the claim held open for `seconds`, waits until the claim is taken
    /// (the lock file names this process), runs `arguments` again alongside and returns both.
    static func race(_ arguments: [String], lockFile: String, seconds: Double = 3) throws -> (first: KDRun, second: KDRun) {
        let dir = try TempDir()
        let p = Process()
        p.executableURL = KDProcess.binary
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["KD_PAUSE_AT"] = "claimed:\(seconds)"
        p.environment = env
        FileManager.default.createFile(atPath: dir.file("out"), contents: nil)
        FileManager.default.createFile(atPath: dir.file("err"), contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("out")))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("err")))
        try p.run()
        let owner = "pid \(p.processIdentifier):"
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning, Date() < deadline,
              !((try? String(contentsOfFile: lockFile, encoding: .utf8))?.hasPrefix(owner) ?? false) {
            usleep(2_000)
        }
        let second = try KDProcess.run(arguments)
        #expect(p.isRunning, "the first process must still hold its claim while the second one runs")
        p.waitUntilExit()
        let first = KDRun(status: p.terminationStatus,
                          stdout: (try? String(contentsOfFile: dir.file("out"), encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "")
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("another kd process") && second.stderr.contains(owner), "\(second.stderr)")
        #expect(first.status == 0, "\(first.stderr)")
        return (first, second)
    }

    static func storeContents(_ path: String) throws -> [[UInt8]] {
        let store = try DataStore(path: path)
        return try store.splitNames.sorted().flatMap { name -> [[UInt8]] in
            let set = try ImageSet.load(store, split: name)
            return [set.pixels, set.labels.map { UInt8($0) }]
        }
    }

    @Test func decodeAndExtract() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let decode = ["decode", dir.file("idx"), "--pad", "2", "--out", dir.file("raced.h5")]
        let (first, second) = try Self.race(decode, lockFile: dir.file("raced.h5.lock"))
        #expect(second.stderr.contains(dir.file("raced.h5")), "\(second.stderr)")
        #expect(first.stdout.contains("raced.h5"))
        #expect(try Self.storeContents(dir.file("raced.h5")) == Self.storeContents(store), "the winner's store is whole")
        #expect(!FileManager.default.fileExists(atPath: dir.file("raced.h5.lock")), "the claim is given up when done")

        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "50", "--threads", "1"]).status == 0)
        let extract = ["extract", "--model", dir.file("t/model.h5"), "--data", store, "--views", "2", "--threads", "1"]
        #expect(try KDProcess.run(extract + ["--out", dir.file("solo.h5")]).status == 0)
        let raced = dir.file("features.h5")
        let race = try Self.race(extract + ["--out", raced], lockFile: raced + ".lock")
        #expect(race.second.stderr.contains(raced), "\(race.second.stderr)")
        let a = try FeatureStore(path: dir.file("solo.h5")).split("train"), b = try FeatureStore(path: raced).split("train")
        #expect(try a.readFeatures(0 ..< a.count) == b.readFeatures(0 ..< b.count))
        #expect(try a.readViewLogits(0 ..< a.count) == b.readViewLogits(0 ..< b.count))
    }

    @Test func trainAndDistill() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let train = ["train", "--arch", "small", "--data", store, "--epochs", "2", "--batch-size", "50", "--threads", "1"]
        #expect(try KDProcess.run(train + ["--out", dir.file("solo")]).status == 0)
        let race = try Self.race(train + ["--out", dir.file("raced")], lockFile: dir.file("raced/.lock"))
        #expect(race.second.stderr.contains(dir.file("raced")), "\(race.second.stderr)")
        #expect(try SyntheticStore.parameterBits(dir.file("raced/model.h5"))
                == SyntheticStore.parameterBits(dir.file("solo/model.h5")))

        #expect(try KDProcess.run(["extract", "--model", dir.file("solo/model.h5"), "--data", store, "--out",
                                   dir.file("teacher.h5"), "--threads", "1"]).status == 0)
        let distill = ["distill", "--method", "kd", "--arch", "small", "--data", store, "--targets", dir.file("teacher.h5"),
                       "--epochs", "2", "--batch-size", "50", "--threads", "1"]
        #expect(try KDProcess.run(distill + ["--out", dir.file("kd-solo")]).status == 0)
        let kd = try Self.race(distill + ["--out", dir.file("kd")], lockFile: dir.file("kd/.lock"))
        #expect(kd.second.stderr.contains(dir.file("kd")), "\(kd.second.stderr)")
        #expect(try SyntheticStore.parameterBits(dir.file("kd/model.h5"))
                == SyntheticStore.parameterBits(dir.file("kd-solo/model.h5")))
    }

    /// `kd ensemble`, assembling only (it claims the run folder before writing the model) and
    /// fine-tuning (the training run's claim), on the students of DistillEnsembleTests' lab.
    @Test func ensemble() throws {
        let lab = try DistillEnsembleTests.lab.get()
        let dir = try TempDir()
        let ensemble = ["ensemble", "--students", lab.dir.file("s2-1/model.h5"), lab.dir.file("s2-2/model.h5"),
                        "--head", lab.dir.file("teacher/model.h5"), "--data", lab.store, "--batch-size", "32",
                        "--threads", "1"]
        for epochs in ["0", "1"] {
            let arguments = ensemble + ["--finetune-epochs", epochs]
            let solo = try KDProcess.run(arguments + ["--out", dir.file("solo-\(epochs)")])
            #expect(solo.status == 0, "\(solo.stderr)")
            let raced = dir.file("raced-\(epochs)")
            let race = try Self.race(arguments + ["--out", raced], lockFile: raced + "/.lock")
            #expect(race.second.stderr.contains(raced), "\(race.second.stderr)")
            #expect(try SyntheticStore.parameterBits(raced + "/model.h5")
                    == SyntheticStore.parameterBits(dir.file("solo-\(epochs)/model.h5")), "fine-tuning epochs: \(epochs)")
        }
    }

    @Test func report() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("m/student-seed0"),
                                   "--epochs", "1", "--batch-size", "20", "--threads", "1"]).status == 0)
        let out = dir.file("report")
        let race = try Self.race(["report", "--methods", dir.file("m"), "--out", out], lockFile: out + ".lock")
        #expect(race.second.stderr.contains(out), "\(race.second.stderr)")
        #expect(try String(contentsOfFile: out + "/report.md", encoding: .utf8).contains("| m | small | labels only | 1 |"))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }
}
