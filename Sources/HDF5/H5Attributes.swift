import CHDF5
import Foundation
import KDCore

/// One attribute's value, as read from a file: what `kd inspect` prints and what the typed
/// getters below convert from. Integers of any width read as `Int`, floats as `Double`;
/// `unsupported` names the HDF5 type class of anything else (compound, enum, ...).
public enum H5AttributeValue: Equatable, Sendable {
    case string(String)
    case strings([String])
    case int(Int)
    case ints([Int])
    case double(Double)
    case doubles([Double])
    case unsupported(String)
}

/// Something that carries attributes: a file (attributes of its root group "/"), a group or a
/// dataset. Every method has a default implementation that opens the object by path, so a
/// conformer supplies only `file` and `objectPath`. Setting an attribute that exists replaces
/// it. Strings are stored as fixed-length UTF-8 (h5dump shows them as text, h5py as bytes); numbers
/// as int64 or float64; arrays as one-dimensional. Cost: a few small metadata operations.
public protocol H5AttributeHolder {
    var file: H5File { get }
    /// The absolute path of the object inside the file ("/" for the file itself).
    var objectPath: String { get }

    func setAttribute(_ name: String, _ value: String) throws
    func setAttribute(_ name: String, _ value: [String]) throws
    func setAttribute(_ name: String, _ value: Int) throws
    func setAttribute(_ name: String, _ value: Double) throws
    func setAttribute(_ name: String, _ value: [Int]) throws
    func setAttribute(_ name: String, _ value: [Double]) throws

    /// Each getter returns nil when the attribute is absent and throws `.badData` (65) when it
    /// holds another kind of value. A single value reads as a one-element array and back.
    func stringAttribute(_ name: String) throws -> String?
    func stringArrayAttribute(_ name: String) throws -> [String]?
    func intAttribute(_ name: String) throws -> Int?
    func doubleAttribute(_ name: String) throws -> Double?
    func intArrayAttribute(_ name: String) throws -> [Int]?
    func doubleArrayAttribute(_ name: String) throws -> [Double]?

    /// Any attribute, whatever it holds; nil when absent.
    func attribute(_ name: String) throws -> H5AttributeValue?
    /// The attribute names, sorted.
    func attributeNames() throws -> [String]
}

// MARK: - Writing

extension H5AttributeHolder {
    public func setAttribute(_ name: String, _ value: String) throws {
        try writeStrings(name, [value], scalar: true)
    }

    public func setAttribute(_ name: String, _ value: [String]) throws {
        try writeStrings(name, value, scalar: false)
    }

    public func setAttribute(_ name: String, _ value: Int) throws {
        var v = Int64(value)
        try writeAttribute(name, type: kd_H5T_NATIVE_INT64(), count: nil, data: &v)
    }

    public func setAttribute(_ name: String, _ value: Double) throws {
        var v = value
        try writeAttribute(name, type: kd_H5T_NATIVE_DOUBLE(), count: nil, data: &v)
    }

    public func setAttribute(_ name: String, _ value: [Int]) throws {
        try value.map { Int64($0) }.withUnsafeBufferPointer {
            try writeAttribute(name, type: kd_H5T_NATIVE_INT64(), count: $0.count, data: $0.baseAddress)
        }
    }

    public func setAttribute(_ name: String, _ value: [Double]) throws {
        try value.withUnsafeBufferPointer {
            try writeAttribute(name, type: kd_H5T_NATIVE_DOUBLE(), count: $0.count, data: $0.baseAddress)
        }
    }

    /// Strings are written fixed-length (NUL-padded to the longest), so that they live in the
    /// attribute's own, checksummed object header. Variable-length strings would live in HDF5's
    /// global heap, which has no checksum: there one damaged byte makes libhdf5 1.10 loop
    /// forever in `H5HG_read`. Files with variable-length strings still read.
    private func writeStrings(_ name: String, _ values: [String], scalar: Bool) throws {
        let encoded = values.map { Array($0.utf8) }
        let width = Swift.max(1, encoded.map(\.count).max() ?? 0)
        let type = try h5Check(H5Tcopy(kd_H5T_C_S1()), .ioErr, file: file.path, path: objectPath, "cannot make string type")
        defer { H5Tclose(type) }
        H5Tset_size(type, width)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        H5Tset_cset(type, H5T_CSET_UTF8)
        var bytes = [UInt8](repeating: 0, count: width * encoded.count)
        for (i, string) in encoded.enumerated() { bytes.replaceSubrange((i * width)..<(i * width + string.count), with: string) }
        try bytes.withUnsafeBufferPointer {
            try writeAttribute(name, type: type, count: scalar ? nil : encoded.count, data: $0.baseAddress)
        }
    }

    /// Writes an attribute of `count` elements (nil: a scalar), replacing any of that name.
    private func writeAttribute(_ name: String, type: hid_t, count: Int?, data: UnsafeRawPointer?) throws {
        let where_ = "attribute \(name)"
        let space: hid_t
        switch count {
        case nil: space = H5Screate(H5S_SCALAR)
        case 0?: space = H5Screate(H5S_NULL)  // HDF5's way of storing an empty array
        case let n?: var dims = [hsize_t(n)]; space = H5Screate_simple(1, &dims, nil)
        }
        try h5Check(space, .ioErr, file: file.path, path: objectPath, "cannot make dataspace for \(where_)")
        defer { H5Sclose(space) }
        try withObject { object in
            if H5Aexists(object, name) > 0 {
                try h5Check(H5Adelete(object, name), .ioErr, file: file.path, path: objectPath, "cannot replace \(where_)")
            }
            let attribute = try h5Check(H5Acreate2(object, name, type, space, kd_H5P_DEFAULT(), kd_H5P_DEFAULT()), .ioErr,
                                        file: file.path, path: objectPath, "cannot create \(where_)")
            defer { H5Aclose(attribute) }
            if let data, count != 0 {
                try h5Check(H5Awrite(attribute, type, data), .ioErr, file: file.path, path: objectPath, "cannot write \(where_)")
            }
        }
    }

    /// Opens the object for the length of `body`.
    private func withObject<R>(_ body: (hid_t) throws -> R) throws -> R {
        let object = try h5Check(H5Oopen(try file.openID(), objectPath, kd_H5P_DEFAULT()), .ioErr,
                                 file: file.path, path: objectPath, "cannot open object")
        defer { H5Oclose(object) }
        return try body(object)
    }

    private func variableStringType(cset: H5T_cset_t) throws -> hid_t {
        let type = try h5Check(H5Tcopy(kd_H5T_C_S1()), .ioErr, file: file.path, path: objectPath, "cannot make string type")
        H5Tset_size(type, kd_H5T_VARIABLE())
        H5Tset_cset(type, cset)
        return type
    }
}

// MARK: - Reading

extension H5AttributeHolder {
    public func stringAttribute(_ name: String) throws -> String? {
        switch try attribute(name) {
        case nil: return nil
        case .string(let s)?: return s
        case .strings(let s)? where s.count == 1: return s[0]
        case let other?: throw mismatch(name, other, expected: "a string")
        }
    }

    public func stringArrayAttribute(_ name: String) throws -> [String]? {
        switch try attribute(name) {
        case nil: return nil
        case .string(let s)?: return [s]
        case .strings(let s)?: return s
        case let other?: throw mismatch(name, other, expected: "strings")
        }
    }

    public func intAttribute(_ name: String) throws -> Int? {
        switch try attribute(name) {
        case nil: return nil
        case .int(let v)?: return v
        case .ints(let v)? where v.count == 1: return v[0]
        case let other?: throw mismatch(name, other, expected: "an integer")
        }
    }

    public func doubleAttribute(_ name: String) throws -> Double? {
        switch try attribute(name) {
        case nil: return nil
        case .double(let v)?: return v
        case .doubles(let v)? where v.count == 1: return v[0]
        case .int(let v)?: return Double(v)
        case .ints(let v)? where v.count == 1: return Double(v[0])
        case let other?: throw mismatch(name, other, expected: "a number")
        }
    }

    public func intArrayAttribute(_ name: String) throws -> [Int]? {
        switch try attribute(name) {
        case nil: return nil
        case .int(let v)?: return [v]
        case .ints(let v)?: return v
        case let other?: throw mismatch(name, other, expected: "integers")
        }
    }

    public func doubleArrayAttribute(_ name: String) throws -> [Double]? {
        switch try attribute(name) {
        case nil: return nil
        case .double(let v)?: return [v]
        case .doubles(let v)?: return v
        case .int(let v)?: return [Double(v)]
        case .ints(let v)?: return v.map(Double.init)
        case let other?: throw mismatch(name, other, expected: "numbers")
        }
    }

    private func mismatch(_ name: String, _ found: H5AttributeValue, expected: String) -> StageError {
        let kind: String
        switch found {
        case .string: kind = "a string"
        case .strings(let s): kind = "\(s.count) strings"
        case .int: kind = "an integer"
        case .ints(let v): kind = "\(v.count) integers"
        case .double: kind = "a float"
        case .doubles(let v): kind = "\(v.count) floats"
        case .unsupported(let t): kind = "a value of HDF5 class \(t)"
        }
        return StageError.badData("\(file.path): \(objectPath): attribute \(name) holds \(kind), expected \(expected)")
    }

    public func attribute(_ name: String) throws -> H5AttributeValue? {
        try withObject { object in
            guard H5Aexists(object, name) > 0 else { _ = lastHDF5Detail(); return nil }
            let where_ = "attribute \(name)"
            let attribute = try h5Check(H5Aopen(object, name, kd_H5P_DEFAULT()), .ioErr, file: file.path, path: objectPath, "cannot open \(where_)")
            defer { H5Aclose(attribute) }
            let type = try h5Check(H5Aget_type(attribute), .ioErr, file: file.path, path: objectPath, "cannot read type of \(where_)")
            defer { H5Tclose(type) }
            let space = try h5Check(H5Aget_space(attribute), .ioErr, file: file.path, path: objectPath, "cannot read shape of \(where_)")
            defer { H5Sclose(space) }
            let scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
            let count = Int(Swift.max(0, H5Sget_simple_extent_npoints(space)))
            func check(_ status: herr_t) throws {
                try h5Check(status, .ioErr, file: file.path, path: objectPath, "cannot read \(where_)")
            }

            switch H5Tget_class(type) {
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: count)
                if count > 0 { try check(H5Aread(attribute, kd_H5T_NATIVE_INT64(), &values)) }
                return scalar ? .int(Int(values[0])) : .ints(values.map { Int($0) })
            case H5T_FLOAT:
                var values = [Double](repeating: 0, count: count)
                if count > 0 { try check(H5Aread(attribute, kd_H5T_NATIVE_DOUBLE(), &values)) }
                return scalar ? .double(values[0]) : .doubles(values)
            case H5T_STRING:
                let strings = try readStrings(attribute, type: type, space: space, count: count, check: check)
                return scalar ? .string(strings[0]) : .strings(strings)
            case let typeClass:
                return .unsupported(Self.className(typeClass))
            }
        }
    }

    /// Reads fixed- or variable-length strings, whichever the file holds.
    private func readStrings(_ attribute: hid_t, type: hid_t, space: hid_t, count: Int,
                             check: (herr_t) throws -> Void) throws -> [String] {
        if count == 0 { return [] }
        if H5Tis_variable_str(type) > 0 {
            let memType = try variableStringType(cset: H5Tget_cset(type))
            defer { H5Tclose(memType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try check(H5Aread(attribute, memType, &pointers))
            defer { H5Dvlen_reclaim(memType, space, kd_H5P_DEFAULT(), &pointers) }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        // Fixed length: `size` bytes each, padded with NULs or spaces.
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: count * size)
        try check(H5Aread(attribute, type, &bytes))
        let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
        return (0..<count).map { i in
            var field = bytes[(i * size)..<((i + 1) * size)]
            if let nul = field.firstIndex(of: 0) { field = field[..<nul] }
            if spacePadded { while field.last == 0x20 { field = field.dropLast() } }
            return String(decoding: field, as: UTF8.self)
        }
    }

    private static func className(_ typeClass: H5T_class_t) -> String {
        switch typeClass {
        case H5T_TIME: "time"
        case H5T_BITFIELD: "bitfield"
        case H5T_OPAQUE: "opaque"
        case H5T_COMPOUND: "compound"
        case H5T_REFERENCE: "reference"
        case H5T_ENUM: "enum"
        case H5T_VLEN: "vlen"
        case H5T_ARRAY: "array"
        default: "unknown"
        }
    }

    public func attributeNames() throws -> [String] {
        try withObject { object in
            var names: [String] = []
            _ = try withUnsafeMutablePointer(to: &names) { namesPointer in
                try h5Check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, client in
                    guard let name, let client else { return 0 }
                    client.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    return 0
                }, namesPointer), .ioErr, file: file.path, path: objectPath, "cannot list attributes")
            }
            return names.sorted()
        }
    }
}
