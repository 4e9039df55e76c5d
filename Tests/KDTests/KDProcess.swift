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
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Both pipes are drained at once (standard error on another thread) before waiting, so
        // a child that fills either pipe can never block on it.
        let errorData = PipeReader(err.fileHandleForReading)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = errorData.wait()
        p.waitUntilExit()
        return KDRun(status: p.terminationStatus,
                     stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
    }
}

extension KDProcess {
    /// Runs `args`, waits until `file` exists (e.g. the first checkpoint), lets the process go
    /// on for `delay` seconds and kills it with SIGKILL: a crash at a moment the test picks.
    static func killed(_ args: [String], after file: String, delay: Double) throws {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        while !FileManager.default.fileExists(atPath: file), p.isRunning { usleep(1_000) }
        usleep(UInt32(delay * 1_000_000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }
}

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything the pipe carried, once its writer has closed it.
    func wait() -> Data {
        done.wait()
        return data
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
