import Foundation

/// Where a stage talks to its user: messages and warnings go to standard error so that
/// standard output stays clean for results (`--json`, tables). `isTerminal` decides between a
/// live progress bar and one plain line per epoch or block.
public enum Console {
    public static func error(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    public static func warn(_ s: String) {
        error("warning: \(s)\n")
    }

    public static var isTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
