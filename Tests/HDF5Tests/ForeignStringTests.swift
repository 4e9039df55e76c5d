import CHDF5
import HDF5
import KDCore
import Testing

/// Strings written by other tools: fixed-length ones (h5py's numpy bytes, Fortran and C
/// programs), padded with NULs or spaces, read back without the padding.
@Suite struct ForeignStringTests {
    /// Writes a fixed-length string attribute of `size` bytes per item straight through the C API.
    static func writeFixed(_ path: String, _ name: String, _ items: [String], size: Int, pad: H5T_str_t, scalar: Bool) {
        let file = H5Fopen(path, kd_H5F_ACC_RDWR(), kd_H5P_DEFAULT())
        defer { H5Fclose(file) }
        let type = H5Tcopy(kd_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, size)
        H5Tset_strpad(type, pad)
        var dims = [hsize_t(items.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let filler: UInt8 = pad == H5T_STR_SPACEPAD ? 0x20 : 0
        var bytes: [UInt8] = []
        for item in items {
            let utf8 = Array(item.utf8)
            bytes += utf8 + [UInt8](repeating: filler, count: size - utf8.count)
        }
        let attribute = H5Acreate2(file, name, type, space, kd_H5P_DEFAULT(), kd_H5P_DEFAULT())
        defer { H5Aclose(attribute) }
        H5Awrite(attribute, type, bytes)
    }

    @Test func fixedLengthStringsLoseTheirPadding() throws {
        let dir = try TempFolder()
        let path = dir.file("fixed.h5")
        do { _ = try H5File.create(path) }
        Self.writeFixed(path, "nul", ["cat", "horse", ""], size: 8, pad: H5T_STR_NULLPAD, scalar: false)
        Self.writeFixed(path, "space", ["cat", "horse"], size: 8, pad: H5T_STR_SPACEPAD, scalar: false)
        Self.writeFixed(path, "term", ["kd model"], size: 12, pad: H5T_STR_NULLTERM, scalar: true)
        Self.writeFixed(path, "full", ["exactly8"], size: 8, pad: H5T_STR_NULLPAD, scalar: true)
        let file = try H5File.open(path)
        #expect(try file.stringArrayAttribute("nul") == ["cat", "horse", ""])
        #expect(try file.stringArrayAttribute("space") == ["cat", "horse"])
        #expect(try file.stringAttribute("term") == "kd model")
        #expect(try file.stringAttribute("full") == "exactly8")
    }
}
