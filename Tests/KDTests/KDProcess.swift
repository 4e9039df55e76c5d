import Foundation

/// Runs the real `kd` binary that `swift test` built beside the test bundle, the way a user
/// would, and captures its exit status and output.
struct KDRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum KDProcess {
    /// The `kd` executable in the same build folder as this test bundle.
    static var binary: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // The runner is `<build>/kdPackageTests.xctest` (a file on Linux, a bundle elsewhere).
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("kd").path),
              dir.pathComponents.count > 1 {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("kd")
    }

    @discardableResult
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> KDRun {
        try ChildProcess.start(binary, args, environment: environment.mapValues { Optional($0) }).finish()
    }
}

/// A program started by a test, its standard output and error each drained on a thread of
/// its own from the start, so a child that fills either pipe can never block on it.
struct ChildProcess {
    let process: Process
    let output: PipeReader
    let errors: PipeReader

    /// Starts `executable` with this process's environment, `environment` on top (a nil value
    /// removes the variable), and standard input from /dev/null.
    static func start(_ executable: URL, _ args: [String], environment: [String: String?] = [:]) throws -> ChildProcess {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return ChildProcess(process: p, output: PipeReader(out.fileHandleForReading), errors: PipeReader(err.fileHandleForReading))
    }

    /// Waits for the program to end: its status and everything it wrote.
    func finish() -> KDRun {
        let (o, e) = (output.wait(), errors.wait())
        process.waitUntilExit()
        return KDRun(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
    }
}

extension KDProcess {
    /// Runs `args`, waits until `file` exists (e.g. the first checkpoint), lets the process go
    /// on for `delay` seconds and kills it with SIGKILL: a crash at a moment the test picks.
    static func killed(_ args: [String], after file: String, delay: Double) throws {
        _ = try signalled(args, signal: SIGKILL, delay: delay) { _ in FileManager.default.fileExists(atPath: file) }
    }

    /// Runs `args`, waits until `ready` holds for what the process has written to standard error
    /// so far, lets it go on for `delay` seconds and sends it `signal`. Returns the run and the
    /// seconds from the signal to the process's exit.
    static func signalled(_ args: [String], environment: [String: String] = [:], signal: Int32, delay: Double = 0,
                          when ready: (String) -> Bool) throws -> (run: KDRun, secondsToExit: Double) {
        let child = try ChildProcess.start(binary, args, environment: environment.mapValues { Optional($0) })
        while child.process.isRunning, !ready(child.errors.soFar) { usleep(2_000) }
        usleep(UInt32(delay * 1_000_000))
        let sent = Date()
        kill(child.process.processIdentifier, signal)
        let run = child.finish()
        return (run, Date().timeIntervalSince(sent))
    }
}

/// Reads a pipe to its end on a thread of its own; what has arrived so far can be read meanwhile.
final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty {
                lock.withLock { data.append(chunk) }
            }
            done.signal()
        }
    }

    /// What the pipe has carried so far, as text.
    var soFar: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// Everything the pipe carried, once its writer has closed it.
    func wait() -> Data {
        done.wait()
        return lock.withLock { data }
    }
}

/// A fresh temporary folder for one test, removed when the value goes away.
final class TempDir {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("kd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}
