import CHDF5

/// The kinds of element a dataset or attribute can hold, as kd sees them. `other` is any HDF5
/// type kd does not read (compound, enum, int16, ...); `string` is fixed or variable length.
public enum H5ElementType: String, Sendable {
    case uint8, int32, int64, float32, float64, string, other

    /// The element type of an HDF5 datatype (a file or memory type), judged by class, size and sign.
    init(datatype: hid_t) {
        let size = H5Tget_size(datatype)
        switch H5Tget_class(datatype) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(datatype) == H5T_SGN_2
            switch (size, signed) {
            case (1, false): self = .uint8
            case (4, true): self = .int32
            case (8, true): self = .int64
            default: self = .other
            }
        case H5T_FLOAT:
            self = size == 4 ? .float32 : size == 8 ? .float64 : .other
        case H5T_STRING:
            self = .string
        default:
            self = .other
        }
    }

    /// Bytes per element of the numeric types (nil for strings and others).
    public var byteSize: Int? {
        switch self {
        case .uint8: 1
        case .int32, .float32: 4
        case .int64, .float64: 8
        case .string, .other: nil
        }
    }
}

/// A Swift number type that maps one to one onto an HDF5 native type, so arrays of it can be
/// read and written without conversion: UInt8, Int32, Int64, Float and Double.
public protocol H5Scalar: AdditiveArithmetic, Sendable {
    static var h5ElementType: H5ElementType { get }
}

extension UInt8: H5Scalar { public static var h5ElementType: H5ElementType { .uint8 } }
extension Int32: H5Scalar { public static var h5ElementType: H5ElementType { .int32 } }
extension Int64: H5Scalar { public static var h5ElementType: H5ElementType { .int64 } }
extension Float: H5Scalar { public static var h5ElementType: H5ElementType { .float32 } }
extension Double: H5Scalar { public static var h5ElementType: H5ElementType { .float64 } }

extension H5Scalar {
    /// The HDF5 native memory type of this Swift type (library-owned; never closed).
    static var nativeType: hid_t {
        switch h5ElementType {
        case .uint8: kd_H5T_NATIVE_UINT8()
        case .int32: kd_H5T_NATIVE_INT32()
        case .int64: kd_H5T_NATIVE_INT64()
        case .float32: kd_H5T_NATIVE_FLOAT()
        case .float64: kd_H5T_NATIVE_DOUBLE()
        case .string, .other: fatalError("H5Scalar conformers are numeric")
        }
    }
}
