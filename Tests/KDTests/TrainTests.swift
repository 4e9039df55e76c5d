import Foundation
import HDF5
import Testing

/// `kd train` and `kd eval` through the real binary: learning, the stage contract (resume after
/// SIGKILL bit-identical, refusal of changed settings, corrupt checkpoints skipped, divergence
/// stopped) and bad input.
@Suite(.serialized) struct TrainTests {
    static let recipe = ["--arch", "small", "--epochs", "3", "--batch-size", "32", "--lr", "0.05", "--threads", "2"]

    func train(_ store: String, _ out: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> KDRun {
        try KDProcess.run(["train", "--data", store, "--out", out] + Self.recipe + extra, environment: env)
    }

    @Test func learnsAndEvaluates() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir)
        let r = try train(store, dir.file("run"), ["--val-split", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("epoch 3/3"))
        let metrics = try String(contentsOfFile: dir.file("run/metrics.csv"), encoding: .utf8)
            .split(separator: "\n")
        #expect(metrics.count == 4)
        #expect(metrics[0].hasPrefix("epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy"))
        let model = try H5File.open(dir.file("run/model.h5"))
        #expect(try model.stringAttribute("kd_kind") == "model")
        #expect(try model.doubleArrayAttribute("input_mean")?.count == 1)
        let accuracy = try #require(try model.doubleAttribute("test_accuracy"))
        #expect(accuracy > 0.8, "the small network should learn the synthetic classes")

        let eval = try KDProcess.run(["eval", "--model", dir.file("run/model.h5"), "--data", store, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect(abs((json["accuracy"] as? Double ?? -1) - accuracy) < 1e-9, "kd eval agrees with the run's own measure")
        let confusion = try #require(json["confusion"] as? [[Int]])
        #expect(confusion.count == 10 && confusion.joined().reduce(0, +) == 200)

        let table = try KDProcess.run(["eval", "--model", dir.file("run/model.h5"), "--data", store])
        #expect(table.stdout.contains("confusion matrix"))

        let again = try train(store, dir.file("run"), ["--val-split", "100"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already complete"))
    }

    @Test func killedRunsResumeBitIdentical() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir)
        let unbroken = try train(store, dir.file("unbroken"), ["--augment"])
        #expect(unbroken.status == 0, "\(unbroken.stderr)")
        let reference = try SyntheticStore.parameterBits(dir.file("unbroken/model.h5"))

        // Killed while writing the first, then the third checkpoint (the file is whole on disk
        // as .partial but not yet renamed), then resumed.
        for point in ["checkpoint:1", "checkpoint:3"] {
            let out = dir.file("crash-\(point)")
            let crashed = try train(store, out, ["--augment"], env: ["KD_CRASH_AT": point])
            #expect(crashed.status != 0, "the fault point \(point) should kill the run")
            #expect(!FileManager.default.fileExists(atPath: out + "/model.h5"))
            let resumed = try train(store, out, ["--augment"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try SyntheticStore.parameterBits(out + "/model.h5") == reference, "resumed after \(point)")
        }

        // Killed with SIGKILL in the middle of epochs, at different moments.
        for delay in [0.0, 0.3] {
            let out = dir.file("kill-\(delay)")
            let p = Process()
            p.executableURL = KDProcess.binary
            p.arguments = ["train", "--data", store, "--out", out, "--augment"] + Self.recipe
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            while !FileManager.default.fileExists(atPath: out + "/checkpoints/epoch-0001.h5"), p.isRunning {
                usleep(2_000)
            }
            usleep(UInt32(delay * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let resumed = try train(store, out, ["--augment"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try SyntheticStore.parameterBits(out + "/model.h5") == reference, "resumed after a kill at +\(delay) s")
        }
    }

    @Test func corruptNewestCheckpointIsSkipped() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir)
        let reference = try train(store, dir.file("ref"))
        #expect(reference.status == 0)
        let out = dir.file("run")
        _ = try train(store, out, env: ["KD_CRASH_AT": "checkpoint:3"])
        let newest = out + "/checkpoints/epoch-0002.h5"
        #expect(FileManager.default.fileExists(atPath: newest))
        try Data(repeating: 0x55, count: 4096).write(to: URL(fileURLWithPath: newest))
        let resumed = try train(store, out)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("warning: skipping checkpoint \(newest)"))
        #expect(resumed.stderr.contains("resuming \(out) after epoch 1"))
        #expect(try SyntheticStore.parameterBits(out + "/model.h5")
                == SyntheticStore.parameterBits(dir.file("ref/model.h5")))
    }

    @Test func changedSettingsAreRefusedUnlessRestart() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let out = dir.file("run")
        #expect(try train(store, out).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/model.h5"))
        let changed = try train(store, out, ["--epochs", "4"])
        #expect(changed.status == 64)
        #expect(changed.stderr.contains("epochs 3 → 4"))
        #expect(changed.stderr.contains("--restart"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.h5")) == before, "a refused run touches nothing")
        let restarted = try train(store, out, ["--epochs", "4", "--restart"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(restarted.stderr.contains("epoch 4/4"))
    }

    @Test func divergenceStopsWithAClearMessage() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let r = try KDProcess.run(["train", "--data", store, "--out", dir.file("run"), "--arch", "small",
                                   "--epochs", "2", "--lr", "1e30", "--batch-size", "32"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("training diverged at epoch 1, step"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("run/model.h5")))
    }

    @Test func badInputsAreRefused() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 100, test: 20)
        let missing = try KDProcess.run(["train", "--arch", "small", "--data", dir.file("none.h5"), "--out", dir.file("r")])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("none.h5"))
        let noHead = try KDProcess.run(["train", "--arch", "s8", "--data", store, "--out", dir.file("r")])
        #expect(noHead.status == 64)
        #expect(noHead.stderr.contains("no classifier head"))
        let badRecipe = dir.file("recipe.json")
        try Data(#"{"epochs": 2, "learning_rate": 0.1}"#.utf8).write(to: URL(fileURLWithPath: badRecipe))
        let recipe = try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("r"), "--recipe", badRecipe])
        #expect(recipe.status == 65)
        #expect(recipe.stderr.contains("learning_rate"))
        let noModel = try KDProcess.run(["eval", "--model", dir.file("none.h5"), "--data", store])
        #expect(noModel.status == 66)
    }

    @Test func evalRefusesAModelOfOtherImages() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 100, test: 20)
        #expect(try train(store, dir.file("run"), ["--epochs", "1"]).status == 0)
        try DecodeTests.write(DecodeTests.cifar10Files(), to: dir.file("cifar"))
        #expect(try KDProcess.run(["decode", dir.file("cifar"), "--out", dir.file("cifar.h5")]).status == 0)
        let r = try KDProcess.run(["eval", "--model", dir.file("run/model.h5"), "--data", dir.file("cifar.h5")])
        #expect(r.status == 65)
        #expect(r.stderr.contains("takes images of 1×16×16"))
        #expect(r.stderr.contains("3×32×32"))
    }

    /// Real data (CI installs Debian's dataset-fashion-mnist): a small network on a few
    /// thousand images must clearly learn.
    @Test func learnsRealFashionMNIST() throws {
        let source = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: source) else {
            #expect(ProcessInfo.processInfo.environment["CI"] == nil, "CI must install dataset-fashion-mnist")
            return
        }
        let dir = try TempDir()
        #expect(try KDProcess.run(["decode", source, "--pad", "2", "--out", dir.file("fm.h5")]).status == 0)
        let r = try KDProcess.run(["train", "--arch", "small", "--data", dir.file("fm.h5"), "--out", dir.file("run"),
                                   "--epochs", "2", "--limit", "4000", "--batch-size", "64", "--lr", "0.05"])
        #expect(r.status == 0, "\(r.stderr)")
        let accuracy = try #require(try H5File.open(dir.file("run/model.h5")).doubleAttribute("test_accuracy"))
        #expect(accuracy > 0.6, "10 classes: chance is 0.1")
    }
}
