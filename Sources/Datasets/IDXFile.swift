import KDCore

/// An IDX file (the MNIST / Fashion-MNIST format) parsed in place: a big-endian header
/// `00 00 <type> <dims>`, one 32-bit big-endian size per dimension, then the values row-major.
/// Only unsigned bytes (type 0x08) are accepted, which is what image and label files hold.
/// Cost: the header is parsed; the values stay in `bytes` (no copy).
public struct IDXFile {
    public let name: String
    public let dimensions: [Int]
    /// The whole file; values start at `valuesOffset`.
    public let bytes: [UInt8]
    public let valuesOffset: Int

    public var count: Int { dimensions.first ?? 0 }

    /// Parses the header of `bytes` (the decompressed file) and checks that the file holds
    /// exactly `expectedDimensions` dimensions and exactly the values they describe.
    public init(name: String, bytes: [UInt8], expectedDimensions: Int, what: String) throws {
        self.name = name
        self.bytes = bytes
        guard bytes.count >= 4 else {
            throw StageError.badData("truncated IDX file: \(name) has \(bytes.count) bytes; expected a 4-byte magic number and a header")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            let magic = bytes[0..<4].map(hex).joined(separator: " ")
            throw StageError.badData(
                "wrong IDX magic in \(name) at byte 0: \(magic); expected 00 00 08 0\(expectedDimensions) "
                + "(an IDX file of unsigned bytes with \(expectedDimensions) dimension\(expectedDimensions == 1 ? "" : "s"))")
        }
        guard bytes[2] == 0x08 else {
            throw StageError.badData(
                "unsupported IDX value type in \(name) at byte 2: 0x\(hex(bytes[2])); expected 0x08 (unsigned byte)")
        }
        let rank = Int(bytes[3])
        guard rank == expectedDimensions else {
            throw StageError.badData(
                "wrong IDX dimension count in \(name) at byte 3: \(rank); expected \(expectedDimensions) for \(what)")
        }
        valuesOffset = 4 + 4 * rank
        guard bytes.count >= valuesOffset else {
            throw StageError.badData(
                "truncated IDX file: \(name) has \(bytes.count) bytes; its header needs \(valuesOffset)")
        }
        dimensions = (0..<rank).map { d in
            bytes[(4 + 4 * d)..<(8 + 4 * d)].reduce(0) { $0 << 8 | Int($1) }
        }
        // Each size is below 2³², but their product can overflow: such a header cannot fit any file.
        let values = dimensions.reduce((1, false)) { product, d in
            product.1 ? product : product.0.multipliedReportingOverflow(by: d)
        }
        guard !values.1, values.0 <= Int.max - valuesOffset else {
            throw StageError.badData("IDX file \(name): its header asks for \(dimensions.map(String.init).joined(separator: "×")) "
                                     + "values, more than any file holds; the file is corrupt")
        }
        let expectedSize = valuesOffset + values.0
        guard bytes.count == expectedSize else {
            let shape = dimensions.map(String.init).joined(separator: "×")
            let problem = bytes.count < expectedSize ? "truncated" : "over-long"
            throw StageError.badData(
                "\(problem) IDX file: \(name) has \(bytes.count) bytes; its header (\(shape)) needs exactly "
                + "\(expectedSize) (\(valuesOffset) header + \(expectedSize - valuesOffset) values)")
        }
    }
}

/// A byte as two hex digits.
private func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}
