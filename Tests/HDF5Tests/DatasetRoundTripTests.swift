import HDF5
import KDCore
import Testing

/// Values written through the module come back equal: every element type, 1-D to 4-D,
/// whole and by hyperslab, contiguous and chunked.
@Suite struct DatasetRoundTripTests {
    /// A deterministic pattern of `count` values of each element type (negative ones where signed).
    static func pattern<T: H5Scalar>(_: T.Type, _ count: Int) -> [T] {
        (0..<count).map { i -> T in
            switch T.h5ElementType {
            case .uint8: UInt8(truncatingIfNeeded: i * 37 + 11) as! T
            case .int32: Int32(i * 7919 - 50_000) as! T
            case .int64: (Int64(i) * 3_000_000_007 - 1) as! T
            case .float32: (Float(i) * 0.37 - 12.5) as! T
            default: (Double(i) * 1e-3 - 7.25) as! T
            }
        }
    }

    static let shapes: [[Int]] = [[7], [3, 5], [2, 3, 4], [3, 1, 4, 5]]

    func roundTrip<T: H5Scalar & Equatable>(_ type: T.Type) throws {
        let dir = try TempFolder()
        let path = dir.file("t.h5")
        do {
            let file = try H5File.create(path)
            for (i, shape) in Self.shapes.enumerated() {
                let values = Self.pattern(T.self, shape.reduce(1, *))
                try file.root.writeDataset("plain\(i)", values, shape: shape)
                try file.root.writeDataset("chunked\(i)", values, shape: shape, chunk: shape.map { max(1, $0 / 2) }, deflate: 4, shuffle: true)
            }
            try file.close()
        }
        let file = try H5File.open(path)
        for (i, shape) in Self.shapes.enumerated() {
            let values = Self.pattern(T.self, shape.reduce(1, *))
            for name in ["plain\(i)", "chunked\(i)"] {
                let dataset = try file.root.openDataset(name)
                #expect(dataset.shape == shape)
                #expect(dataset.elementType == T.h5ElementType)
                #expect(try dataset.read(as: T.self) == values)
            }
        }
    }

    @Test func uint8RoundTrips() throws { try roundTrip(UInt8.self) }
    @Test func int32RoundTrips() throws { try roundTrip(Int32.self) }
    @Test func int64RoundTrips() throws { try roundTrip(Int64.self) }
    @Test func float32RoundTrips() throws { try roundTrip(Float.self) }
    @Test func float64RoundTrips() throws { try roundTrip(Double.self) }

    /// The row-major index of `index` in `shape`.
    static func offset(_ index: [Int], _ shape: [Int]) -> Int {
        zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
    }

    /// Every element of the box `start ..< start + count`, in row-major order.
    static func box(_ values: [Float], shape: [Int], start: [Int], count: [Int]) -> [Float] {
        var result: [Float] = []
        var index = start
        let n = count.reduce(1, *)
        for _ in 0..<n {
            result.append(values[offset(index, shape)])
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < start[axis] + count[axis] { break }
                index[axis] = start[axis]
                axis -= 1
            }
        }
        return result
    }

    @Test func hyperslabReadsReturnTheBox() throws {
        let dir = try TempFolder()
        let file = try H5File.create(dir.file("slab.h5"))
        let shape = [5, 2, 3, 4]
        let values = Self.pattern(Float.self, shape.reduce(1, *))
        let dataset = try file.root.writeDataset("x", values, shape: shape, chunk: [2, 2, 3, 4], deflate: 1)
        let start = [1, 1, 0, 2], count = [3, 1, 2, 2]
        let expected = Self.box(values, shape: shape, start: start, count: count)
        #expect(try dataset.read(as: Float.self, start: start, count: count) == expected)

        // Into caller-owned memory, no allocation by the module.
        var buffer = [Float](repeating: -1, count: expected.count)
        try buffer.withUnsafeMutableBufferPointer { try dataset.read(into: $0, start: start, count: count) }
        #expect(buffer == expected)
    }

    @Test func hyperslabWritesFillOnlyTheBox() throws {
        let dir = try TempFolder()
        let path = dir.file("slabw.h5")
        let shape = [6, 4]
        do {
            let file = try H5File.create(path)
            let dataset = try file.root.createDataset("y", of: Int32.self, shape: shape, chunk: [4, 4], deflate: 6)
            // Rows written in two blocks, the second from a caller-owned buffer.
            try dataset.write(Self.pattern(Int32.self, 12), start: [0, 0], count: [3, 4])
            let rows3and4 = Array(Self.pattern(Int32.self, 24)[12..<20])
            try rows3and4.withUnsafeBufferPointer { try dataset.write(from: $0, start: [3, 0], count: [2, 4]) }
            try dataset.write([Int32](repeating: 9, count: 2), start: [5, 1], count: [1, 2])
            try file.flush()
        }
        let read = try H5File.open(path).root.openDataset("y").read(as: Int32.self)
        let full = Self.pattern(Int32.self, 24)
        #expect(Array(read[0..<20]) == Array(full[0..<20]))
        #expect(Array(read[20..<24]) == [0, 9, 9, 0])  // never-written elements read as the fill value 0
    }

    @Test func emptyDatasetsRoundTrip() throws {
        let dir = try TempFolder()
        let file = try H5File.create(dir.file("empty.h5"))
        let dataset = try file.root.writeDataset("none", [UInt8](), shape: [0, 1, 4, 4], chunk: [64, 1, 4, 4], deflate: 4)
        #expect(dataset.shape == [0, 1, 4, 4])
        #expect(try dataset.read(as: UInt8.self).isEmpty)
    }
}
