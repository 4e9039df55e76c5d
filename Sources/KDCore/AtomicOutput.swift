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
/// therefore never touches an existing result. Cost: one rename.
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
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw StageError.cantCreate("cannot create \(finalPath): folder \(folder) does not exist")
        }
        guard access(folder, W_OK) == 0 else {
            throw StageError.cantCreate("cannot create \(finalPath): folder \(folder) is not writable")
        }
    }

    /// Moves the finished partial file to the final name.
    public func commit() throws {
        guard rename(partialPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            throw StageError.cantCreate("cannot rename \(partialPath) to \(finalPath): \(reason)")
        }
    }

    /// Removes the partial file, if any; used when a stage fails.
    public func discard() {
        unlink(partialPath)
    }
}
