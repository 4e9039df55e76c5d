#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A result file that appears under its final name only when it is complete.
///
/// Work is written to `<path>.partial`; `commit()` renames it over the final name (one
/// `rename(2)`, atomic on one file system); `discard()` removes the partial file. A failed run
/// therefore never touches an existing result. A stage's own output is `claim()`ed first, so a
/// second process aimed at it is refused before it touches the partial file. Cost: one rename.
public struct AtomicOutput: Sendable {
    public let finalPath: String
    public let partialPath: String

    public init(_ finalPath: String) {
        self.finalPath = finalPath
        self.partialPath = finalPath + ".partial"
    }

    /// Checks that the folder of the result exists and is writable, before any work is done.
    public func checkWritable() throws {
        let dir = (finalPath as NSString).deletingLastPathComponent
        let folder = dir.isEmpty ? "." : dir
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw StageError.cantCreate("cannot create \(finalPath): folder \(folder) does not exist")
        }
        guard isDir.boolValue else {
            throw StageError.cantCreate("cannot create \(finalPath): \(folder) is a file, not a folder")
        }
        guard access(folder, W_OK) == 0 else {
            throw StageError.cantCreate("cannot create \(finalPath): folder \(folder) is not writable "
                                        + "(\(String(cString: strerror(errno))))")
        }
    }

    /// Checks the folder as `checkWritable` does and that the result would not replace one of
    /// the stage's `inputs` (64: the same file, under any name), then claims the output for
    /// this process (`OutputLock`): 75 when another kd process is writing it.
    public func claim(inputs: [String] = []) throws {
        try checkWritable()
        var output = stat()
        if stat(finalPath, &output) == 0 {
            for input in inputs {
                var other = stat()
                if stat(input, &other) == 0, other.st_dev == output.st_dev, other.st_ino == output.st_ino {
                    throw StageError.usage("the output \(finalPath) is the input \(input); kd never writes over its "
                                           + "input: choose another output")
                }
            }
        }
        try OutputLock.claim(finalPath)
    }

    /// Moves the finished partial file to the final name, and gives up the claim on it.
    public func commit() throws {
        guard rename(partialPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            throw StageError.cantCreate("cannot rename \(partialPath) to \(finalPath): \(reason)")
        }
        OutputLock.held(finalPath)?.release()
    }

    /// Removes the partial file, if any (when a stage fails, or starts over). The claim stays
    /// until the result is committed or the stage ends.
    public func discard() {
        unlink(partialPath)
    }

    /// Removes the partial file and gives up the claim: for a failed stage that leaves nothing
    /// to resume, so that a process running many stages (a test, a library user) does not keep
    /// a lock file open per failure.
    public func abandon() {
        discard()
        OutputLock.held(finalPath)?.release()
    }
}
