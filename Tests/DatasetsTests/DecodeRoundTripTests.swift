import Datasets
import Foundation
import FuzzSupport
import HDF5
import KDCore
import Testing

/// Generated raw datasets decoded into a store and read back through `DataStore`,
/// compared pixel for pixel with what was generated.
@Suite struct DecodeRoundTripTests {
    /// Every image and label of `split` in the store equals `expected`, padded by `pad`.
    func expectSplit(_ store: DataStore, _ name: String, equals expected: GeneratedSplit,
                     shape: [Int], pad: Int = 0) throws {
        let split = try store.split(name)
        #expect(split.count == expected.count)
        #expect(try split.readLabels() == expected.labels)
        #expect(try split.readCoarseLabels() == (expected.coarseLabels.isEmpty ? nil : expected.coarseLabels))
        var images = [UInt8](repeating: 0, count: split.count * store.imageBytes)
        try images.withUnsafeMutableBufferPointer { try split.readImages(0..<split.count, into: $0) }
        #expect(images == Self.padded(expected.images, shape: shape, pad: pad))
    }

    /// `images` (N×C×H×W) with `pad` zeros around every H×W plane.
    static func padded(_ images: [UInt8], shape: [Int], pad: Int) -> [UInt8] {
        let (h, w) = (shape[1], shape[2])
        let (ph, pw) = (h + 2 * pad, w + 2 * pad)
        let planes = images.count / (h * w)
        var out = [UInt8](repeating: 0, count: planes * ph * pw)
        for plane in 0..<planes {
            for y in 0..<h {
                for x in 0..<w { out[plane * ph * pw + (y + pad) * pw + x + pad] = images[plane * h * w + y * w + x] }
            }
        }
        return out
    }

    func decode(_ input: String, in dir: TempFolder, format: DatasetFormat? = nil, pad: Int = 0,
                classes: ClassNames? = nil) throws -> (DecodeSummary, DataStore) {
        let out = dir.file("store.h5")
        let summary = try DatasetDecoder.decode(DecodeOptions(input: input, output: out, format: format, pad: pad, classes: classes))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        return (summary, try DataStore(path: out))
    }

    @Test func cifar10FolderAndTheFolderHoldingIt() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 10)
        let train = Fixtures.cifarSplit(250, cifar100: false, rng: &rng), test = Fixtures.cifarSplit(70, cifar100: false, rng: &rng)
        let files = Fixtures.cifar10Files(train: train, test: test)
        try Fixtures.write(files, into: dir.file("raw/cifar-10-batches-bin"))
        for input in [dir.file("raw/cifar-10-batches-bin"), dir.file("raw")] {
            let (summary, store) = try decode(input, in: dir)
            #expect(summary.format == .cifar10)
            #expect(store.imageShape == [3, 32, 32])
            #expect(store.classes == Fixtures.cifar10Names)
            #expect(store.splitNames == ["test", "train"])
            try expectSplit(store, "train", equals: train, shape: [3, 32, 32])
            try expectSplit(store, "test", equals: test, shape: [3, 32, 32])
            // Provenance: every file read, with its SHA-256.
            let source = try store.file.stringArrayAttribute("source") ?? []
            let digests = try store.file.stringArrayAttribute("source_sha256") ?? []
            #expect(Set(source) == Set(files.map(\.0)))
            for (name, digest) in zip(source, digests) {
                #expect(digest == FileDigest.sha256(bytes: files.first { $0.0 == name }!.1))
            }
            #expect(try store.file.stringAttribute("kd_kind") == "dataset")
            #expect(try store.file.stringAttribute("format") == "cifar10")
            #expect(try store.file.intArrayAttribute("image_shape") == [3, 32, 32])
            // Closed before the next decode replaces the file under the same name: HDF5 locks
            // the files it has open.
            try store.file.close()
        }
    }

    @Test func cifar10ArchiveReadDirectly() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 11)
        let train = Fixtures.cifarSplit(100, cifar100: false, rng: &rng), test = Fixtures.cifarSplit(30, cifar100: false, rng: &rng)
        let archive = Fixtures.tar(Fixtures.cifar10Files(train: train, test: test), folder: "cifar-10-batches-bin")
        try Fixtures.write([("cifar-10-binary.tar.gz", Fixtures.gzip(archive))], into: dir.path)
        let (summary, store) = try decode(dir.file("cifar-10-binary.tar.gz"), in: dir)
        #expect(summary.format == .cifar10)
        try expectSplit(store, "train", equals: train, shape: [3, 32, 32])
        try expectSplit(store, "test", equals: test, shape: [3, 32, 32])
        #expect(try store.file.stringArrayAttribute("source") == ["cifar-10-binary.tar.gz"])
        #expect(try store.file.stringArrayAttribute("source_sha256")
                == [FileDigest.sha256(path: dir.file("cifar-10-binary.tar.gz"))])
    }

    @Test func cifar100FolderAndArchiveKeepBothLabels() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 12)
        let train = Fixtures.cifarSplit(180, cifar100: true, rng: &rng), test = Fixtures.cifarSplit(40, cifar100: true, rng: &rng)
        let files = Fixtures.cifar100Files(train: train, test: test)
        try Fixtures.write(files, into: dir.file("cifar-100-binary"))
        try Fixtures.write([("c100.tar.gz", Fixtures.gzip(Fixtures.tar(files, folder: "cifar-100-binary")))], into: dir.path)
        for input in [dir.file("cifar-100-binary"), dir.file("c100.tar.gz")] {
            let (summary, store) = try decode(input, in: dir)
            #expect(summary.format == .cifar100)
            #expect(store.classes == (0..<100).map { "fine\($0)" })
            #expect(try store.file.stringArrayAttribute("coarse_classes") == (0..<20).map { "coarse\($0)" })
            try expectSplit(store, "train", equals: train, shape: [3, 32, 32])
            try expectSplit(store, "test", equals: test, shape: [3, 32, 32])
        }
    }

    @Test func idxPlainAndGzippedWithPadding() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 13)
        let train = GeneratedSplit(images: rng.bytes(300 * 28 * 28), labels: (0..<300).map { _ in rng.below(10) })
        let test = GeneratedSplit(images: rng.bytes(60 * 28 * 28), labels: (0..<60).map { _ in rng.below(10) })
        for gzipped in [false, true] {
            let folder = dir.file(gzipped ? "fashion-gz" : "digits")
            try Fixtures.write(Fixtures.idxFiles(train: train, test: test, rows: 28, columns: 28, gzipped: gzipped), into: folder)
            for pad in [0, 2] {
                let (summary, store) = try decode(folder, in: dir, pad: pad)
                #expect(summary.format == .idx)
                #expect(store.imageShape == [1, 28 + 2 * pad, 28 + 2 * pad])
                // The path decides the class names when --classes is not given.
                #expect(store.classes == (gzipped ? ClassNames.fashionMNISTNames : ClassNames.mnistNames))
                try expectSplit(store, "train", equals: train, shape: [1, 28, 28], pad: pad)
                try expectSplit(store, "test", equals: test, shape: [1, 28, 28], pad: pad)
                let images = try store.file.root.openGroup("train").openDataset("images")
                #expect(images.chunkShape?.dropFirst() == [1, 28 + 2 * pad, 28 + 2 * pad])
                #expect(images.deflateLevel == DataStoreWriter.imageDeflateLevel)
            }
        }
    }

    @Test func classNamesFromAFile() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 14)
        let split = GeneratedSplit(images: rng.bytes(20 * 4 * 5), labels: (0..<20).map { _ in rng.below(3) })
        try Fixtures.write(Fixtures.idxFiles(train: split, test: split, rows: 4, columns: 5, gzipped: false), into: dir.file("in"))
        try Fixtures.write([("names.txt", Array("cat\n dog \n\nemu\n".utf8))], into: dir.path)
        let (summary, store) = try decode(dir.file("in"), in: dir, classes: .file(dir.file("names.txt")))
        #expect(store.classes == ["cat", "dog", "emu"])
        #expect(summary.splits.first?.classCounts == (0..<3).map { c in split.labels.filter { $0 == c }.count })
        try expectSplit(store, "train", equals: split, shape: [1, 4, 5])
    }

    /// Reads by index list come back in the order asked, duplicates and runs included.
    @Test func readImagesByIndexList() throws {
        let dir = try TempFolder()
        var rng = SplitMix64(state: 15)
        let split = GeneratedSplit(images: rng.bytes(2500 * 6 * 6), labels: (0..<2500).map { _ in rng.below(10) })
        try Fixtures.write(Fixtures.idxFiles(train: split, test: split, rows: 6, columns: 6, gzipped: false), into: dir.file("in"))
        let (_, store) = try decode(dir.file("in"), in: dir)
        let train = try store.split("train")
        let indices = [2499, 3, 4, 5, 0, 1800, 4, 1024, 1023, 7]
        var got = [UInt8](repeating: 0, count: indices.count * 36)
        try got.withUnsafeMutableBufferPointer { try train.readImages(at: indices, into: $0) }
        #expect(got == indices.flatMap { split.images[($0 * 36)..<(($0 + 1) * 36)] })
        let error = #expect(throws: StageError.self) {
            try got.withUnsafeMutableBufferPointer { try train.readImages(at: [1, 2500, 3, 4, 5, 6, 7, 8, 9, 10], into: $0) }
        }
        #expect(error?.message.contains("image index 2500 is outside /train") == true)
    }

    @Test func openingAFileThatIsNotAStoreIsBadData() throws {
        let dir = try TempFolder()
        let file = try H5File.create(dir.file("other.h5"))
        try file.setAttribute("kd_kind", "model")
        try file.close()
        let error = #expect(throws: StageError.self) { try DataStore(path: dir.file("other.h5")) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("is not a kd data store: its kd_kind attribute is \"model\"") == true)
    }
}
