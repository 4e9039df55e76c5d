import ArgumentParser
import KDCore

/// Runs the body of a subcommand and turns a `StageError` into its message on standard error
/// and its sysexits code, so every subcommand fails the same way.
func runStage(_ name: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as StageError {
        Console.error("kd \(name): error: \(error.message)\n")
        throw ExitCode(error.code.rawValue)
    }
}
