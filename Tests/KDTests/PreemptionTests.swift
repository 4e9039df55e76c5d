import Foundation
import HDF5
import NeuralNet
import Testing

/// SIGTERM and SIGINT, as SLURM sends them before a time limit or a preemption, through the real
/// binary: train and distill finish the current step, write a checkpoint inside the epoch and
/// exit 143 (130 for SIGINT) within seconds; extract stops after its current block. Run again,
/// each continues from there to a result bit-identical to an unbroken run's.
@Suite(.serialized) struct PreemptionTests {
    /// A small network with dropout, so the dropout masks' generators must be resumed too.
    static let droppingArch = """
        {"name": "dropping", "input": [1, 16, 16],
         "layers": [{"type": "conv", "out": 6, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
                    {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "dropout", "p": 0.3}],
         "head": {"out": 10, "name": "fc"}}
        """

    /// Pauses every training step this long, so a signal lands inside an epoch however fast the machine.
    static let slowSteps = ["KD_PAUSE_AT": "step:0.1"]

    /// A run stopped by `signal` inside epoch 2 of 3 (600 images in steps of 32: 19 a epoch):
    /// checks the exit, the message and the checkpoint; returns the stopped run's stderr.
    static func stopInsideEpoch2(_ arguments: [String], out: String, signal: Int32, code: Int32,
                                 name: String) throws -> String {
        let (run, seconds) = try KDProcess.signalled(arguments + ["--out", out], environment: slowSteps, signal: signal,
                                                     delay: 0.5) { _ in
            FileManager.default.fileExists(atPath: out + "/checkpoints/epoch-0001.h5")
        }
        #expect(run.status == code, "\(run.stderr)")
        #expect(seconds < 5, "exited \(seconds) s after \(name)")
        #expect(run.stderr.contains("stopped by \(name)") && run.stderr.contains("run the same command again"),
                "\(run.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints")
        let inside = names.filter { $0.hasPrefix("epoch-0002-step-") }
        #expect(inside.count == 1, "\(names)")
        if let name = inside.first {
            #expect(run.stderr.contains(out + "/checkpoints/" + name), "the message names the checkpoint: \(run.stderr)")
            let step = try H5File.open(out + "/checkpoints/" + name).intAttribute("step")
            #expect(step.map { (1..<19).contains($0) } == true, "step \(String(describing: step))")
            #expect(name == String(format: "epoch-0002-step-%06d.h5", step ?? -1))
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/model.h5"))
        return run.stderr
    }

    /// metrics.csv without the timing columns (images per second, seconds), which differ between runs.
    static func metricsWithoutTimings(_ run: String) throws -> [[Substring]] {
        let lines = try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        let header = lines.first?.split(separator: ",") ?? []
        let timing = Set(header.indices.filter { header[$0].contains("img") || header[$0].contains("second") })
        #expect(timing.count == 2, "\(header)")
        return lines.map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).enumerated()
                .filter { !timing.contains($0.offset) }.map(\.element)
        }
    }

    @Test func trainStopsInsideAnEpochOnSIGTERMAndResumesBitIdentical() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 600, test: 100)
        try Self.droppingArch.write(toFile: dir.file("dropping.json"), atomically: true, encoding: .utf8)
        let arguments = ["train", "--arch", dir.file("dropping.json"), "--data", store, "--augment",
                         "--epochs", "3", "--batch-size", "32", "--threads", "2"]
        let reference = try KDProcess.run(arguments + ["--out", dir.file("unbroken")])
        #expect(reference.status == 0, "\(reference.stderr)")

        let out = dir.file("stopped")
        _ = try Self.stopInsideEpoch2(arguments, out: out, signal: SIGTERM, code: 143, name: "SIGTERM")
        let resumed = try KDProcess.run(arguments + ["--out", out])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming \(out) in epoch 2 after step"), "\(resumed.stderr)")
        #expect(try SyntheticStore.parameterBits(out + "/model.h5")
                == SyntheticStore.parameterBits(dir.file("unbroken/model.h5")))
        // The epoch's row is the same too: its sums went into the checkpoint.
        #expect(try Self.metricsWithoutTimings(out) == Self.metricsWithoutTimings(dir.file("unbroken")))
        // Once epoch 2 is whole, its in-epoch checkpoint is gone.
        let left = try FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints").sorted()
        #expect(left == ["epoch-0002.h5", "epoch-0003.h5"], "\(left)")
    }

    @Test func distillStopsOnSIGINTAndExtractAtABlockOnSIGTERM() throws {
        let f = try ExtractTests.Fixture(train: 3000)
        let targets = f.dir.file("teacher.h5")
        let unbroken = try f.extract(targets, ExtractTests.resumeSettings)
        #expect(unbroken.status == 0, "\(unbroken.stderr)")

        // Extraction: SIGTERM while it pauses after its first block of /train (of 3).
        let out = f.dir.file("stopped.h5")
        let (run, seconds) = try KDProcess.signalled(
            ["extract", "--model", f.model, "--data", f.store, "--out", out, "--threads", String(ComputeThreads.count)]
                + ExtractTests.resumeSettings,
            environment: ["KD_PAUSE_AT": "block:1"], signal: SIGTERM) { $0.contains("block 1/3") }
        #expect(run.status == 143, "\(run.stderr)")
        #expect(seconds < 5, "exited \(seconds) s after SIGTERM")
        #expect(run.stderr.contains("stopped by SIGTERM: \(out).partial holds /train up to block 1 of 3"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let resumed = try f.extract(out, ExtractTests.resumeSettings)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming /train after block 1 of 3"), "\(resumed.stderr)")
        #expect(try ExtractTests.contents(out) == ExtractTests.contents(targets))

        // Distillation from the teacher's stored logits: SIGINT inside epoch 2.
        try Self.droppingArch.write(toFile: f.dir.file("dropping.json"), atomically: true, encoding: .utf8)
        let arguments = ["distill", "--method", "kd", "--arch", f.dir.file("dropping.json"), "--data", f.store,
                         "--targets", targets, "--limit", "600", "--epochs", "3", "--batch-size", "32", "--threads", "2"]
        let reference = try KDProcess.run(arguments + ["--out", f.dir.file("unbroken")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let stopped = f.dir.file("interrupted")
        _ = try Self.stopInsideEpoch2(arguments, out: stopped, signal: SIGINT, code: 130, name: "SIGINT")
        let again = try KDProcess.run(arguments + ["--out", stopped])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try SyntheticStore.parameterBits(stopped + "/model.h5")
                == SyntheticStore.parameterBits(f.dir.file("unbroken/model.h5")))
        #expect(try Self.metricsWithoutTimings(stopped) == Self.metricsWithoutTimings(f.dir.file("unbroken")))
    }
}
