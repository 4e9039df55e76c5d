import Foundation
import KDCore

/// The check that OpenBLAS's kernel family, when `OPENBLAS_CORETYPE` names one, can run on this
/// processor. OpenBLAS takes the name on trust: kernels built on instructions the processor
/// lacks (AVX-512 on an AVX2 machine, AMD's FMA4 on a Zen) die at their first multiply with
/// SIGILL, in the middle of a stage. kd looks before any work and refuses with what is missing.
/// A name OpenBLAS does not know, or one it checks itself, is left to OpenBLAS (it falls back to
/// the processor's own family). Cost: one read of /proc/cpuinfo per check.
public enum BLASKernelFamily {
    /// The processor flags (as /proc/cpuinfo names them) that the families which OpenBLAS 0.3
    /// forces without looking need, by lowercase name (OpenBLAS matches names ignoring case).
    /// Families made for older instruction sets (SSE, AVX) run on every x86-64 processor that
    /// has their flags, which the newer ones all do.
    static let requirements: [String: [String]] = [
        "sandybridge": ["avx"],
        "haswell": ["avx2", "fma"],
        "zen": ["avx2", "fma"],
        "skylakex": ["avx512f", "avx512bw", "avx512dq", "avx512vl"],
        "bulldozer": ["avx", "fma4"],
        "piledriver": ["avx", "fma4"],
        "steamroller": ["avx", "fma4"],
        "excavator": ["avx", "fma4"],
    ]

    /// What is wrong with `OPENBLAS_CORETYPE` in `environment` on a processor with `flags`, or
    /// nil when nothing is (unset, a family the processor runs, a name left to OpenBLAS).
    /// Pure, for the tests.
    public static func problem(environment: [String: String], flags: Set<String>) -> String? {
        guard let name = environment["OPENBLAS_CORETYPE"],
              let needed = requirements[name.trimmingCharacters(in: .whitespaces).lowercased()] else { return nil }
        let missing = needed.filter { !flags.contains($0) }
        guard !missing.isEmpty else { return nil }
        let runnable = ["Haswell", "Zen", "Sandybridge"].filter { family in
            requirements[family.lowercased()]!.allSatisfy(flags.contains)
        }
        return "OPENBLAS_CORETYPE=\(name) makes OpenBLAS use kernels that need \(needed.joined(separator: ", ")), "
            + "but this processor lacks \(missing.joined(separator: ", ")): its first matrix product would stop kd "
            + "with an illegal instruction. Unset OPENBLAS_CORETYPE (OpenBLAS then picks the processor's own "
            + "family)" + (runnable.isEmpty ? "" : " or name one it can run: \(runnable.joined(separator: ", "))") + "."
    }

    /// The processor's flags from /proc/cpuinfo (its first "flags" line), nil where there is
    /// no such file.
    static func processorFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Throws 78 (EX_CONFIG) with `problem`'s message when the environment's family cannot run here.
    public static func check() throws {
        guard let flags = processorFlags(),
              let message = problem(environment: ProcessInfo.processInfo.environment, flags: flags) else { return }
        throw StageError(.config, message)
    }
}
