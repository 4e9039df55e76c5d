import CHDF5
import KDCore

/// A group in an HDF5 file: a folder of datasets and further groups, named by its absolute
/// path ("/train"). It owns the group identifier and keeps its file open. Names given to its
/// methods are relative to it and may have several parts ("a/b"). Cost: each call is one or a
/// few small metadata operations.
public final class H5Group {
    public let file: H5File
    /// Absolute path inside the file, "/" for the root.
    public let path: String
    private let id: hid_t

    init(file: H5File, path: String, id: hid_t) {
        self.file = file
        self.path = path
        self.id = id
    }

    deinit { if id >= 0 { H5Gclose(id) } }

    static func open(in file: H5File, path: String) throws -> H5Group {
        let id = try h5Check(H5Gopen2(try file.openID(), path, kd_H5P_DEFAULT()), .dataErr,
                             file: file.path, path: path, "cannot open group")
        return H5Group(file: file, path: path, id: id)
    }

    /// The absolute path of a member given by its relative name (an absolute name, as HDF5
    /// takes it, starts from the root).
    func childPath(_ name: String) -> String {
        name.hasPrefix("/") ? name : path == "/" ? "/" + name : path + "/" + name
    }

    private func openID() throws -> hid_t {
        ensureLibraryReady()
        guard id >= 0 else { throw StageError.io("\(file.path): \(path): file is closed") }
        return id
    }

    /// Creates a group; missing groups on the way ("a" of "a/b") are created too.
    /// Throws `.cantCreate` (73) when it exists already or cannot be made.
    public func createGroup(_ name: String) throws -> H5Group {
        let full = childPath(name)
        let lcpl = try h5Check(H5Pcreate(kd_H5P_LINK_CREATE()), file: file.path, path: full, "cannot create link properties")
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let exists = contains(name)
        let gid = try h5Check(H5Gcreate2(try openID(), name, lcpl, kd_H5P_DEFAULT(), kd_H5P_DEFAULT()), .cantCreate,
                              file: file.path, path: full, exists ? "cannot create group: the name exists already" : "cannot create group")
        return H5Group(file: file, path: full, id: gid)
    }

    /// Opens a member group. A missing one throws `.badData` (65) naming the file and path.
    public func openGroup(_ name: String) throws -> H5Group {
        let full = childPath(name)
        guard contains(name) else { throw StageError.badData("\(file.path) has no group \(full)") }
        guard isGroup(name) else { throw StageError.badData("\(file.path): \(full) is not a group") }
        return try H5Group.open(in: file, path: full)
    }

    /// Whether a member exists; for "a/b", false when "a" is missing.
    public func contains(_ name: String) -> Bool {
        guard let id = try? openID(), !name.isEmpty else { return false }
        var prefix = name.hasPrefix("/") ? "/" : ""
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += prefix.isEmpty || prefix == "/" ? String(part) : "/" + part
            if H5Lexists(id, prefix, kd_H5P_DEFAULT()) <= 0 {
                _ = lastHDF5Detail()  // an intermediate that is a dataset leaves an error behind
                return false
            }
        }
        return !prefix.isEmpty
    }

    /// The names of the direct members, sorted.
    public func memberNames() throws -> [String] {
        let gid = try openID()
        var info = H5G_info_t()
        try h5Check(H5Gget_info(gid, &info), .ioErr, file: file.path, path: path, "cannot list group")
        var names: [String] = []
        for index in 0..<info.nlinks {
            let length = try h5Check(H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, kd_H5P_DEFAULT()),
                                     .ioErr, file: file.path, path: path, "cannot read member name \(index)")
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            try h5Check(H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, kd_H5P_DEFAULT()),
                        .ioErr, file: file.path, path: path, "cannot read member name \(index)")
            names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names.sorted()
    }

    /// Whether a member exists and is a group.
    public func isGroup(_ name: String) -> Bool {
        objectType(name) == H5I_GROUP
    }

    /// Whether a member exists and is a dataset.
    public func isDataset(_ name: String) -> Bool {
        objectType(name) == H5I_DATASET
    }

    private func objectType(_ name: String) -> H5I_type_t? {
        guard contains(name), let id = try? openID() else { return nil }
        let oid = H5Oopen(id, name, kd_H5P_DEFAULT())
        guard oid >= 0 else { _ = lastHDF5Detail(); return nil }
        defer { H5Oclose(oid) }
        return H5Iget_type(oid)
    }

    /// Creates a dataset of `shape` filled with zeros (HDF5 allocates storage when written).
    /// `chunk` gives the chunk shape (clamped to `shape`); `deflate` (0...9) and `shuffle` add
    /// those filters and need chunking, so without `chunk` the chunk is whole rows along the
    /// first axis, about 1 MiB each. Throws `.cantCreate` (73) when it cannot be made.
    public func createDataset<T: H5Scalar>(_ name: String, of: T.Type, shape: [Int],
                                           chunk: [Int]? = nil, deflate: Int? = nil,
                                           shuffle: Bool = false) throws -> H5Dataset {
        let full = childPath(name)
        func fail(_ what: String) -> StageError { StageError.cantCreate("\(file.path): \(full): \(what)") }
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }) else { throw fail("bad shape \(shape)") }
        if let level = deflate, !(0...9).contains(level) { throw fail("deflate level \(level) is not in 0...9") }
        let chunkShape = chunk ?? (deflate != nil || shuffle ? H5Group.rowChunk(shape, elementSize: MemoryLayout<T>.stride) : nil)
        if let c = chunkShape, c.count != shape.count || c.contains(where: { $0 < 1 }) {
            throw fail("chunk \(c) does not fit shape \(shape)")
        }

        let dims = shape.map { hsize_t($0) }
        let space = try h5Check(H5Screate_simple(Int32(dims.count), dims, nil), .cantCreate, file: file.path, path: full, "cannot create dataspace")
        defer { H5Sclose(space) }
        let dcpl = try h5Check(H5Pcreate(kd_H5P_DATASET_CREATE()), .cantCreate, file: file.path, path: full, "cannot create dataset properties")
        defer { H5Pclose(dcpl) }
        // A zero-length axis cannot be chunked (a chunk axis is at least 1 and at most the
        // axis), so empty datasets stay contiguous.
        if let c = chunkShape, !shape.contains(0) {
            let chunkDims = zip(c, shape).map { hsize_t(Swift.min($0, $1)) }
            try h5Check(H5Pset_chunk(dcpl, Int32(chunkDims.count), chunkDims), .cantCreate, file: file.path, path: full, "cannot set chunk \(c)")
            if shuffle { try h5Check(H5Pset_shuffle(dcpl), .cantCreate, file: file.path, path: full, "cannot add shuffle filter") }
            if let level = deflate {
                try h5Check(H5Pset_deflate(dcpl, UInt32(level)), .cantCreate, file: file.path, path: full, "cannot add deflate filter")
            }
        }
        let lcpl = try h5Check(H5Pcreate(kd_H5P_LINK_CREATE()), file: file.path, path: full, "cannot create link properties")
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let exists = contains(name)
        let did = H5Dcreate2(try openID(), name, T.nativeType, space, lcpl, dcpl, kd_H5P_DEFAULT())
        if did < 0 {
            throw h5Error(.cantCreate, file: file.path, path: full, exists ? "cannot create dataset: the name exists already" : "cannot create dataset")
        }
        return H5Dataset(file: file, path: full, id: did)
    }

    /// Rows of about 1 MiB along the first axis, the whole of every other axis.
    private static func rowChunk(_ shape: [Int], elementSize: Int) -> [Int] {
        let rowBytes = Swift.max(1, shape.dropFirst().reduce(elementSize, *))
        let rows = Swift.max(1, Swift.min(Swift.max(shape[0], 1), (1 << 20) / rowBytes))
        return [rows] + shape.dropFirst().map { Swift.max($0, 1) }
    }

    /// Creates a dataset and writes `values` (row-major, `shape.reduce(1, *)` of them) into it.
    @discardableResult
    public func writeDataset<T: H5Scalar>(_ name: String, _ values: [T], shape: [Int],
                                          chunk: [Int]? = nil, deflate: Int? = nil,
                                          shuffle: Bool = false) throws -> H5Dataset {
        let count = shape.reduce(1, *)
        guard values.count == count else {
            throw StageError(.software, "\(file.path): \(childPath(name)): \(values.count) values do not fill shape \(shape) (\(count))")
        }
        let dataset = try createDataset(name, of: T.self, shape: shape, chunk: chunk, deflate: deflate, shuffle: shuffle)
        try dataset.write(values)
        return dataset
    }

    /// Opens a member dataset. A missing one throws `.badData` (65) naming the file and path.
    public func openDataset(_ name: String) throws -> H5Dataset {
        let full = childPath(name)
        guard contains(name) else { throw StageError.badData("\(file.path) has no dataset \(full)") }
        guard isDataset(name) else { throw StageError.badData("\(file.path): \(full) is not a dataset") }
        let did = try h5Check(H5Dopen2(try openID(), name, kd_H5P_DEFAULT()), .dataErr, file: file.path, path: full, "cannot open dataset")
        return H5Dataset(file: file, path: full, id: did)
    }
}

extension H5Group: H5AttributeHolder {
    public var objectPath: String { path }
}
