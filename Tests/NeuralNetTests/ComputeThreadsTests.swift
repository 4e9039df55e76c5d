import NeuralNet
import Testing

/// The default thread count: KD_THREADS, then SLURM's cores per task, then the CPU affinity,
/// then the cores online; a SLURM_CPUS_PER_TASK that is no number of cores is ignored, with a
/// warning that names it.
@Suite struct ComputeThreadsTests {
    private func pick(_ environment: [String: String], affinity: Int? = 3, online: Int = 8) -> (count: Int, warning: String?) {
        ComputeThreads.defaultCount(environment: environment, affinity: affinity, online: online)
    }

    @Test func withoutVariablesTheAffinityThenTheOnlineCoresDecide() {
        #expect(pick([:]) == (3, nil))
        #expect(pick([:], affinity: nil) == (8, nil))
        #expect(pick([:], affinity: nil, online: 0) == (1, nil), "never fewer than one")
        #expect(pick([:], affinity: 5000) == (ComputeThreads.maximum, nil), "never more than --threads accepts")
    }

    @Test func slurmCoresPerTaskWinOverTheAffinity() {
        #expect(pick(["SLURM_CPUS_PER_TASK": "4"]) == (4, nil))
        #expect(pick(["SLURM_CPUS_PER_TASK": "1"], affinity: nil) == (1, nil))
        #expect(pick(["SLURM_CPUS_PER_TASK": " 2 "]) == (2, nil))
    }

    @Test func kdThreadsWinsOverSlurm() {
        #expect(pick(["KD_THREADS": "2", "SLURM_CPUS_PER_TASK": "4"]) == (2, nil))
        // A KD_THREADS that is no positive number is passed over, as it always was.
        #expect(pick(["KD_THREADS": "zero", "SLURM_CPUS_PER_TASK": "4"]) == (4, nil))
        #expect(pick(["KD_THREADS": "", "SLURM_CPUS_PER_TASK": "4"]) == (4, nil))
    }

    @Test(arguments: ["", "0", "-1", "four", "2(x3)", "1025", "99999999999999999999"])
    func aBadSlurmValueIsIgnoredWithAWarning(value: String) throws {
        let chosen = pick(["SLURM_CPUS_PER_TASK": value])
        #expect(chosen.count == 3, "falls back to the affinity")
        let warning = try #require(chosen.warning)
        #expect(warning.contains("SLURM_CPUS_PER_TASK=\"\(value)\""), "\(warning)")
        #expect(warning.contains("using 3"), "\(warning)")
    }

    @Test func theAffinityOfThisProcessIsKnownAndWithinTheOnlineCores() throws {
        let cores = try #require(ComputeThreads.affinityCount())
        #expect(cores >= 1)
        #expect(cores <= ComputeThreads.maximum)
    }
}
