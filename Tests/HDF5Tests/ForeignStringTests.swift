import CHDF5
import Foundation
import HDF5
import KDCore
import Testing

/// Strings written by other tools: fixed-length ones (h5py's numpy bytes, Fortran and C
/// programs), padded with NULs or spaces, read back without the padding; variable-length ones
/// (h5py's `str`, kd's own files before fixed-length strings) read too. And what kd writes:
/// fixed-length UTF-8, so no string lives in HDF5's unchecksummed global heap.
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

    /// Writes a variable-length UTF-8 string attribute straight through the C API.
    static func writeVariable(_ path: String, _ name: String, _ items: [String]) {
        let file = H5Fopen(path, kd_H5F_ACC_RDWR(), kd_H5P_DEFAULT())
        defer { H5Fclose(file) }
        let type = H5Tcopy(kd_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, kd_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        var dims = [hsize_t(items.count)]
        let space = H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let cStrings = items.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let attribute = H5Acreate2(file, name, type, space, kd_H5P_DEFAULT(), kd_H5P_DEFAULT())
        defer { H5Aclose(attribute) }
        H5Awrite(attribute, type, cStrings)
    }

    @Test func variableLengthStringsRead() throws {
        let dir = try TempFolder()
        let path = dir.file("variable.h5")
        do { _ = try H5File.create(path) }
        Self.writeVariable(path, "classes", ["cat", "hörse", ""])
        #expect(try H5File.open(path).stringArrayAttribute("classes") == ["cat", "hörse", ""])
    }

    @Test func kdWritesFixedLengthUTF8() throws {
        let dir = try TempFolder()
        let path = dir.file("kd.h5")
        do {
            let file = try H5File.create(path)
            try file.setAttribute("arch", "résnet — 8")
            try file.setAttribute("classes", ["a", "longest", ""])
            try file.setAttribute("empty", "")
            try file.close()
        }
        do {
            let file = H5Fopen(path, kd_H5F_ACC_RDONLY(), kd_H5P_DEFAULT())
            defer { H5Fclose(file) }
            for (name, size) in [("arch", "résnet — 8".utf8.count), ("classes", 7), ("empty", 1)] {
                let attribute = H5Aopen(file, name, kd_H5P_DEFAULT())
                let type = H5Aget_type(attribute)
                #expect(H5Tis_variable_str(type) == 0, "\(name)")
                #expect(H5Tget_size(type) == size, "\(name)")
                #expect(H5Tget_cset(type) == H5T_CSET_UTF8, "\(name)")
                H5Tclose(type)
                H5Aclose(attribute)
            }
        }
        let reopened = try H5File.open(path)
        #expect(try reopened.stringAttribute("arch") == "résnet — 8")
        #expect(try reopened.stringArrayAttribute("classes") == ["a", "longest", ""])
        #expect(try reopened.stringAttribute("empty") == "")
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
