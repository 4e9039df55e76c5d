#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A request to stop, made by SIGTERM or SIGINT, that a long stage honours at its next safe
/// point — training after the current step, extraction after the current block — by saving its
/// progress and exiting with 128 + the signal's number (143, 130). SLURM sends SIGTERM before a
/// time limit or a preemption; the stage run again continues where it stopped.
///
/// A second signal of either kind ends the process at once (the handler is reset after the
/// first), so a user who presses Ctrl-C twice is never kept waiting. Until `install()` the
/// signals keep their default action: a stage without safe points simply dies, which its
/// partial-file discipline already makes harmless. Cost: one atomic load per check.
public enum StopRequest {
    private static let received = Atomic<Int32>(0)

    /// Routes SIGTERM and SIGINT to the request from now on. It also unblocks them: a process
    /// inherits its parent's signal mask, and a parent that blocks them (a test runner's worker
    /// thread, some job launchers) would otherwise leave the signal pending for ever.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for signo in [SIGTERM, SIGINT] {
            sigaddset(&set, signo)
            signal(signo) { signo in
                StopRequest.received.store(signo, ordering: .relaxed)
                signal(signo, SIG_DFL)
                signal(signo == SIGTERM ? SIGINT : SIGTERM, SIG_DFL)
            }
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// The signal that asked to stop, if one did.
    public static var pending: Int32? {
        let signo = received.load(ordering: .relaxed)
        return signo == 0 ? nil : signo
    }

    /// The error a stage throws once it has saved its progress: `saved` says what was kept and
    /// how to continue.
    public static func stopped(_ signo: Int32, saved: String) -> StageError {
        let name = signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal \(signo)"
        return StageError(signo == SIGINT ? .interrupted : .terminated, "stopped by \(name): \(saved)")
    }
}
