import NeuralNet
import Testing

/// `OPENBLAS_CORETYPE` checked against the processor's flags before kd multiplies anything.
@Suite struct BLASKernelFamilyTests {
    static let avx2Machine: Set<String> = ["sse4_2", "avx", "avx2", "fma"]

    @Test func familiesTheProcessorRunsAndNamesLeftToOpenBLASPass() {
        for name in [nil, "Haswell", "haswell", "ZEN", "Sandybridge", " Haswell ", "Nehalem", "Cooperlake", "NoSuchCore"] {
            let environment = name.map { ["OPENBLAS_CORETYPE": $0] } ?? [:]
            #expect(BLASKernelFamily.problem(environment: environment, flags: Self.avx2Machine) == nil, "\(name ?? "unset")")
        }
        let avx512Machine = Self.avx2Machine.union(["avx512f", "avx512bw", "avx512dq", "avx512vl"])
        #expect(BLASKernelFamily.problem(environment: ["OPENBLAS_CORETYPE": "SkylakeX"], flags: avx512Machine) == nil)
    }

    @Test func aFamilyNeedingMissingInstructionsIsNamedWithWhatIsMissingAndWhatWouldRun() throws {
        let message = try #require(BLASKernelFamily.problem(environment: ["OPENBLAS_CORETYPE": "SkylakeX"],
                                                            flags: Self.avx2Machine))
        #expect(message.hasPrefix("OPENBLAS_CORETYPE=SkylakeX makes OpenBLAS use kernels that need avx512f, avx512bw, "
                                  + "avx512dq, avx512vl, but this processor lacks avx512f, avx512bw, avx512dq, avx512vl"))
        #expect(message.hasSuffix("Unset OPENBLAS_CORETYPE (OpenBLAS then picks the processor's own family) or name one "
                                  + "it can run: Haswell, Zen, Sandybridge."))
        let amd = try #require(BLASKernelFamily.problem(environment: ["OPENBLAS_CORETYPE": "piledriver"], flags: Self.avx2Machine))
        #expect(amd.contains("lacks fma4:"))
        let old = try #require(BLASKernelFamily.problem(environment: ["OPENBLAS_CORETYPE": "Haswell"], flags: ["sse4_2"]))
        #expect(old.contains("lacks avx2, fma:") && old.hasSuffix("(OpenBLAS then picks the processor's own family)."))
    }
}
