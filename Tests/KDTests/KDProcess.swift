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
        // Read before waiting so a large output cannot fill the pipe and block the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return KDRun(status: p.terminationStatus,
                     stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
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
