import Foundation
import HDF5
import Testing

/// Pipelines/Makefile on a real (one-node) SLURM cluster: with LAUNCH="srun …" every kd stage
/// runs as a SLURM job of its own, kd takes the cores the job was given (--cpus-per-task, no
/// --threads on the command line), and the models and features come out bit-identical to the
/// same pipeline run here without SLURM.
///
/// Needs root (Pipelines/slurm/start-one-node.sh installs slurm-wlm and munge and runs the
/// daemons): skipped with the reason printed when not root, or when the cluster cannot be
/// installed or started — except in CI (CI=true, root on Debian), where that is a failure.
@Suite(.serialized) struct SlurmTests {
    /// The cluster of start-one-node.sh in a folder and on ports of its own (so a cluster
    /// started by hand for trials is not in the way), stopped when the value goes away.
    final class OneNodeCluster {
        static let script = PipelineTests.pipelines + "/slurm/start-one-node.sh"
        static let folder = "/tmp/kd-slurm-test"
        static let environment = ["KD_SLURM_DIR": folder, "KD_SLURM_CTLD_PORT": "16827", "KD_SLURM_SLURMD_PORT": "16828"]

        let conf = folder + "/slurm.conf"
        /// Seconds from starting the script to the node being idle (install included, if any).
        let startSeconds: Double

        private init(startSeconds: Double) { self.startSeconds = startSeconds }

        /// Starts the cluster, or says why it cannot run here and returns nil: printed when
        /// skipping is fine, an issue when CI (as root) could not start it.
        static func start() -> OneNodeCluster? {
            let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
            func unavailable(_ reason: String) -> OneNodeCluster? {
                if inCI {
                    Issue.record("CI must run the SLURM test, but \(reason)")
                } else {
                    print("SlurmTests skipped: \(reason)")
                }
                return nil
            }
            guard geteuid() == 0 else {
                print("SlurmTests skipped: starting a SLURM cluster needs root")
                return nil
            }
            let began = Date()
            guard let r = try? run(script, ["start"]) else { return unavailable("\(script) could not be run") }
            guard r.status == 0 else {
                return unavailable("\(script) start failed (status \(r.status)): \(r.stderr)")
            }
            return OneNodeCluster(startSeconds: Date().timeIntervalSince(began))
        }

        /// Runs `tool args` with the cluster's folder and ports in the environment.
        static func run(_ tool: String, _ args: [String], environment: [String: String] = [:]) throws -> KDRun {
            let changes = Self.environment.merging(environment) { $1 }.mapValues { Optional($0) }
            return try ChildProcess.start(URL(fileURLWithPath: tool), args, environment: changes).finish()
        }

        /// `srun args` on this cluster.
        func srun(_ args: [String]) throws -> KDRun {
            try Self.run("/usr/bin/srun", args, environment: ["SLURM_CONF": conf])
        }

        /// The daemons' process ids, from their pid files.
        var daemons: [pid_t] {
            ["slurmctld", "slurmd"].compactMap { name in
                (try? String(contentsOfFile: "\(Self.folder)/\(name).pid", encoding: .utf8))
                    .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
        }

        /// Whether process `pid` runs (a zombie does not: in some containers nobody reaps them).
        static func running(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let end = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: end)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }

        /// Stops the daemons; the status of `start-one-node.sh stop`. Safe to call again.
        @discardableResult
        func stop() -> Int32 {
            let r = try? Self.run(Self.script, ["stop"])
            if r?.status != 0 { print("SlurmTests: stopping the cluster failed: \(r?.stderr ?? "")") }
            return r?.status ?? -1
        }

        deinit { stop() }
    }

    @Test func aPipelineThroughSlurmEqualsTheSameRunHere() throws {
        guard let cluster = OneNodeCluster.start() else { return }
        let target = "/direct/ensemble-2/model.h5"
        // The teacher, its features, two students side by side, their ensemble: five stages.
        let results = ["/teacher/model.h5", "/teacher/features.h5", "/teacher/s2-1of2/model.h5",
                       "/teacher/s2-2of2/model.h5", target]

        let here = try PipelineTests.Setup()
        var began = Date()
        let local = try here.make([here.runs + target], log: here.dir.file("make.log"))
        let localSeconds = Date().timeIntervalSince(began)
        #expect(local.status == 0, "\(local.output)")

        // Under SLURM no THREADS: kd must take its cores from the job (SLURM_CPUS_PER_TASK=1),
        // which matches the local run's THREADS=1 — the same arithmetic, so the same bits.
        let there = try PipelineTests.Setup()
        let launch = "srun --ntasks=1 --cpus-per-task=1 --mem=512M --job-name=kd-slurm-test"
        let variables = there.variables.filter { !$0.hasPrefix("THREADS=") && !$0.hasPrefix("TEACHER_THREADS=") }
            + ["LAUNCH=\(launch)"]
        began = Date()
        let remote = try there.make([there.runs + target], log: there.dir.file("make.log"), variables: variables,
                                    environment: ["SLURM_CONF": cluster.conf, "KD_THREADS": ""])
        let slurmSeconds = Date().timeIntervalSince(began)
        #expect(remote.status == 0, "\(remote.output)")
        began = Date()
        defer {
            print(String(format: "SlurmTests: cluster up in %.1f s; the pipeline took %.1f s through SLURM, %.1f s here; "
                         + "checks %.1f s", cluster.startSeconds, slurmSeconds, localSeconds, Date().timeIntervalSince(began)))
        }

        // Every kd command make ran went through srun, with no --threads of its own.
        let kd = KDProcess.binary.path + " "
        let commands = remote.output.split(separator: "\n").filter { $0.contains(kd) }
        #expect(commands.count == results.count, "\(remote.output)")
        #expect(commands.allSatisfy { $0.hasPrefix(launch + " " + kd) }, "\(commands)")
        #expect(!remote.output.contains("--threads"), "\(remote.output)")

        // One job per stage: the cluster started afresh, so the next job is number 6.
        let next = try cluster.srun(["--ntasks=1", "--mem=64M", "printenv", "SLURM_JOB_ID"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(results.count + 1)")

        // kd followed --cpus-per-task: the features record the cores they were computed on.
        #expect(try H5File.open(there.runs + "/teacher/features.h5").intAttribute("threads") == 1)

        for file in results {
            let expected = try ExtractTests.contents(here.runs + file)
            #expect(!expected.isEmpty, "\(file) holds datasets")
            #expect(try ExtractTests.contents(there.runs + file) == expected, "\(file) is the same through SLURM")
        }
        let ensemble = try H5File.open(there.runs + target)
        #expect(try ensemble.stringArrayAttribute("ensemble_members")
                == ["\(there.runs)/teacher/s2-1of2/model.h5", "\(there.runs)/teacher/s2-2of2/model.h5"])

        // Stages are resumable, so a requeued or repeated run finds nothing left to do.
        #expect(try there.make([there.runs + target], log: there.dir.file("again.log"), question: true,
                               variables: variables).status == 0)

        // Torn down: the daemons are gone (within the script's wait), not left for the next run.
        let daemons = cluster.daemons
        #expect(daemons.count == 2 && daemons.allSatisfy(OneNodeCluster.running), "\(daemons) ran")
        #expect(cluster.stop() == 0)
        #expect(!daemons.contains(where: OneNodeCluster.running), "\(daemons) still run after stop")
    }
}
