import KDCore

/// One regular file inside a tar archive, as its header describes it.
public struct TarEntry: Sendable {
    /// Path inside the archive, e.g. `cifar-10-batches-bin/data_batch_1.bin`.
    public let path: String
    public let size: Int
    /// Byte offset of the entry's header in the (uncompressed) archive.
    public let headerOffset: Int

    /// The last component of `path`.
    public var fileName: String { String(path.split(separator: "/").last ?? Substring(path)) }
}

/// Reads the regular files of a tar archive front to back from any byte stream (a plain
/// file, or a `GzipReader` for .tar.gz), so an archive is never unpacked to disk. Understands
/// ustar and GNU headers with their checksum verified, pax extended headers (`path`, `size`)
/// and GNU long names; skips folders, links and other special entries.
/// Cost: one 512-byte header per entry; skipped contents are read and dropped (a compressed
/// stream cannot seek).
public final class TarReader {
    private let source: ByteSource
    /// Uncompressed archive bytes consumed so far.
    private var offset = 0
    /// Content bytes (plus padding to 512) of the current entry not yet read.
    private var pendingContent = 0
    private var pendingPadding = 0
    private var current: TarEntry?

    public init(_ source: ByteSource) {
        self.source = source
    }

    /// Moves to the next regular file, skipping what is left of the current one; nil at the
    /// end of the archive.
    public func next() throws -> TarEntry? {
        try skip(pendingContent + pendingPadding)
        pendingContent = 0
        pendingPadding = 0
        current = nil
        // Overrides from a pax extended header or a GNU long-name entry, for the next header.
        var longPath: String?
        var paxSize: Int?
        while true {
            let headerOffset = offset
            var header = [UInt8](repeating: 0, count: 512)
            let got = try header.withUnsafeMutableBytes { try source.readFully(into: $0) }
            offset += got
            if got == 0 { return nil }  // no end-of-archive blocks: accept the end as is
            guard got == 512 else {
                throw StageError.badData(
                    "truncated tar archive: \(source.name) ends at byte \(offset), inside the header that "
                    + "starts at byte \(headerOffset); expected a 512-byte header")
            }
            if header.allSatisfy({ $0 == 0 }) { return nil }  // end-of-archive marker
            try verifyChecksum(header, at: headerOffset)
            let size = try paxSize ?? Self.number(header[124..<136], field: "size", at: headerOffset, in: source.name)
            let path = longPath ?? Self.path(of: header)
            let type = header[156]
            longPath = nil
            paxSize = nil
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):  // regular file (7: contiguous file)
                let entry = TarEntry(path: path, size: size, headerOffset: headerOffset)
                current = entry
                pendingContent = size
                pendingPadding = Self.padding(size)
                return entry
            case UInt8(ascii: "x"):  // pax extended header for the next entry
                let records = try readContent(size, of: path, at: headerOffset)
                (longPath, paxSize) = try Self.paxOverrides(records, at: headerOffset, in: source.name)
            case UInt8(ascii: "L"):  // GNU long name for the next entry
                let name = try readContent(size, of: path, at: headerOffset)
                longPath = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
            default:  // folders, links, devices, global pax headers: nothing to decode
                try skip(size + Self.padding(size))
            }
        }
    }

    /// The whole content of the current entry (empty if already read). Cost: its size in memory.
    public func readContents() throws -> [UInt8] {
        guard let entry = current else { return [] }
        var bytes = [UInt8](repeating: 0, count: entry.size)
        let got = try bytes.withUnsafeMutableBytes { try source.readFully(into: $0) }
        offset += got
        pendingContent = 0
        current = nil
        guard got == entry.size else { throw truncated(entry.path, at: entry.headerOffset, declared: entry.size, got: got) }
        return bytes
    }

    private func readContent(_ size: Int, of path: String, at headerOffset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size + Self.padding(size))
        let got = try bytes.withUnsafeMutableBytes { try source.readFully(into: $0) }
        offset += got
        guard got == bytes.count else { throw truncated(path, at: headerOffset, declared: size, got: got) }
        return Array(bytes.prefix(size))
    }

    private func skip(_ count: Int) throws {
        var scratch = [UInt8](repeating: 0, count: min(count, 1 << 20))
        var left = count
        while left > 0 {
            let n = try scratch.withUnsafeMutableBytes {
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<min(left, $0.count)]))
            }
            if n == 0 {
                let entry = current?.path ?? "an entry"
                throw StageError.badData(
                    "truncated tar archive: \(source.name) ends at byte \(offset) inside \(entry); "
                    + "expected \(left) more bytes")
            }
            offset += n
            left -= n
        }
    }

    private func truncated(_ path: String, at headerOffset: Int, declared: Int, got: Int) -> StageError {
        StageError.badData(
            "truncated tar archive: \(source.name) ends inside member \(path) (header at byte \(headerOffset)), "
            + "which declares \(declared) bytes but only \(got) follow")
    }

    /// The header checksum: the sum of all 512 bytes with the checksum field read as spaces.
    /// Old tars summed signed chars, so either sum is accepted.
    private func verifyChecksum(_ header: [UInt8], at headerOffset: Int) throws {
        let stored = try Self.number(header[148..<156], field: "checksum", at: headerOffset, in: source.name)
        var unsigned = 0, signed = 0
        for (i, byte) in header.enumerated() {
            let b = (148..<156).contains(i) ? UInt8(ascii: " ") : byte
            unsigned += Int(b)
            signed += Int(Int8(bitPattern: b))
        }
        guard stored == unsigned || stored == signed else {
            throw StageError.badData(
                "bad tar header in \(source.name) at byte \(headerOffset): checksum is \(stored) but the "
                + "header sums to \(unsigned); the archive is corrupt or not a tar file")
        }
    }

    /// Numeric header fields are octal text ended by NUL or space, or, for values too big for
    /// that, big-endian binary flagged by the top bit of the first byte (GNU).
    private static func number(_ field: ArraySlice<UInt8>, field name: String, at headerOffset: Int,
                               in archive: String) throws -> Int {
        if let first = field.first, first & 0x80 != 0 {
            // Base-256 (GNU): more than 7 significant bytes would overflow, and the sign bit
            // (0x40 of the first byte) marks a negative number; neither is a size.
            let digits = field.dropFirst().drop { $0 == 0 }
            guard first & 0x40 == 0, digits.count <= 7 else {
                throw StageError.badData("bad tar header in \(archive) at byte \(headerOffset): the \(name) field holds "
                                         + "a negative or oversized binary number; the archive is corrupt")
            }
            return field.dropFirst().reduce(Int(first & 0x3f)) { $0 << 8 | Int($1) }
        }
        let text = String(decoding: field.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces
        guard let value = text.isEmpty ? 0 : Int(text, radix: 8), value >= 0 else {
            throw StageError.badData(
                "bad tar header in \(archive) at byte \(headerOffset): \(name) field \"\(text)\" is not an "
                + "octal number; the archive is corrupt or not a tar file")
        }
        return value
    }

    /// `name`, prefixed by the ustar `prefix` field when the header is POSIX ustar.
    private static func path(of header: [UInt8]) -> String {
        func text(_ r: Range<Int>) -> String { String(decoding: header[r].prefix { $0 != 0 }, as: UTF8.self) }
        let name = text(0..<100)
        let isPOSIX = header[257..<263].elementsEqual("ustar\0".utf8)
        let prefix = isPOSIX ? text(345..<500) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// `path` and `size` from pax records, each "LENGTH KEY=VALUE\n".
    private static func paxOverrides(_ records: [UInt8], at headerOffset: Int,
                                     in archive: String) throws -> (String?, Int?) {
        var path: String?, size: Int?
        var rest = records[...]
        while !rest.isEmpty {
            guard let space = rest.firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: rest[..<space], as: UTF8.self)),
                  length >= space - rest.startIndex + 2, length <= rest.count else {
                throw StageError.badData(
                    "bad pax extended header in \(archive) at byte \(headerOffset): expected records "
                    + "\"LENGTH KEY=VALUE\\n\"")
            }
            let record = rest[(space + 1)..<(rest.startIndex + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[..<eq], as: UTF8.self)
                let value = String(decoding: record[(eq + 1)...], as: UTF8.self)
                if key == "path" { path = value }
                if key == "size" {
                    guard let value = Int(value), value >= 0 else {
                        throw StageError.badData("bad pax extended header in \(archive) at byte \(headerOffset): "
                                                 + "size \"\(value)\" is not a number of bytes")
                    }
                    size = value
                }
            }
            rest = rest[(rest.startIndex + length)...]
        }
        return (path, size)
    }

    private static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
