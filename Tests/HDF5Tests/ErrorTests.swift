import Foundation
import HDF5
import KDCore
import Testing

/// Every failure is a StageError that names the file and object, with its sysexits code.
@Suite struct ErrorTests {
    @Test func missingFileIsNoInput() throws {
        let dir = try TempFolder()
        let path = dir.file("absent.h5")
        let error = #expect(throws: StageError.self) { try H5File.open(path) }
        #expect(error?.code == .noInput)
        #expect(error?.message == "\(path): no such file")
    }

    @Test func nonHDF5FileIsBadData() throws {
        let dir = try TempFolder()
        let path = dir.file("text.h5")
        try "just text, not HDF5\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: StageError.self) { try H5File.open(path) }
        #expect(error?.code == .dataErr)
        #expect(error?.message == "\(path) is not an HDF5 file")
    }

    /// A chunk never written would read as zeros; kd refuses the read instead, and reads the
    /// chunks that were written (a partial file being resumed).
    @Test func unwrittenChunksAreRefused() throws {
        let dir = try TempFolder()
        let path = dir.file("partial.h5")
        do {
            let file = try H5File.create(path)
            let d = try file.root.createDataset("x", of: Float.self, shape: [300, 4], chunk: [100, 4])
            try d.write([Float](repeating: 1, count: 400), start: [100, 0], count: [100, 4])
            try file.close()
        }
        let d = try H5File.open(path).root.openDataset("x")
        #expect(try d.read(as: Float.self, start: [100, 0], count: [100, 4]) == [Float](repeating: 1, count: 400))
        for (start, rows) in [(0, 300), (150, 100), (250, 10)] {
            let error = #expect(throws: StageError.self) { try d.read(as: Float.self, start: [start, 0], count: [rows, 4]) }
            #expect(error?.code == .dataErr)
            #expect(error?.message.contains("\(path): /x: the chunk at ") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("was never written") == true)
        }
    }

    /// A byte of stored data changed after writing fails its chunk's checksum: 65, "damaged".
    @Test func aDamagedChunkIsRefused() throws {
        let dir = try TempFolder()
        let path = dir.file("damaged.h5")
        let values = (0..<1000).map { Float($0) }
        do {
            let file = try H5File.create(path)
            try file.root.writeDataset("x", values, shape: [1000])
            try file.close()
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let stored = values.withUnsafeBytes { Array($0) }
        let at = try #require((0...(bytes.count - stored.count)).first { bytes[$0..<($0 + stored.count)].elementsEqual(stored) })
        bytes[at + 2000] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StageError.self) { try H5File.open(path).root.openDataset("x").read(as: Float.self) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("the file is damaged or cut short") == true, "\(error?.message ?? "")")
    }

    @Test func uncreatableFileIsCantCreate() throws {
        let dir = try TempFolder()
        let path = dir.file("no-such-folder/out.h5")
        let error = #expect(throws: StageError.self) { try H5File.create(path) }
        #expect(error?.code == .cantCreate)
        #expect(error?.message.hasPrefix("\(path): cannot create HDF5 file") == true)
    }

    @Test func missingDatasetAndGroupNameThePath() throws {
        let dir = try TempFolder()
        let path = dir.file("m.h5")
        let file = try H5File.create(path)
        let train = try file.root.createGroup("train")
        let dataset = #expect(throws: StageError.self) { try train.openDataset("images") }
        #expect(dataset?.code == .dataErr)
        #expect(dataset?.message == "\(path) has no dataset /train/images")
        let group = #expect(throws: StageError.self) { try file.root.openGroup("test") }
        #expect(group?.code == .dataErr)
        #expect(group?.message == "\(path) has no group /test")
        let notGroup = #expect(throws: StageError.self) { try file.root.openDataset("train") }
        #expect(notGroup?.message == "\(path): /train is not a dataset")
    }

    @Test func readingAsAnotherTypeNamesBoth() throws {
        let dir = try TempFolder()
        let path = dir.file("t.h5")
        let file = try H5File.create(path)
        let labels = try file.root.writeDataset("train/labels", [UInt8](repeating: 2, count: 4), shape: [4])
        let error = #expect(throws: StageError.self) { try labels.read(as: Float.self) }
        #expect(error?.code == .dataErr)
        #expect(error?.message == "\(path): /train/labels: holds uint8, cannot be read as float32")
        let write = #expect(throws: StageError.self) { try labels.write([Int32](repeating: 0, count: 4)) }
        #expect(write?.message == "\(path): /train/labels: holds uint8, cannot be written as int32")
    }

    @Test func boxesOutsideTheShapeAreRefused() throws {
        let dir = try TempFolder()
        let path = dir.file("b.h5")
        let file = try H5File.create(path)
        let d = try file.root.writeDataset("x", [Float](repeating: 1, count: 12), shape: [3, 4])
        let error = #expect(throws: StageError.self) { try d.read(as: Float.self, start: [2, 0], count: [2, 4]) }
        #expect(error?.code == .dataErr)
        #expect(error?.message == "\(path): /x: box start [2, 0] count [2, 4] lies outside shape [3, 4]")
    }

    @Test func creatingAnExistingNameIsRefused() throws {
        let dir = try TempFolder()
        let path = dir.file("e.h5")
        let file = try H5File.create(path)
        try file.root.writeDataset("x", [UInt8(1)], shape: [1])
        let error = #expect(throws: StageError.self) { try file.root.createDataset("x", of: UInt8.self, shape: [1]) }
        #expect(error?.code == .cantCreate)
        #expect(error?.message.hasPrefix("\(path): /x: cannot create dataset: the name exists already") == true)
        _ = try file.root.createGroup("g/h")
        let group = #expect(throws: StageError.self) { try file.root.openGroup("g").createGroup("h") }
        #expect(group?.code == .cantCreate)
        #expect(group?.message.hasPrefix("\(path): /g/h: cannot create group: the name exists already (HDF5: ") == true)
    }

    @Test func readOnlyFilesRefuseWritesAsIOError() throws {
        let dir = try TempFolder()
        let path = dir.file("r.h5")
        do { try H5File.create(path).root.writeDataset("x", [UInt8(1)], shape: [1]) }
        let file = try H5File.open(path)
        let error = #expect(throws: StageError.self) { try file.root.openDataset("x").write([UInt8(2)]) }
        #expect(error?.code == .ioErr)
        #expect(error?.message.hasPrefix("\(path): /x: I/O failed") == true)
        let attribute = #expect(throws: StageError.self) { try file.setAttribute("k", 1) }
        #expect(attribute?.code == .ioErr)
        #expect(attribute?.message.hasPrefix("\(path): /: cannot create attribute k") == true)
    }
}
