import Datasets
import Foundation
import FuzzSupport
import KDCore
import Testing

@Suite struct TarReaderTests {
    func entries(_ archive: [UInt8]) throws -> [(String, [UInt8])] {
        let reader = TarReader(ByteArraySource(archive, name: "test.tar"))
        var out: [(String, [UInt8])] = []
        while let entry = try reader.next() {
            out.append((entry.path, try reader.readContents()))
        }
        return out
    }

    @Test func readsRegularFilesAndSkipsFolders() throws {
        var rng = SplitMix64(state: 5)
        let files = [("a.bin", rng.bytes(1000)), ("empty", []), ("b.txt", rng.bytes(512)), ("c", rng.bytes(513))]
        let got = try entries(Fixtures.tar(files, folder: "data"))
        #expect(got.map(\.0) == files.map { "data/" + $0.0 })
        #expect(got.map(\.1) == files.map(\.1))
    }

    @Test func skipsContentsNotRead() throws {
        let files = [("one", [UInt8](repeating: 1, count: 700)), ("two", [UInt8](repeating: 2, count: 3))]
        let reader = TarReader(ByteArraySource(Fixtures.tar(files, folder: "f"), name: "test.tar"))
        _ = try reader.next()
        let second = try reader.next()
        #expect(second?.fileName == "two")
        #expect(try reader.readContents() == [2, 2, 2])
        #expect(try reader.next() == nil)
    }

    @Test func joinsTheUstarPrefixOfLongPaths() throws {
        let folder = String(repeating: "deep/", count: 30) + "x"
        let got = try entries(Fixtures.tar([("file.bin", [9, 9])], folder: folder))
        #expect(got.first?.0 == folder + "/file.bin")
        #expect(got.first?.1 == [9, 9])
    }

    /// GNU tar (as `tar` on Debian writes it, with pax headers for long names) reads the same.
    @Test func readsWhatTheTarCommandWrites() throws {
        let dir = try TempFolder()
        let long = String(repeating: "n", count: 150)
        try Fixtures.write([(long, [UInt8](repeating: 3, count: 2000)), ("short", [4])], into: dir.file("in"))
        for format in ["gnu", "posix"] {
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            tar.arguments = ["tar", "--format=\(format)", "-czf", dir.file("t.tar.gz"), "-C", dir.path, "in"]
            try tar.run()
            tar.waitUntilExit()
            #expect(tar.terminationStatus == 0)
            let reader = TarReader(try GzipReader(InputFile(path: dir.file("t.tar.gz"))))
            var got: [String: [UInt8]] = [:]
            while let entry = try reader.next() { got[entry.path] = try reader.readContents() }
            #expect(got["in/" + long] == [UInt8](repeating: 3, count: 2000), "format \(format)")
            #expect(got["in/short"] == [4], "format \(format)")
        }
    }

    @Test func badChecksumIsBadData() throws {
        var archive = Fixtures.tar([("x", [1, 2, 3])], folder: "f")
        archive[512 + 10] ^= 0x01  // inside the second header's name field
        let error = #expect(throws: StageError.self) { try entries(archive) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("bad tar header in test.tar at byte 512: checksum") == true)
    }

    @Test func truncatedMemberIsBadData() throws {
        let archive = Fixtures.tar([("x", [UInt8](repeating: 5, count: 2000))], folder: "f")
        let error = #expect(throws: StageError.self) { try entries(Array(archive.prefix(1024 + 1000))) }
        #expect(error?.message.contains("truncated tar archive: test.tar ends inside member f/x") == true)
        #expect(error?.message.contains("declares 2000 bytes but only 1000 follow") == true)
    }
}
