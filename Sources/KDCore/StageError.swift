/// The error every stage throws for a failure a user can act on: what went wrong, where
/// (file, record, dataset path) and what was expected, plus the sysexits code to exit with.
///
/// The command-line layer prints `message` to standard error and exits with `code`.
public struct StageError: Error, CustomStringConvertible, Sendable {
    public var code: Sysexits
    public var message: String

    public init(_ code: Sysexits, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func usage(_ m: String) -> StageError { .init(.usage, m) }
    public static func badData(_ m: String) -> StageError { .init(.dataErr, m) }
    public static func noInput(_ m: String) -> StageError { .init(.noInput, m) }
    public static func cantCreate(_ m: String) -> StageError { .init(.cantCreate, m) }
    public static func io(_ m: String) -> StageError { .init(.ioErr, m) }
}
