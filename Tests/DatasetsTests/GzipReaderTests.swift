import Datasets
import FuzzSupport
import KDCore
import Testing

@Suite struct GzipReaderTests {
    /// Reads through a deliberately small buffer so many read calls cross zlib's boundaries.
    func gunzip(_ compressed: [UInt8], piece: Int = 1000) throws -> [UInt8] {
        let reader = try GzipReader(ByteArraySource(compressed, name: "test.gz"))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: piece)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { return out }
            out += buffer[..<n]
        }
    }

    @Test func decompressesWhatZlibCompressed() throws {
        var rng = SplitMix64(state: 1)
        // Half random, half repetitive, so the stream has both literal and match blocks.
        let original = rng.bytes(300_000) + [UInt8](repeating: 7, count: 300_000)
        #expect(try gunzip(Fixtures.gzip(original)) == original)
        let whole = try GzipReader(ByteArraySource(Fixtures.gzip(original), name: "test.gz")).readAll()
        #expect(whole == original)
    }

    @Test func readsConcatenatedMembers() throws {
        var rng = SplitMix64(state: 2)
        let first = rng.bytes(70_000), second = rng.bytes(5), third = [UInt8](repeating: 1, count: 90_000)
        let stream = Fixtures.gzip(first) + Fixtures.gzip(second) + Fixtures.gzip(third)
        #expect(try gunzip(stream) == first + second + third)
    }

    @Test func emptyContentIsAValidMember() throws {
        #expect(try gunzip(Fixtures.gzip([])) == [])
    }

    @Test func truncatedStreamIsBadData() throws {
        var rng = SplitMix64(state: 3)
        let compressed = Fixtures.gzip(rng.bytes(50_000))
        let error = #expect(throws: StageError.self) { try gunzip(Array(compressed.prefix(compressed.count - 10))) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("truncated gzip stream: test.gz ends at byte \(compressed.count - 10)") == true)
    }

    @Test func emptyFileIsTruncated() throws {
        let error = #expect(throws: StageError.self) { try gunzip([]) }
        #expect(error?.message.contains("truncated gzip stream") == true)
    }

    @Test func corruptStreamNamesTheOffset() throws {
        var compressed = Fixtures.gzip([UInt8](repeating: 42, count: 10_000) + Array("some text".utf8))
        compressed[3] = 0xff  // reserved header flag bits set: zlib rejects the header
        let error = #expect(throws: StageError.self) { try gunzip(compressed) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("corrupt gzip stream: test.gz at compressed byte offset") == true)
    }

    @Test func damagedDataFailsTheChecksum() throws {
        var rng = SplitMix64(state: 4)
        let original = rng.bytes(20_000)
        var compressed = Fixtures.gzip(original, level: 0)  // stored blocks: a flipped byte still parses
        compressed[compressed.count / 2] ^= 0xff
        let error = #expect(throws: StageError.self) { try gunzip(compressed) }
        #expect(error?.message.contains("incorrect data check") == true)
    }

    @Test func garbageAfterAMemberIsReported() throws {
        let compressed = Fixtures.gzip(Array("hello".utf8)) + Array("not gzip at all".utf8)
        let error = #expect(throws: StageError.self) { try gunzip(compressed) }
        #expect(error?.message.contains("(member 2)") == true)
    }
}
