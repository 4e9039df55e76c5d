import Foundation

/// Turns a hang into a failure that names its input: a mutation test runs each input inside
/// `watch`, and when one takes longer than `limit` a background thread prints what it was and
/// aborts the test process (a hung library call cannot be interrupted any other way). Without
/// it a hang would only show as a suite stopped at CI's time limit. Cost: one thread waking
/// once a second until `stop()` or until the watchdog is gone.
public final class HangWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (label: String, start: Date)?
    private var finished = false
    private let limit: TimeInterval

    public init(limit: TimeInterval) {
        self.limit = limit
        Thread.detachNewThread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: 1)
                self.lock.lock()
                defer { self.lock.unlock() }
                if self.finished { return }
                if let current = self.current, Date().timeIntervalSince(current.start) > self.limit {
                    FileHandle.standardError.write(Data("HANG: \(current.label) did not finish within \(Int(self.limit)) s\n".utf8))
                    abort()
                }
            }
        }
    }

    /// Runs `body`, aborting the process if it outlasts the limit.
    public func watch<R>(_ label: @autoclosure () -> String, _ body: () throws -> R) rethrows -> R {
        lock.withLock { current = (label(), Date()) }
        defer { lock.withLock { current = nil } }
        return try body()
    }

    /// Ends the background thread.
    public func stop() { lock.withLock { finished = true } }
}
