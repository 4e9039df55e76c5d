import Foundation

/// What every kd output records about how it was made (the stage contract's provenance):
/// the kd version, the command line and the time, as root attributes.
public enum Provenance {
    public static let kdVersion = "0.1.0"

    /// The command line of this process, shell-quoted where needed.
    public static var commandLine: String {
        CommandLine.arguments.map { arg in
            arg.contains(where: { " \"'$\\".contains($0) }) ? "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'" : arg
        }.joined(separator: " ")
    }

    /// Now, as ISO 8601 in UTC.
    public static var timestamp: String {
        ISO8601DateFormatter().string(from: Date())
    }
}
