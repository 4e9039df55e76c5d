#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KDCore

/// A stream of bytes read front to back in pieces: a file on disk, what a gzip stream
/// decompresses to, or one member of a tar archive. Decoders read through this so the same
/// code works on plain files and on compressed archives. `name` says where the bytes come
/// from in error messages.
public protocol ByteSource: AnyObject {
    var name: String { get }
    /// Fills the start of `buffer`; returns how many bytes were written, 0 only at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the stream ends; returns how many bytes were read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Reads the rest of the stream into one array. Cost: the whole stream in memory;
    /// `sizeHint` (when known) avoids regrowing the array.
    public func readAll(sizeHint: Int = 0) throws -> [UInt8] {
        // One byte beyond the hint, so that reaching the end needs no regrowth.
        var bytes = [UInt8](repeating: 0, count: max(sizeHint + 1, 1 << 16))
        var filled = 0
        while true {
            if filled == bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: bytes.count))
            }
            let n = try bytes.withUnsafeMutableBytes { all in
                try read(into: UnsafeMutableRawBufferPointer(rebasing: all[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }
}

/// A file on disk opened for reading with plain `read(2)`. Opening reports a missing or
/// unreadable file as missing input (exit 66). Cost: one open descriptor, no buffering of
/// its own (callers read in large pieces).
public final class InputFile: ByteSource {
    public let name: String
    /// The size of the file in bytes when it was opened.
    public let size: Int
    private let fd: Int32

    public init(path: String) throws {
        name = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StageError.noInput("cannot read \(path): \(reason)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw StageError.noInput("cannot read \(path): not a regular file")
        }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = readDescriptor(fd, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw StageError.io("cannot read \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// The whole file as one array.
    public static func contents(of path: String) throws -> [UInt8] {
        let file = try InputFile(path: path)
        return try file.readAll(sizeHint: file.size)
    }
}

/// `read(2)`, named apart from `ByteSource.read(into:)`.
private func readDescriptor(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, base, count)
}

/// Bytes already in memory (an archive member, a compressed file read whole) read as a
/// stream, e.g. to feed a `GzipReader`. Cost: none beyond the array it holds.
public final class ByteArraySource: ByteSource {
    public let name: String
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { all in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[position..<(position + n)]))
        }
        position += n
        return n
    }
}
