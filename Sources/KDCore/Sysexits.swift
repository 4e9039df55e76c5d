/// Exit codes of sysexits.h, the contract every stage follows when it fails.
public enum Sysexits: Int32, Sendable {
    case ok = 0
    /// The command was used incorrectly (bad flag, conflicting settings).
    case usage = 64
    /// The input data was incorrect in some way.
    case dataErr = 65
    /// An input file did not exist or was not readable.
    case noInput = 66
    /// An internal error (a bug in kd).
    case software = 70
    /// An output file cannot be created.
    case cantCreate = 73
    /// An error occurred while doing I/O.
    case ioErr = 74
    /// Temporary failure: another process holds the output's lock.
    case tempFail = 75
    /// A configuration error: the environment asks for something this machine cannot do.
    case config = 78
    /// Stopped by SIGINT after saving its progress (128 + 2, the shell's convention).
    case interrupted = 130
    /// Stopped by SIGTERM after saving its progress (128 + 15): run again to continue.
    case terminated = 143
}
