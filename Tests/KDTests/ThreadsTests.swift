import Foundation
import HDF5
import NeuralNet
import Testing

/// Without --threads, kd takes the cores SLURM gave its task (SLURM_CPUS_PER_TASK), else the
/// cores its CPU affinity allows, as `kd extract` records in its features file ("threads").
/// KD_THREADS and --threads still win; a bad SLURM value is a warning, not a failure.
@Suite struct ThreadsTests {
    /// A tiny trained model and its store, shared by the runs below.
    struct Fixture {
        let dir: TempDir
        let store: String
        let model: String

        init() throws {
            dir = try TempDir()
            store = try SyntheticStore.make(in: dir, train: 64, test: 32)
            model = dir.file("run/model.h5")
            let r = try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("run"),
                                       "--epochs", "1", "--batch-size", "32", "--threads", "1"])
            #expect(r.status == 0, "kd train failed: \(r.stderr)")
        }

        /// `kd extract` run with `environment` on top of this process's, KD_THREADS and
        /// SLURM_CPUS_PER_TASK removed unless given (so the caller's do not decide), optionally
        /// under `taskset -c cores`; the threads it recorded, and its run.
        func extract(_ name: String, _ environment: [String: String], extra: [String] = [],
                     taskset cores: String? = nil) throws -> (threads: Int?, run: KDRun) {
            let out = dir.file(name)
            let args = ["extract", "--model", model, "--data", store, "--out", out] + extra
            var changes: [String: String?] = ["KD_THREADS": nil, "SLURM_CPUS_PER_TASK": nil]
            for (k, v) in environment { changes[k] = v }
            let r = try cores.map { try Self.run("/usr/bin/taskset", ["-c", $0, KDProcess.binary.path] + args, changes) }
                ?? Self.run(KDProcess.binary.path, args, changes)
            guard r.status == 0 else { return (nil, r) }
            return (try H5File.open(out).intAttribute("threads"), r)
        }

        /// Runs `tool` with exactly the parent's environment plus `changes` (nil removes).
        static func run(_ tool: String, _ args: [String], _ changes: [String: String?]) throws -> KDRun {
            try ChildProcess.start(URL(fileURLWithPath: tool), args, environment: changes).finish()
        }
    }

    @Test func slurmCoresPerTaskSetTheDefault() throws {
        let f = try Fixture()
        // More than this machine has, so only SLURM's value can have chosen it.
        let slurm = try f.extract("slurm.h5", ["SLURM_CPUS_PER_TASK": "3"])
        #expect(slurm.run.status == 0, "\(slurm.run.stderr)")
        #expect(slurm.threads == 3)
        #expect(!slurm.run.stderr.contains("warning"), "\(slurm.run.stderr)")

        let explicit = try f.extract("explicit.h5", ["SLURM_CPUS_PER_TASK": "3"], extra: ["--threads", "2"])
        #expect(explicit.threads == 2, "--threads wins")
        let kdThreads = try f.extract("kd-threads.h5", ["SLURM_CPUS_PER_TASK": "3", "KD_THREADS": "1"])
        #expect(kdThreads.threads == 1, "KD_THREADS wins")
    }

    @Test func aBadSlurmValueWarnsAndFallsBackToTheAffinity() throws {
        let f = try Fixture()
        let bad = try f.extract("bad.h5", ["SLURM_CPUS_PER_TASK": "lots"])
        #expect(bad.run.status == 0, "\(bad.run.stderr)")
        #expect(bad.run.stderr.contains("warning: SLURM_CPUS_PER_TASK=\"lots\" is not a number of cores"), "\(bad.run.stderr)")
        #expect(bad.threads == ComputeThreads.affinityCount())
    }

    @Test func withoutSlurmTheCpuAffinitySetsTheDefault() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") else {
            print("ThreadsTests.withoutSlurmTheCpuAffinitySetsTheDefault skipped: no /usr/bin/taskset")
            return
        }
        let f = try Fixture()
        let one = try f.extract("one-core.h5", [:], taskset: "0")
        #expect(one.run.status == 0, "\(one.run.stderr)")
        #expect(one.threads == 1, "pinned to core 0, kd uses one thread")
        let free = try f.extract("free.h5", [:])
        #expect(free.threads == ComputeThreads.affinityCount())
    }
}
