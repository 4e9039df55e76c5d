#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The claim of one process on one output (a result file or a run folder), so that two kd
/// processes aimed at the same output never write it together: the second one is refused with
/// exit 75 naming the output and the process that holds it, before it opens any file of the
/// output for writing.
///
/// The claim is an exclusive `flock(2)` on `<output>.lock`, which holds the owner's PID and
/// command line. The kernel drops it when the process ends, however it ends (kill -9
/// included), so a stale lock file never blocks anyone. The lock lasts until the process exits;
/// the file is removed by `release()` when the output is finished. Cost: a few system calls.
public final class OutputLock: @unchecked Sendable {
    public let output: String
    public let path: String
    private var descriptor: Int32

    /// Every lock taken by this process, kept until given up; `registry` guards it (stages in
    /// one process, as in the tests, may claim outputs from several threads).
    nonisolated(unsafe) private static var held: [String: OutputLock] = [:]
    private static let registry = NSLock()

    private init(output: String, path: String, descriptor: Int32) {
        self.output = output
        self.path = path
        self.descriptor = descriptor
    }

    /// Claims `output` for this process (again a no-op when it already holds it). Throws 75
    /// when another process holds it, 73 when the lock file cannot be made.
    @discardableResult
    public static func claim(_ output: String, lockPath: String? = nil) throws -> OutputLock {
        let path = lockPath ?? output + ".lock"
        registry.lock()
        defer { registry.unlock() }
        if let lock = held[path] { return lock }
        while true {
            let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw StageError.cantCreate("cannot create the lock file \(path) for \(output): \(String(cString: strerror(errno)))")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let holder = owner(of: fd)
                close(fd)
                throw StageError(.tempFail, "\(output) is being written by another kd process (\(holder)); "
                                 + "wait for it to finish, or stop it, then run again")
            }
            // The file may have been removed by its last owner between open and flock: then
            // this lock guards nothing, and the claim starts again on a fresh file.
            var opened = stat(), named = stat()
            guard fstat(fd, &opened) == 0, stat(path, &named) == 0,
                  opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            let record = "pid \(getpid()): \(Provenance.commandLine)\n"
            _ = ftruncate(fd, 0)
            _ = record.withCString { pwrite(fd, $0, strlen($0), 0) }
            let lock = OutputLock(output: output, path: path, descriptor: fd)
            held[path] = lock
            FaultPoint.pause("claimed")
            return lock
        }
    }

    /// This process's claim on `output`, if it holds one.
    public static func held(_ output: String, lockPath: String? = nil) -> OutputLock? {
        registry.withLock { held[lockPath ?? output + ".lock"] }
    }

    /// Gives up every claim this process holds (when a stage ends, however it ends).
    public static func releaseAll() {
        for lock in registry.withLock({ Array(held.values) }) { lock.release() }
    }

    /// Gives the output up: removes the lock file, then drops the lock.
    public func release() {
        Self.registry.lock()
        defer { Self.registry.unlock() }
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
        Self.held[path] = nil
    }

    /// Who holds the lock, from what they wrote into the file.
    private static func owner(of fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "its lock file is held" : text
    }
}
