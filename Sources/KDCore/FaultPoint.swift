#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash injection for the tests of the stage contract: `KD_CRASH_AT=NAME:K` makes the process
/// kill itself with SIGKILL the K-th time it passes the point `NAME` (e.g. `checkpoint` — after
/// a checkpoint is written to its `.partial` file, before it is renamed). Without the variable
/// a point costs one environment look-up the first time and a comparison after.
/// `KD_PAUSE_AT=NAME:SECONDS` makes the process sleep at `pause(NAME)` instead (e.g. `claimed`,
/// right after an output lock is taken), to widen a race window for the concurrency tests.
public enum FaultPoint {
    nonisolated(unsafe) private static var hits: [String: Int] = [:]
    private static let target: (name: String, count: Int)? = {
        guard let raw = getenv("KD_CRASH_AT") else { return nil }
        let parts = String(cString: raw).split(separator: ":")
        guard parts.count == 2, let k = Int(parts[1]), k >= 1 else { return nil }
        return (String(parts[0]), k)
    }()

    /// Marks one pass through the point `name`; called from one thread.
    public static func pass(_ name: String) {
        guard let target, target.name == name else { return }
        hits[name, default: 0] += 1
        if hits[name] == target.count { kill(getpid(), SIGKILL) }
    }

    private static let pauseTarget: (name: String, seconds: Double)? = {
        guard let raw = getenv("KD_PAUSE_AT") else { return nil }
        let parts = String(cString: raw).split(separator: ":")
        guard parts.count == 2, let seconds = Double(parts[1]), seconds > 0, seconds < 600 else { return nil }
        return (String(parts[0]), seconds)
    }()

    /// Sleeps at the point `name` when `KD_PAUSE_AT` names it.
    public static func pause(_ name: String) {
        guard let pauseTarget, pauseTarget.name == name else { return }
        usleep(UInt32(pauseTarget.seconds * 1_000_000))
    }
}
