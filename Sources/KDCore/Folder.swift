#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Folders a stage makes for its outputs, with the system's reason in words when that fails.
public enum Folder {
    /// Makes `path` and every missing folder above it (as `mkdir -p`). Throws 73 naming the
    /// part that could not be made and why ("Not a directory" where a file is in the way).
    /// Cost: one `mkdir` per missing level.
    public static func create(_ path: String, for what: String) throws {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o755) != 0, errno != EEXIST {
                throw StageError.cantCreate("cannot create \(what) \(path): \(built): \(String(cString: strerror(errno)))")
            }
            var info = stat()
            guard stat(built, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw StageError.cantCreate("cannot create \(what) \(path): \(built) is a file, not a folder")
            }
        }
    }
}
