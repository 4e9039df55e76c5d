#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import KDCore

/// Named tensors in the safetensors format, the file PyTorch users exchange `state_dict`s in
/// (`safetensors.torch.save_file`, `load_file`):
///
///     bytes 0–7      N, the header's length, unsigned 64-bit little-endian
///     bytes 8…8+N    the header, JSON: {"<name>": {"dtype": "F32", "shape": [16, 3, 3, 3],
///                    "data_offsets": [begin, end]}, …, "__metadata__": {"<key>": "<text>"}}
///     then           the byte buffer; offsets count from its start, every tensor row-major
///                    and little-endian
///
/// Reading (`SafeTensors(path:)`) checks the whole header before any tensor is used: its
/// length against the file's, the JSON, each entry's dtype, shape and offsets (inside the
/// buffer, as long as the shape says). Every problem is `StageError` 65 naming the file, the
/// tensor and what was expected; nothing from the file reaches a trap. Floats are read as F32,
/// F16, BF16 or F64 and returned as Float; other dtypes are known (their sizes are checked)
/// but not read as floats. Writing (`save`) takes F32 and I64 tensors, as PyTorch stores a
/// BatchNorm's statistics and its `num_batches_tracked`.
///
/// Cost: opening reads the header (at most 100 MB, the format's own limit); `floats` reads one
/// tensor's bytes; `save` writes each tensor once, after a header of a few bytes per tensor.
public struct SafeTensors {
    /// One tensor as the header describes it.
    public struct Entry: Sendable {
        public var name: String
        /// The format's type name: "F32", "F16", "BF16", "F64", "I64", …
        public var dtype: String
        /// [] for a scalar.
        public var shape: [Int]
        /// Bytes of the buffer the tensor occupies.
        public var bytes: Range<Int>
    }

    /// A tensor to write.
    public enum Value {
        case float32(Tensor)
        case int64(shape: [Int], values: [Int64])
    }

    /// Bytes per element of every dtype the format defines.
    static let elementSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
        "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
        "U32": 4, "I32": 4, "F32": 4,
        "U64": 8, "I64": 8, "F64": 8,
    ]
    /// The dtypes `floats` reads.
    public static let floatTypes: Set<String> = ["F32", "F16", "BF16", "F64"]
    /// The largest header the format allows (the reference implementation's limit).
    static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Every tensor, in the order of their offsets in the buffer.
    public let entries: [Entry]
    /// The header's `__metadata__` (string to string), empty when there is none.
    public let metadata: [String: String]
    private let bufferStart: Int

    /// Opens `path` and checks its header. Throws 66 when the file is missing or unreadable,
    /// 65 when it is not a well-formed safetensors file, 74 when reading fails.
    public init(path: String) throws {
        self.path = path
        let file = try Self.openForReading(path)
        defer { close(file.descriptor) }
        guard file.size >= 8 else {
            throw StageError.badData("\(path) is \(file.size) bytes long, too short for a safetensors file "
                                     + "(it starts with an 8-byte header length)")
        }
        let lengthBytes = try Self.read(file.descriptor, 0 ..< 8, of: path)
        let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(Self.maxHeaderBytes) else {
            throw StageError.badData("\(path): header length \(length) bytes (bytes 0–7) is absurd; the format "
                                     + "allows at most \(Self.maxHeaderBytes) — not a safetensors file")
        }
        let headerBytes = Int(length)
        guard headerBytes >= 2, 8 + headerBytes <= file.size else {
            throw StageError.badData("\(path): header length \(headerBytes) bytes (bytes 0–7) does not fit a file of "
                                     + "\(file.size) bytes; expected at least 2 and at most \(file.size - 8) — "
                                     + "truncated, or not a safetensors file")
        }
        bufferStart = 8 + headerBytes
        let header = try Self.read(file.descriptor, 8 ..< bufferStart, of: path)
        (entries, metadata) = try Self.parse(header, bufferSize: file.size - bufferStart, path: path)
    }

    /// The entry named `name`, if the file has it.
    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The values of a float tensor (F32, F16, BF16 or F64) as Float; 65 for another dtype.
    public func floats(_ entry: Entry) throws -> [Float] {
        guard Self.floatTypes.contains(entry.dtype) else {
            throw StageError.badData("\(path): tensor \(entry.name) is \(entry.dtype); expected a float tensor "
                                     + "(F32, or F16, BF16, F64, which are converted to float32)")
        }
        let file = try Self.openForReading(path)
        defer { close(file.descriptor) }
        let start = bufferStart + entry.bytes.lowerBound
        let raw = try Self.read(file.descriptor, start ..< start + entry.bytes.count, of: path)
        return raw.withUnsafeBytes { bytes in
            switch entry.dtype {
            case "F16": Self.elements(bytes, as: UInt16.self).map(Self.float(half:))
            case "BF16": Self.elements(bytes, as: UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
            case "F64": Self.elements(bytes, as: UInt64.self).map { Float(Double(bitPattern: $0)) }
            default: Self.elements(bytes, as: UInt32.self).map(Float.init(bitPattern:))
            }
        }
    }

    // MARK: - Writing

    /// Writes `tensors` (in this order in the buffer) and `metadata` to `path`, replacing any
    /// file there. The header is padded with spaces to a multiple of 8 bytes, as PyTorch's
    /// writer does, so every tensor starts aligned. Throws 73 when the file cannot be made, 74
    /// when a write fails.
    public static func save(_ tensors: [(name: String, value: Value)], metadata: [String: String],
                            to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, value) in tensors {
            let (dtype, shape, size) = switch value {
            case .float32(let t): ("F32", t.shape, 4 * t.count)
            case .int64(let shape, let values): ("I64", shape, 8 * values.count)
            }
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))

        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StageError.cantCreate("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        var closed = false
        defer { if !closed { close(fd) } }
        try writeAll(fd, withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init), to: path)
        try writeAll(fd, Array(json), to: path)
        for (_, value) in tensors {
            switch value {
            case .float32(let t): try writeAll(fd, t.data.map { $0.bitPattern.littleEndian }, to: path)
            case .int64(_, let values): try writeAll(fd, values.map(\.littleEndian), to: path)
            }
        }
        closed = true
        guard fsync(fd) == 0, close(fd) == 0 else {
            throw StageError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - The header

    /// The entries (by offset) and metadata of a header, every field checked.
    private static func parse(_ header: [UInt8], bufferSize: Int, path: String) throws
        -> (entries: [Entry], metadata: [String: String]) {
        func bad(_ problem: String) -> StageError { StageError.badData("\(path): \(problem)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(header)),
              let fields = object as? [String: Any] else {
            throw bad("the header (bytes 8–\(8 + header.count - 1)) is not a JSON object; "
                      + "expected {\"<tensor>\": {\"dtype\", \"shape\", \"data_offsets\"}, …}")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard let pairs = field as? [String: Any] else { throw bad("__metadata__ is not a JSON object") }
                for (key, value) in pairs {
                    guard let text = value as? String else { throw bad("__metadata__ entry \(key) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let description = field as? [String: Any] else {
                throw bad("tensor \(name): expected {\"dtype\", \"shape\", \"data_offsets\"}, got \(field)")
            }
            guard let dtype = description["dtype"] as? String, let elementSize = elementSizes[dtype] else {
                throw bad("tensor \(name): dtype \(description["dtype"] ?? "missing") is not one the format "
                          + "defines (\(elementSizes.keys.sorted().joined(separator: ", ")))")
            }
            guard let shape = description["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("tensor \(name): shape \(description["shape"] ?? "missing") is not a list of sizes ≥ 0")
            }
            guard let offsets = description["data_offsets"] as? [Int], offsets.count == 2,
                  0 <= offsets[0], offsets[0] <= offsets[1] else {
                throw bad("tensor \(name): data_offsets \(description["data_offsets"] ?? "missing") "
                          + "is not [begin, end] with 0 ≤ begin ≤ end")
            }
            guard offsets[1] <= bufferSize else {
                throw bad("tensor \(name): data_offsets \(offsets) reach past the end of the data "
                          + "(\(bufferSize) bytes after the header) — the file is truncated or the offsets are wrong")
            }
            var size = elementSize
            for extent in shape {
                let (product, overflow) = size.multipliedReportingOverflow(by: extent)
                guard !overflow, product <= bufferSize else {
                    throw bad("tensor \(name): shape \(shape) of \(dtype) is larger than the file's data "
                              + "(\(bufferSize) bytes)")
                }
                size = product
            }
            guard offsets[1] - offsets[0] == size else {
                throw bad("tensor \(name): data_offsets \(offsets) hold \(offsets[1] - offsets[0]) bytes, but "
                          + "shape \(shape) of \(dtype) needs \(size)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: offsets[0] ..< offsets[1]))
        }
        return (entries.sorted { ($0.bytes.lowerBound, $0.name) < ($1.bytes.lowerBound, $1.name) }, metadata)
    }

    // MARK: - Bytes

    /// IEEE half precision to single (exact: every half is a float).
    static func float(half bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 == 0 ? 1 : -1
        let exponent = Int(bits >> 10 & 0x1f), mantissa = UInt32(bits & 0x3ff)
        switch exponent {
        case 0: return sign * Float(mantissa) * 0x1p-24                  // zero and subnormals
        case 31: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * Float(bitPattern: UInt32(exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// Little-endian elements of `T` from unaligned bytes.
    private static func elements<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, as: T.Type) -> [T] {
        (0 ..< bytes.count / MemoryLayout<T>.size).map {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))
        }
    }

    private static func openForReading(_ path: String) throws -> (descriptor: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StageError.noInput("cannot read \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw StageError.noInput("cannot read \(path): not a regular file")
        }
        return (fd, Int(info.st_size))
    }

    /// The bytes at `range` of the file; 74 when reading fails, 65 when the file ends first
    /// (it shrank since it was opened).
    private static func read(_ fd: Int32, _ range: Range<Int>, of path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: range.count)
        try bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(range.lowerBound + done))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw StageError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
                guard n > 0 else {
                    throw StageError.badData("\(path) ends at byte \(range.lowerBound + done), before byte \(range.upperBound)")
                }
                done += n
            }
        }
        return bytes
    }

    private static func writeAll<T>(_ fd: Int32, _ values: [T], to path: String) throws {
        try values.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress.map { $0 + done }, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw StageError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
    }
}
