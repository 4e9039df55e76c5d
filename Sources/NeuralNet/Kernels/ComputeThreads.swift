import CBLAS
import Dispatch
import Foundation
import KDCore
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The number of cores the engine may use, and the loop helpers that split work over them.
///
/// The engine runs its own workers (Dispatch's concurrentPerform) and keeps OpenBLAS itself
/// single-threaded: convolutions and linear layers split their matrix products over the workers
/// (by images or rows), so each worker's product runs next to its own im2col in cache, and no
/// idle OpenBLAS threads spin between products while the elementwise loops run.
///
/// Defaults to `KD_THREADS` when it holds a positive integer; otherwise, under SLURM, to the
/// job step's `SLURM_CPUS_PER_TASK` (so `srun --cpus-per-task=4 kd …` uses 4 cores); otherwise to
/// the cores the process may run on (its CPU affinity: `taskset`, cgroup cpusets), else the
/// number of cores online. A `SLURM_CPUS_PER_TASK` that is not in 1…`maximum` is ignored with a
/// warning: SLURM, not the user, sets it, and every stage still runs correctly on the fallback.
/// Every parallel loop gives each item the same arithmetic whatever the split, and partial sums
/// are combined in a fixed order, so results are bitwise the same run to run for a fixed count.
/// Cost of a parallel loop: one dispatch (a few microseconds) when it splits at all.
public enum ComputeThreads {
    // Written only by `set`, which callers use before starting work (the CLI, at start-up).
    // The first use of either runs the one-time set-up (Swift runs a static's initializer once).
    nonisolated(unsafe) private static var current: Int = configureDefault()

    /// The current bound on cores.
    public static var count: Int { current }

    /// The most cores `--threads` may ask for.
    public static let maximum = 1024

    /// Bounds the engine's loops, and so all its work, to `n` cores; 64 naming `--threads` when
    /// `n` is not in 1…`maximum`.
    public static func set(_ n: Int) throws {
        guard (1...maximum).contains(n) else {
            throw StageError.usage("--threads must be in 1…\(maximum), got \(n)")
        }
        configure()
        current = n
    }

    /// Makes sure the one-time set-up (single-threaded OpenBLAS, malloc settings) has run.
    @inline(__always)
    static func configure() { _ = current }

    /// The OpenBLAS kernel set in use, for benchmark reports (`Cooperlake`, `Haswell`, …):
    /// OpenBLAS picks it from the processor unless `OPENBLAS_CORETYPE` names one.
    public static var blasCoreName: String {
        configure()
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    private static func configureDefault() -> Int {
        let chosen = defaultCount(environment: ProcessInfo.processInfo.environment,
                                  affinity: affinityCount(),
                                  online: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let warning = chosen.warning { Console.warn(warning) }
        openblas_set_num_threads(1)
        keepFreedMemoryForReuse()
        return chosen.count
    }

    /// The default bound on cores and, when a variable was ignored, why: `KD_THREADS` if it is
    /// a positive integer (as before, anything else there is ignored silently), then
    /// `SLURM_CPUS_PER_TASK` if set (validated), then `affinity` (the cores the process may run
    /// on, nil when unknown), then `online`. Pure, for the tests.
    public static func defaultCount(environment: [String: String], affinity: Int?, online: Int)
        -> (count: Int, warning: String?) {
        let fallback = max(1, min(affinity ?? online, maximum))
        if let text = environment["KD_THREADS"], let value = Int(text), value >= 1 {
            return (min(value, maximum), nil)
        }
        guard let text = environment["SLURM_CPUS_PER_TASK"] else { return (fallback, nil) }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (1...maximum).contains(value) else {
            return (fallback, "SLURM_CPUS_PER_TASK=\"\(text)\" is not a number of cores in 1…\(maximum); "
                    + "ignoring it and using \(fallback) (set --threads or KD_THREADS to choose)")
        }
        return (value, nil)
    }

    /// The number of cores this process may run on (sched_getaffinity), or nil when the system
    /// does not say. Looked up by name: Swift's Glibc module leaves sched_getaffinity out.
    public static func affinityCount() -> Int? {
        #if canImport(Glibc)
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity") else { return nil }
        var mask = [UInt64](repeating: 0, count: maximum / 64)   // one bit per core, as cpu_set_t
        let status = mask.withUnsafeMutableBytes {
            unsafeBitCast(symbol, to: GetAffinity.self)(0, $0.count, $0.baseAddress)
        }
        let cores = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        return status == 0 && cores > 0 ? cores : nil
        #else
        return nil
        #endif
    }

    /// Layers return fresh tensors, and a training step frees and allocates hundreds of MB of
    /// them. By default glibc maps large blocks (above a threshold that adapts up to 32 MB)
    /// afresh and unmaps them on free, so every step would fault the same memory in again, page
    /// by page, zeroed. Raising the mmap and trim thresholds keeps freed blocks in the heap for
    /// the next step.
    /// (Swift's Glibc module leaves out malloc.h, so `mallopt` is looked up by name; the two
    /// parameter numbers are glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD.)
    private static func keepFreedMemoryForReuse() {
        #if canImport(Glibc)
        typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
        guard let mallopt = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let set = unsafeBitCast(mallopt, to: MallocOption.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
        _ = set(mmapThreshold, 32 << 20)   // glibc refuses more than half its 64 MB heap size
        _ = set(trimThreshold, Int32.max)
        #endif
    }

    /// Splits `0..<items` into one contiguous range per worker (at most `count`, at most
    /// `items`) and calls `body(part, range)` for each in parallel; `part` numbers the workers
    /// from 0, for per-worker scratch space and partial sums.
    public static func parallelParts(_ items: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = min(current, items)
        if parts <= 1 {
            if items > 0 { body(0, 0..<items) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                shared.value(part, items * part / parts ..< items * (part + 1) / parts)
            }
        }
    }

    /// The number of parts `parallelParts(items)` splits into.
    public static func parts(for items: Int) -> Int { max(1, min(current, items)) }

    /// Calls `body` on contiguous ranges that together cover `0..<items`, in parallel over up to
    /// `count` threads. `grain` is the fewest items worth a thread of their own, so small loops
    /// stay on the calling thread. `body` must write only what its own range owns.
    public static func parallelFor(_ items: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(current, items / max(1, grain))
        if parts <= 1 {
            if items > 0 { body(0..<items) }
            return
        }
        // Each part touches only what its range owns, so sharing `body` across threads is safe.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                shared.value(items * part / parts ..< items * (part + 1) / parts)
            }
        }
    }
}

/// A value handed to other threads under a promise the compiler cannot check: the parallel
/// loops' bodies write disjoint ranges.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
