import Foundation
import KDCore
import NeuralNet
import Testing

/// The safetensors codec by itself: what `save` writes `SafeTensors` reads back as it was, and
/// the narrower and wider float types become the float32 values they stand for.
@Suite struct SafeTensorsTests {
    let folder: ModelFileTests.Folder

    init() throws { folder = try ModelFileTests.Folder() }

    @Test func savedTensorsReadBack() throws {
        let path = folder.file("t.safetensors")
        let weight = Tensor(shape: [2, 3], data: [1.5, -2, 0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0])
        let scalar = Tensor(shape: [], data: [42])
        try SafeTensors.save([("w", .float32(weight)), ("s", .float32(scalar)), ("n", .int64(shape: [], values: [7]))],
                             metadata: ["format": "pt", "path": "a/b"], to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path))
        let length = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(length % 8 == 0, "the header is padded so the data starts aligned")
        let file = try SafeTensors(path: path)
        #expect(file.metadata == ["format": "pt", "path": "a/b"])
        #expect(file.entries.map(\.name) == ["w", "s", "n"], "in the order of the buffer")
        let w = try #require(file.entry("w"))
        #expect(w.dtype == "F32" && w.shape == [2, 3])
        #expect(try file.floats(w).map(\.bitPattern) == weight.data.map(\.bitPattern))
        #expect(try file.floats(#require(file.entry("s"))) == [42])
        let n = try #require(file.entry("n"))
        #expect(n.dtype == "I64" && n.shape == [] && n.bytes.count == 8)
        #expect(throws: StageError.self) { try file.floats(n) }
    }

    @Test func halfBFloatAndDoubleBecomeFloat() throws {
        // Half: 1, −2, the smallest subnormal 2⁻²⁴, the largest 65504, 1/3 rounded (0x3555).
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF, 0x3555]
        let bfloat: [UInt16] = [0x3F80, 0xC040, 0x0001]   // 1, −3, the smallest subnormal 2⁻¹³³
        let double: [Double] = [0.1, -1e-3, 3]
        func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
        let data = le(half) + le(bfloat) + le(double.map(\.bitPattern))
        let header = """
            {"h": {"dtype": "F16", "shape": [5], "data_offsets": [0, 10]},
             "b": {"dtype": "BF16", "shape": [3], "data_offsets": [10, 16]},
             "d": {"dtype": "F64", "shape": [3], "data_offsets": [16, 40]}}
            """
        let path = folder.file("types.safetensors")
        try Data(le([UInt64(header.utf8.count)]) + Array(header.utf8) + data).write(to: URL(fileURLWithPath: path))
        let file = try SafeTensors(path: path)
        #expect(try file.floats(#require(file.entry("h"))) == [1, -2, 0x1p-24, 65504, 0.333251953125])
        #expect(try file.floats(#require(file.entry("b"))) == [1, -3, 0x1p-133])
        #expect(try file.floats(#require(file.entry("d"))) == double.map { Float($0) })
    }
}
