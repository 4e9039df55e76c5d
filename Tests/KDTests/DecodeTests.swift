import Foundation
import Testing

/// `kd decode` through the real binary: a good input gives a store and a summary; every kind
/// of bad input gives its exit code and a message that says what, where and what was expected,
/// and never leaves a store (or clobbers an existing one).
@Suite struct DecodeTests {
    // MARK: - Small generated inputs

    /// `count` CIFAR records with labels 0, 1, 2, … (mod `classes`) and a pixel pattern.
    static func cifarRecords(_ count: Int, labelBytes: Int = 1, first: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for i in first..<(first + count) {
            if labelBytes == 2 { bytes.append(UInt8(i % 20)) }
            bytes.append(UInt8(i % 10))
            bytes += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
        }
        return bytes
    }

    /// A CIFAR-10 `cifar-10-batches-bin` folder: 5 batches of 20 records, a test batch of 10.
    static func cifar10Files() -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for b in 1...5 { files["data_batch_\(b).bin"] = cifarRecords(20, first: 20 * b) }
        files["test_batch.bin"] = cifarRecords(10)
        files["batches.meta.txt"] = Array("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n".utf8)
        return files
    }

    static func cifar100Files() -> [String: [UInt8]] {
        ["train.bin": cifarRecords(40, labelBytes: 2), "test.bin": cifarRecords(10, labelBytes: 2),
         "fine_label_names.txt": Array((0..<100).map { "f\($0)" }.joined(separator: "\n").utf8),
         "coarse_label_names.txt": Array((0..<20).map { "c\($0)" }.joined(separator: "\n").utf8)]
    }

    static func idx(_ values: [UInt8], _ dimensions: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { bytes += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
        return bytes + values
    }

    /// MNIST-style files: 30 training and 10 test images of 28×28.
    static func idxFiles() -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for (stem, n) in [("train", 30), ("t10k", 10)] {
            files["\(stem)-images-idx3-ubyte"] = idx((0..<(n * 784)).map { UInt8(truncatingIfNeeded: $0) }, [n, 28, 28])
            files["\(stem)-labels-idx1-ubyte"] = idx((0..<n).map { UInt8($0 % 10) }, [n])
        }
        return files
    }

    static func write(_ files: [String: [UInt8]], to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name)) }
    }

    /// Runs a system tool (tar, gzip) to build test inputs the way users get them.
    static func tool(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(args.joined(separator: " ")) failed")
    }

    /// Decodes `input` into `dir/out.h5`; a failure must leave neither the store nor its partial file.
    func decode(_ input: String, _ dir: TempDir, _ extra: [String] = []) throws -> KDRun {
        let out = dir.file("out.h5")
        let r = try KDProcess.run(["decode", input, "--out", out] + extra)
        if r.status != 0 {
            #expect(!FileManager.default.fileExists(atPath: out), "a failed decode left \(out)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        return r
    }

    /// A CIFAR-10 folder with `change` applied to its files, decoded.
    func decodeCIFAR10(_ change: (inout [String: [UInt8]]) -> Void, _ extra: [String] = []) throws -> KDRun {
        let dir = try TempDir()
        var files = Self.cifar10Files()
        change(&files)
        try Self.write(files, to: dir.file("cifar-10-batches-bin"))
        return try decode(dir.file("cifar-10-batches-bin"), dir, extra)
    }

    func decodeIDX(_ change: (inout [String: [UInt8]]) -> Void, gzip: Bool = false) throws -> KDRun {
        let dir = try TempDir()
        var files = Self.idxFiles()
        change(&files)
        try Self.write(files, to: dir.file("mnist"))
        if gzip { try Self.tool(["gzip", "-r", dir.file("mnist")]) }
        return try decode(dir.file("mnist"), dir)
    }

    // MARK: - Good input

    @Test func decodesAndPrintsASummary() throws {
        let r = try decodeCIFAR10 { _ in }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("decoded cifar10"))
        #expect(r.stdout.contains("train: 100 images of 3×32×32, 10 classes, 10 per class"))
        #expect(r.stdout.contains("test: 10 images of 3×32×32, 10 classes, 1 per class"))
    }

    @Test func decodesATarGzMadeByTheTarCommand() throws {
        let dir = try TempDir()
        try Self.write(Self.cifar10Files(), to: dir.file("cifar-10-batches-bin"))
        try Self.tool(["tar", "-czf", dir.file("cifar-10-binary.tar.gz"), "-C", dir.path, "cifar-10-batches-bin"])
        let r = try decode(dir.file("cifar-10-binary.tar.gz"), dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("train: 100 images of 3×32×32"))
    }

    @Test func padsGzippedIDX() throws {
        let dir = try TempDir()
        try Self.write(Self.idxFiles(), to: dir.file("mnist"))
        try Self.tool(["gzip", "-r", dir.file("mnist")])
        let r = try decode(dir.file("mnist"), dir, ["--pad", "2", "--classes", "mnist"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("train: 30 images of 1×32×32, 10 classes, 3 per class"))
        #expect(r.stdout.contains("classes: mnist digits"))
    }

    @Test func formatChoosesAmongSeveralDatasets() throws {
        let dir = try TempDir()
        try Self.write(Self.cifar10Files(), to: dir.file("raw/cifar-10-batches-bin"))
        try Self.write(Self.cifar100Files(), to: dir.file("raw/cifar-100-binary"))
        let ambiguous = try decode(dir.file("raw"), dir)
        #expect(ambiguous.status == 64)
        #expect(ambiguous.stderr.contains("holds several datasets:"))
        #expect(ambiguous.stderr.contains("cifar-10-batches-bin (cifar10), \(dir.file("raw/cifar-100-binary")) (cifar100)"))
        let chosen = try decode(dir.file("raw"), dir, ["--format", "cifar100"])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(chosen.stdout.contains("decoded cifar100 from \(dir.file("raw/cifar-100-binary"))"))
        #expect(chosen.stdout.contains("train: 40 images of 3×32×32, 100 classes"))
    }

    // MARK: - Bad record files (65)

    @Test func truncatedRecordFile() throws {
        let r = try decodeCIFAR10 { $0["data_batch_3.bin"]!.removeLast() }
        #expect(r.status == 65)
        #expect(r.stderr.contains("data_batch_3.bin has 61459 bytes: 19 whole records and 3072 bytes left over"))
        #expect(r.stderr.contains("expected a whole number of 3073-byte CIFAR-10 records"))
    }

    @Test func overLongRecordFile() throws {
        let r = try decodeCIFAR10 { $0["test_batch.bin"]!.append(0) }
        #expect(r.status == 65)
        #expect(r.stderr.contains("test_batch.bin has 30731 bytes: 10 whole records and 1 byte left over"))
    }

    @Test func recordSizeOfTheOtherFormat() throws {
        let dir = try TempDir()
        var files = Self.cifar100Files()
        files["train.bin"] = Self.cifarRecords(40)  // 3073-byte records in a CIFAR-100 folder
        try Self.write(files, to: dir.file("cifar-100-binary"))
        let r = try decode(dir.file("cifar-100-binary"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("train.bin has 122920 bytes"))
        #expect(r.stderr.contains("expected a whole number of 3074-byte CIFAR-100 records"))
    }

    @Test func labelOutOfRange() throws {
        let r = try decodeCIFAR10 { $0["data_batch_2.bin"]![7 * 3073] = 10 }
        #expect(r.status == 65)
        #expect(r.stderr.contains("data_batch_2.bin record 7 (byte offset 21511): label 10 is out of range; expected 0…9"))
    }

    @Test func coarseLabelOutOfRange() throws {
        let dir = try TempDir()
        var files = Self.cifar100Files()
        files["test.bin"]![3 * 3074] = 20
        try Self.write(files, to: dir.file("cifar-100-binary"))
        let r = try decode(dir.file("cifar-100-binary"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("test.bin record 3 (byte offset 9222): coarse label 20 is out of range; expected 0…19"))
    }

    @Test func wrongNumberOfClassNames() throws {
        let r = try decodeCIFAR10 { $0["batches.meta.txt"] = Array("a\nb\n".utf8) }
        #expect(r.status == 65)
        #expect(r.stderr.contains("batches.meta.txt lists 2 class names; expected 10"))
    }

    // MARK: - Bad IDX files (65)

    @Test func wrongIDXMagic() throws {
        let r = try decodeIDX { $0["train-labels-idx1-ubyte"]![0] = 0x1f }
        #expect(r.status == 65)
        #expect(r.stderr.contains("wrong IDX magic in"))
        #expect(r.stderr.contains("train-labels-idx1-ubyte at byte 0: 1f 00 08 01; expected 00 00 08 01"))
    }

    @Test func wrongIDXDimensionCount() throws {
        let r = try decodeIDX { $0["t10k-images-idx3-ubyte"] = Self.idx([UInt8](repeating: 0, count: 7840), [10, 784]) }
        #expect(r.status == 65)
        #expect(r.stderr.contains("wrong IDX dimension count in"))
        #expect(r.stderr.contains("t10k-images-idx3-ubyte at byte 3: 2; expected 3"))
    }

    @Test func truncatedIDXFile() throws {
        let r = try decodeIDX { $0["train-images-idx3-ubyte"]!.removeLast(100) }
        #expect(r.status == 65)
        #expect(r.stderr.contains("truncated IDX file"))
        #expect(r.stderr.contains("has 23436 bytes; its header (30×28×28) needs exactly 23536"))
    }

    @Test func imageAndLabelCountsDiffer() throws {
        let r = try decodeIDX { $0["train-labels-idx1-ubyte"] = Self.idx([UInt8](repeating: 1, count: 29), [29]) }
        #expect(r.status == 65)
        #expect(r.stderr.contains("image and label counts differ"))
        #expect(r.stderr.contains("holds 30 images but"))
        #expect(r.stderr.contains("holds 29 labels; expected one label per image"))
    }

    @Test func idxLabelOutOfRange() throws {
        let r = try decodeIDX { $0["t10k-labels-idx1-ubyte"]![8 + 4] = 200 }
        #expect(r.status == 65)
        #expect(r.stderr.contains("t10k-labels-idx1-ubyte label 4 (byte offset 12) is 200, out of range; expected 0…9"))
    }

    // MARK: - Bad compressed input (65)

    @Test func corruptGzipStream() throws {
        let dir = try TempDir()
        try Self.write(Self.idxFiles(), to: dir.file("mnist"))
        try Self.tool(["gzip", "-r", dir.file("mnist")])
        let path = dir.file("mnist/train-images-idx3-ubyte.gz")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for i in stride(from: 40, to: bytes.count - 20, by: 37) { bytes[i] ^= 0x5a }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try decode(dir.file("mnist"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("corrupt gzip stream:"))
        #expect(r.stderr.contains("train-images-idx3-ubyte.gz at compressed byte offset"))
    }

    @Test func truncatedGzipStream() throws {
        let dir = try TempDir()
        try Self.write(Self.cifar10Files(), to: dir.file("cifar-10-batches-bin"))
        let archive = dir.file("cifar-10-binary.tar.gz")
        try Self.tool(["tar", "-czf", archive, "-C", dir.path, "cifar-10-batches-bin"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: archive))
        let r = try decode(archive, dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("truncated gzip stream: \(archive) ends at byte \(bytes.count / 2)"))
    }

    @Test func tarWithoutTheExpectedMembers() throws {
        let dir = try TempDir()
        var files = Self.cifar10Files()
        files["data_batch_5.bin"] = nil
        try Self.write(files, to: dir.file("cifar-10-batches-bin"))
        try Self.tool(["tar", "-czf", dir.file("c.tar.gz"), "-C", dir.path, "cifar-10-batches-bin"])
        let r = try decode(dir.file("c.tar.gz"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("c.tar.gz has no member data_batch_5.bin; expected a CIFAR-10 record file of the train split"))
    }

    @Test func tarOfSomethingElse() throws {
        let dir = try TempDir()
        try Self.write(["notes.txt": Array("hello".utf8)], to: dir.file("stuff"))
        try Self.tool(["tar", "-czf", dir.file("stuff.tar.gz"), "-C", dir.path, "stuff"])
        let r = try decode(dir.file("stuff.tar.gz"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("holds none of the expected members (it has: notes.txt)"))
    }

    @Test func notAnArchive() throws {
        let dir = try TempDir()
        try Self.write(["x.tar.gz": [UInt8](repeating: 65, count: 2000)], to: dir.path)
        let r = try decode(dir.file("x.tar.gz"), dir)
        #expect(r.status == 65)
        #expect(r.stderr.contains("bad tar header in \(dir.file("x.tar.gz")) at byte 0"))
    }

    // MARK: - Missing input (66), unwritable output (73), usage (64)

    @Test func missingInput() throws {
        let dir = try TempDir()
        let r = try decode(dir.file("nothing-here"), dir)
        #expect(r.status == 66)
        #expect(r.stderr.contains("input \(dir.file("nothing-here")) does not exist"))
    }

    @Test func missingFileInAFolder() throws {
        let r = try decodeCIFAR10 { $0["test_batch.bin"] = nil }
        #expect(r.status == 66)
        #expect(r.stderr.contains("missing input file"))
        #expect(r.stderr.contains("cifar-10-batches-bin/test_batch.bin; expected a CIFAR-10 record file of the test split"))
    }

    @Test func folderWithoutADataset() throws {
        let dir = try TempDir()
        try Self.write(["readme.txt": [1]], to: dir.file("empty"))
        let r = try decode(dir.file("empty"), dir)
        #expect(r.status == 66)
        #expect(r.stderr.contains("found no dataset in \(dir.file("empty"))"))
        #expect(r.stderr.contains("data_batch_1.bin"))
    }

    @Test func outputFolderMissing() throws {
        let dir = try TempDir()
        try Self.write(Self.idxFiles(), to: dir.file("mnist"))
        let out = dir.file("no-such-folder/out.h5")
        let r = try KDProcess.run(["decode", dir.file("mnist"), "--out", out])
        #expect(r.status == 73)
        #expect(r.stderr.contains("cannot create \(out): folder \(dir.file("no-such-folder")) does not exist"))
    }

    @Test func usageErrors() throws {
        for (extra, message) in [(["--pad=-1"], "--pad -1 is out of range"),
                                 (["--format", "jpeg"], "jpeg"),
                                 (["--classes", "mnist"], "--classes applies to IDX files only")] {
            let r = try decodeCIFAR10({ _ in }, extra)
            #expect(r.status == 64, "\(extra)")
            #expect(r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
    }

    // MARK: - Atomic output

    @Test func failedDecodeLeavesAnExistingStoreUntouched() throws {
        let dir = try TempDir()
        try Self.write(Self.cifar10Files(), to: dir.file("good"))
        var bad = Self.cifar10Files()
        bad["test_batch.bin"]![5 * 3073] = 99  // fails on the last file, after train was written
        try Self.write(bad, to: dir.file("bad"))
        let out = dir.file("store.h5")
        #expect(try KDProcess.run(["decode", dir.file("good"), "--out", out]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let r = try KDProcess.run(["decode", dir.file("bad"), "--out", out])
        #expect(r.status == 65)
        #expect(r.stderr.contains("test_batch.bin record 5"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }
}
