import Foundation
import KDCore

/// The raw files of one dataset, found by file name: either a folder on disk or the regular
/// files of a tar archive (.tar.gz or .tar, read in Swift through `GzipReader` and
/// `TarReader`). It also records what was read for provenance: each file's name and SHA-256
/// (for an archive, the archive itself).
///
/// Cost: a folder is read one file at a time, on demand. An archive is read once, front to
/// back, when it is opened, and all its regular files are kept in memory (about 180 MB for
/// CIFAR-10), since a split's record count is only known after all of its members were seen.
public final class SourceFiles {
    /// The folder or archive, as it will appear in messages.
    public let location: String
    /// The file names available (the last path component; folders inside an archive ignored).
    public let names: Set<String>
    private let isArchive: Bool
    private var members: [String: [UInt8]]
    /// (name, SHA-256) of every file read so far, in reading order.
    public private(set) var provenance: [(name: String, sha256: String)] = []

    /// The files directly inside `folder`.
    public init(folder: String) throws {
        location = folder
        isArchive = false
        members = [:]
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        names = Set(listing.filter { name in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isDir) && !isDir.boolValue
        })
    }

    /// The regular files of the tar archive at `path`, gzipped or not (told apart by the gzip
    /// magic bytes, not by the file name).
    public init(archive path: String) throws {
        location = path
        isArchive = true
        let file = try InputFile(path: path)
        var magic = [UInt8](repeating: 0, count: 2)
        let got = try magic.withUnsafeMutableBytes { try file.readFully(into: $0) }
        let isGzip = got == 2 && magic == [0x1f, 0x8b]
        // Reopen to start again from byte 0; the descriptor is cheap.
        let raw = try InputFile(path: path)
        let tar = TarReader(isGzip ? try GzipReader(raw) : raw)
        var members: [String: [UInt8]] = [:]
        var paths: [String: String] = [:]
        while let entry = try tar.next() {
            if let earlier = paths[entry.fileName] {
                throw StageError.badData(
                    "archive \(path) holds two files named \(entry.fileName) (\(earlier) and \(entry.path)); "
                    + "expected one dataset per archive")
            }
            paths[entry.fileName] = entry.path
            members[entry.fileName] = try tar.readContents()
        }
        self.members = members
        names = Set(members.keys)
        provenance = [((path as NSString).lastPathComponent, try FileDigest.sha256(path: path))]
    }

    /// Where `name` is, for messages: the file path, or `archive:name`.
    public func describe(_ name: String) -> String {
        isArchive ? "\(location):\(name)" : location + "/" + name
    }

    /// The first of `candidates` that exists, if any.
    public func first(of candidates: [String]) -> String? {
        candidates.first { names.contains($0) }
    }

    /// The size of file `name` in bytes, without reading it.
    public func size(of name: String, expected: String) throws -> Int {
        if isArchive {
            guard let bytes = members[name] else { throw missing(name, expected: expected) }
            return bytes.count
        }
        guard names.contains(name) else { throw missing(name, expected: expected) }
        let attributes = try? FileManager.default.attributesOfItem(atPath: location + "/" + name)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// The error for a file that is not there: missing input (66) in a folder, bad data (65)
    /// in an archive (the archive is incomplete).
    public func missing(_ name: String, expected: String) -> StageError {
        isArchive
            ? StageError.badData("archive \(location) has no member \(name); expected \(expected)")
            : StageError.noInput("missing input file \(location)/\(name); expected \(expected)")
    }

    /// The bytes of file `name` as stored (still compressed if it is a .gz file).
    /// `expected` explains what the file is for, in the error when it is missing.
    public func read(_ name: String, expected: String) throws -> [UInt8] {
        if isArchive {
            // Handed over, not copied: each member is decoded once.
            guard let bytes = members.removeValue(forKey: name) else { throw missing(name, expected: expected) }
            return bytes
        }
        guard names.contains(name) else { throw missing(name, expected: expected) }
        let path = location + "/" + name
        let bytes = try InputFile.contents(of: path)
        provenance.append((name, FileDigest.sha256(bytes: bytes)))
        return bytes
    }

    /// The bytes of file `name`, decompressed when they are a gzip stream (by magic bytes).
    public func readDecompressed(_ name: String, expected: String) throws -> [UInt8] {
        let bytes = try read(name, expected: expected)
        guard bytes.starts(with: [0x1f, 0x8b]) else { return bytes }
        return try GzipReader(ByteArraySource(bytes, name: describe(name))).readAll(sizeHint: bytes.count * 4)
    }
}
