import Foundation
import HDF5
import Testing

/// `kd decode --limit-train N --limit-test N`: a small store of the first images of each split,
/// identical to the start of the full store.
@Suite struct DecodeLimitTests {
    @Test func keepsTheFirstImagesOfEachSplit() throws {
        let dir = try TempDir()
        try DecodeTests.write(DecodeTests.idxFiles(), to: dir.file("mnist"))   // 30 training and 10 test images
        let full = dir.file("full.h5"), small = dir.file("small.h5")
        #expect(try KDProcess.run(["decode", dir.file("mnist"), "--pad", "2", "--out", full]).status == 0)
        let r = try KDProcess.run(["decode", dir.file("mnist"), "--pad", "2", "--limit-train", "12", "--limit-test", "20",
                                   "--out", small])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("train: 12 images of 1×32×32"))
        #expect(r.stdout.contains("test: 10 images"), "a limit above the split's size keeps it whole")

        let (a, b) = (try H5File.open(full), try H5File.open(small))
        let fullImages = try a.root.openDataset("train/images").read(as: UInt8.self)
        let smallImages = try b.root.openDataset("train/images")
        #expect(smallImages.shape == [12, 1, 32, 32])
        #expect(try smallImages.read(as: UInt8.self) == Array(fullImages.prefix(12 * 32 * 32)))
        #expect(try b.root.openDataset("train/labels").read(as: UInt8.self)
                == Array(try a.root.openDataset("train/labels").read(as: UInt8.self).prefix(12)))
        #expect(try b.root.openDataset("test/images").read(as: UInt8.self)
                == (try a.root.openDataset("test/images").read(as: UInt8.self)))
    }

    @Test func cifarRecordsPastTheLimitAreSkipped() throws {
        let dir = try TempDir()
        try DecodeTests.write(DecodeTests.cifar10Files(), to: dir.file("cifar-10-batches-bin"))
        let r = try KDProcess.run(["decode", dir.file("cifar-10-batches-bin"), "--limit-train", "3", "--out", dir.file("s.h5")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try KDProcess.run(["decode", dir.file("cifar-10-batches-bin"), "--out", dir.file("full.h5")]).status == 0)
        let (small, full) = (try H5File.open(dir.file("s.h5")), try H5File.open(dir.file("full.h5")))
        #expect(try small.root.openDataset("train/labels").shape == [3])
        #expect(try small.root.openDataset("train/images").read(as: UInt8.self)
                == Array(try full.root.openDataset("train/images").read(as: UInt8.self).prefix(3 * 3 * 32 * 32)))
    }

    @Test func limitBelowOneIsAUsageError() throws {
        let dir = try TempDir()
        try DecodeTests.write(DecodeTests.idxFiles(), to: dir.file("mnist"))
        let r = try KDProcess.run(["decode", dir.file("mnist"), "--limit-test", "0", "--out", dir.file("s.h5")])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--limit-test 0 is out of range; expected at least 1 image"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("s.h5")))
    }
}
