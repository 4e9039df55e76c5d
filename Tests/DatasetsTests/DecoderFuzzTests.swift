import Datasets
import Foundation
import FuzzSupport
import KDCore
import Testing

/// Seeded mutation tests of every decoder through `DatasetDecoder.decode`, the code path of
/// `kd decode`: small valid inputs (IDX plain and gzipped, a CIFAR-10 folder, a CIFAR-10
/// tar.gz) are truncated, have bytes flipped or header fields changed, and each mutant must
/// either decode or throw a `StageError` — a crash or a hang fails the suite. The same seed
/// gives the same mutants, so a failure reproduces.
@Suite struct DecoderFuzzTests {
    /// Decodes `mutants` inputs made by `make` (files written into a folder; `input` is the
    /// path inside it to decode, "" for the folder) and counts the outcomes. Every outcome
    /// other than success or a `StageError` is a failure.
    static func fuzz(mutants: Int, seed: UInt64, input: String = "",
                     make: (inout SplitMix64) -> [(String, [UInt8])]) throws -> (decoded: Int, refused: Int) {
        let dir = try TempFolder()
        var rng = SplitMix64(state: seed)
        var decoded = 0, refused = 0
        let watchdog = HangWatchdog(limit: 30)
        defer { watchdog.stop() }
        for n in 0..<mutants {
            let folder = dir.file("in-\(n)"), out = dir.file("out-\(n).h5")
            try Fixtures.write(make(&rng), into: folder)
            do {
                _ = try watchdog.watch("decoding mutant \(n) of seed \(seed)") {
                    try DatasetDecoder.decode(DecodeOptions(input: folder + input, output: out))
                }
                decoded += 1
            } catch let error as StageError {
                #expect(!error.message.isEmpty)
                #expect(!FileManager.default.fileExists(atPath: out), "a refused input left \(out)")
                refused += 1
            }
            #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
            // Success or failure, the claim is given up: thousands of decodes in one process
            // must not keep a lock file open each.
            #expect(OutputLock.held(out) == nil, "the claim on \(out) is still held")
            try? FileManager.default.removeItem(atPath: folder)
            try? FileManager.default.removeItem(atPath: out)
        }
        return (decoded, refused)
    }

    /// One of `files`, chosen by `rng`, damaged by a random mutation.
    static func damageOne(_ files: [(String, [UInt8])], header: Int, _ rng: inout SplitMix64) -> [(String, [UInt8])] {
        var files = files
        let victim = Int(rng.next() % UInt64(files.count))
        files[victim].1 = ByteMutation.random(files[victim].1, header: header, rng: &rng).1
        return files
    }

    static func idxSplits(_ rng: inout SplitMix64) -> (GeneratedSplit, GeneratedSplit) {
        var train = GeneratedSplit(images: rng.bytes(20 * 36), labels: [])
        var test = GeneratedSplit(images: rng.bytes(6 * 36), labels: [])
        train.labels = (0..<20).map { _ in rng.below(10) }
        test.labels = (0..<6).map { _ in rng.below(10) }
        return (train, test)
    }

    @Test(arguments: [false, true])
    func idx(gzipped: Bool) throws {
        var rng = SplitMix64(state: gzipped ? 71 : 70)
        let (train, test) = Self.idxSplits(&rng)
        let files = Fixtures.idxFiles(train: train, test: test, rows: 6, columns: 6, gzipped: gzipped)
        // The IDX header (magic and sizes) is 8–16 bytes; a gzip member's header is 10.
        let result = try Self.fuzz(mutants: 1500, seed: rng.next()) { Self.damageOne(files, header: gzipped ? 10 : 16, &$0) }
        print("fuzzed \(result.decoded + result.refused) \(gzipped ? "gzipped " : "")IDX inputs: "
              + "\(result.decoded) decoded, \(result.refused) refused")
        #expect(result.refused > 500, "most damage must be noticed")
    }

    @Test func cifarFolder() throws {
        var rng = SplitMix64(state: 72)
        let files = Fixtures.cifar10Files(train: Fixtures.cifarSplit(10, cifar100: false, rng: &rng),
                                          test: Fixtures.cifarSplit(4, cifar100: false, rng: &rng))
        let result = try Self.fuzz(mutants: 1500, seed: rng.next()) { Self.damageOne(files, header: 1, &$0) }
        print("fuzzed \(result.decoded + result.refused) CIFAR-10 folders: \(result.decoded) decoded, \(result.refused) refused")
        #expect(result.refused > 300)
    }

    @Test func cifarArchive() throws {
        var rng = SplitMix64(state: 73)
        let files = Fixtures.cifar10Files(train: Fixtures.cifarSplit(10, cifar100: false, rng: &rng),
                                          test: Fixtures.cifarSplit(4, cifar100: false, rng: &rng))
        // Half the mutants damage the tar inside a sound gzip member, half the .tar.gz itself.
        let tar = Fixtures.tar(files, folder: "cifar-10-batches-bin"), archive = Fixtures.gzip(tar)
        var inside = false
        let result = try Self.fuzz(mutants: 1200, seed: rng.next(), input: "/cifar-10-binary.tar.gz") { rng in
            inside.toggle()
            let bytes = inside ? Fixtures.gzip(Self.damageOne([("tar", tar)], header: 512, &rng)[0].1)
                               : Self.damageOne([("gz", archive)], header: 10, &rng)[0].1
            return [("cifar-10-binary.tar.gz", bytes)]
        }
        print("fuzzed \(result.decoded + result.refused) CIFAR-10 archives: \(result.decoded) decoded, \(result.refused) refused")
        #expect(result.refused > 300)
    }
}
