import HDF5
import KDCore
import Testing

/// Chunking and filters are stored as asked and reported back; groups nest.
@Suite struct LayoutTests {
    @Test func filtersAndChunksAreReported() throws {
        let dir = try TempFolder()
        let path = dir.file("f.h5")
        let n = 1000, d = 64
        // Smooth values so that shuffle+deflate has something to find.
        let features = (0..<(n * d)).map { Float($0 % d) * 0.5 + Float($0 / d) }
        let images = (0..<(n * 16)).map { UInt8($0 % 16 * 3) }
        do {
            let file = try H5File.create(path)
            try file.root.writeDataset("train/features", features, shape: [n, d], chunk: [128, d], deflate: 4, shuffle: true)
            try file.root.writeDataset("train/images", images, shape: [n, 1, 4, 4], chunk: [256, 1, 4, 4], deflate: 1)
            try file.root.writeDataset("train/plain", features, shape: [n, d])
            // Filters without a chunk shape get whole rows along the first axis.
            try file.root.writeDataset("train/auto", features, shape: [n, d], deflate: 9)
        }
        let group = try H5File.open(path).root.openGroup("train")

        let f = try group.openDataset("features")
        #expect(f.chunkShape == [128, d])
        #expect(f.deflateLevel == 4)
        #expect(f.hasShuffle)
        #expect(try f.read(as: Float.self) == features)
        #expect(f.storageBytes < f.rawBytes!)
        #expect(f.rawBytes == n * d * 4)

        let i = try group.openDataset("images")
        #expect(i.chunkShape == [256, 1, 4, 4])
        #expect(i.deflateLevel == 1)
        #expect(!i.hasShuffle)
        #expect(try i.read(as: UInt8.self) == images)

        // Without filters asked for, still chunked: every chunk carries a 4-byte checksum.
        let p = try group.openDataset("plain")
        #expect(p.chunkShape == [n, d])
        #expect(p.deflateLevel == nil)
        #expect(!p.hasShuffle)
        #expect(p.hasChecksum && f.hasChecksum && i.hasChecksum)
        #expect(p.storageBytes == n * d * 4 + 4)

        let a = try group.openDataset("auto")
        #expect(a.chunkShape == [n, d])  // 1000 rows of 256 bytes fit in 1 MiB
        #expect(a.deflateLevel == 9)
        #expect(try a.read(as: Float.self) == features)
    }

    @Test func chunksLargerThanTheShapeAreClamped() throws {
        let dir = try TempFolder()
        let file = try H5File.create(dir.file("g.h5"))
        let d = try file.root.writeDataset("labels", [UInt8](repeating: 3, count: 10), shape: [10], chunk: [4096], deflate: 4)
        #expect(d.chunkShape == [10])
        #expect(try d.read(as: UInt8.self) == [UInt8](repeating: 3, count: 10))
    }

    @Test func groupsNestAndList() throws {
        let dir = try TempFolder()
        let path = dir.file("n.h5")
        do {
            let file = try H5File.create(path)
            let deep = try file.root.createGroup("a/b/c")
            #expect(deep.path == "/a/b/c")
            try deep.writeDataset("x", [1.0, 2.0], shape: [2])
            let a = try file.root.openGroup("a")
            _ = try a.createGroup("z")
            try a.writeDataset("y", [Int64(5)], shape: [1])
        }
        let root = try H5File.open(path).root
        #expect(try root.memberNames() == ["a"])
        let a = try root.openGroup("a")
        #expect(a.path == "/a")
        #expect(try a.memberNames() == ["b", "y", "z"])
        #expect(try root.contains("a/b/c/x"))
        #expect(try !root.contains("a/q/c"))
        #expect(try !root.contains("a/y/oops"))  // a dataset has no members
        #expect(try !root.contains(""))
        #expect(try root.isGroup("a/b"))
        #expect(try !root.isGroup("a/y"))
        #expect(try !root.isGroup("missing"))
        #expect(try root.isDataset("a/y"))
        let x = try root.openGroup("a/b").openDataset("c/x")
        #expect(x.path == "/a/b/c/x")
        #expect(try x.read(as: Double.self) == [1.0, 2.0])
        // Absolute names start from the root, whichever group they are given to.
        #expect(try a.openDataset("/a/b/c/x").path == "/a/b/c/x")
    }
}
