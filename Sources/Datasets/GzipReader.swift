import CZlib
import KDCore

/// Decompresses a gzip stream (RFC 1952) through zlib while it is read, so a 170 MB archive
/// never has to sit in memory compressed and decompressed at once. Handles files made of
/// several gzip members one after another (as `cat a.gz b.gz` or pigz produce), and reports a
/// corrupt or truncated stream with the compressed byte offset where it went wrong.
/// Cost: a 256 KiB input buffer plus zlib's 32 KiB window; zlib's inflate speed.
public final class GzipReader: ByteSource {
    public let name: String
    private let compressed: ByteSource
    /// zlib keeps a pointer back to its z_stream, so the stream lives at a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    /// Compressed bytes taken from `compressed` so far (for offsets in messages).
    private var consumedFromSource = 0
    private var sourceEnded = false
    /// True between the first byte of a member and its end; the stream may only end outside.
    private var insideMember = true
    private var members = 0

    public init(_ compressed: ByteSource) throws {
        self.compressed = compressed
        name = compressed.name
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: 256 << 10, alignment: 16)
        // 15 + 16: a 32 KiB window and a gzip wrapper (not zlib, not raw deflate).
        guard kd_inflateInit2(stream, 15 + 16) == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw StageError.io("cannot start zlib to decompress \(name): out of memory")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    /// Offset in the compressed file of the next byte zlib will look at.
    private var compressedOffset: Int { consumedFromSource - Int(stream.pointee.avail_in) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
        let room = Int(stream.pointee.avail_out)
        while Int(stream.pointee.avail_out) == room {
            if stream.pointee.avail_in == 0 && !sourceEnded { try refill() }
            if stream.pointee.avail_in == 0 && sourceEnded {
                if insideMember {
                    throw StageError.badData(
                        "truncated gzip stream: \(name) ends at byte \(consumedFromSource) in the middle of "
                        + "compressed member \(members + 1); expected more compressed data (the download "
                        + "or copy is incomplete)")
                }
                return 0
            }
            insideMember = true
            let status = inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                // A member ended; whatever follows must be another member (or nothing).
                members += 1
                insideMember = false
                inflateReset(stream)
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw StageError.badData(
                    "corrupt gzip stream: \(name) at compressed byte offset \(compressedOffset) "
                    + "(member \(members + 1)): \(detail); expected a valid gzip (deflate) stream")
            }
        }
        return room - Int(stream.pointee.avail_out)
    }

    private func refill() throws {
        let n = try compressed.read(into: input)
        if n == 0 {
            sourceEnded = true
            return
        }
        consumedFromSource += n
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(n)
    }
}
