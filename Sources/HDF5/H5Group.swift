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
        let exists = (try? contains(name)) ?? false
        let gid = try h5Check(H5Gcreate2(try openID(), name, lcpl, kd_H5P_DEFAULT(), kd_H5P_DEFAULT()), .cantCreate,
                              file: file.path, path: full, exists ? "cannot create group: the name exists already" : "cannot create group")
        return H5Group(file: file, path: full, id: gid)
    }

    /// Opens a member group. A missing one throws `.badData` (65) naming the file and path.
    public func openGroup(_ name: String) throws -> H5Group {
        let full = childPath(name)
        guard try contains(name) else { throw StageError.badData("\(file.path) has no group \(full)") }
        guard try isGroup(name) else { throw StageError.badData("\(file.path): \(full) is not a group") }
        return try H5Group.open(in: file, path: full)
    }

    /// Whether a member exists; for "a/b", false when "a" is missing or not a group. Throws
    /// (65) when a group on the way cannot be opened — its header damaged — so that a member
    /// of it never passes for absent.
    public func contains(_ name: String) throws -> Bool {
        let id = try openID()
        var prefix = name.hasPrefix("/") ? "/" : ""
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if !prefix.isEmpty && prefix != "/" {   // the member so far exists: is it a group?
                let oid = try h5Check(H5Oopen(id, prefix, kd_H5P_DEFAULT()), .dataErr, file: file.path,
                                      path: childPath(prefix), "cannot open the object")
                let type = H5Iget_type(oid)
                H5Oclose(oid)
                if type != H5I_GROUP { return false }
            }
            prefix += prefix.isEmpty || prefix == "/" ? String(part) : "/" + part
            let exists = try h5Check(H5Lexists(id, prefix, kd_H5P_DEFAULT()), .dataErr, file: file.path,
                                     path: childPath(prefix), "cannot look up the member")
            if exists == 0 { return false }
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

    /// Whether a member exists and is a group. A member whose object cannot be opened (its
    /// header damaged) throws rather than passing for absent: a split must not vanish silently.
    public func isGroup(_ name: String) throws -> Bool {
        try objectType(name) == H5I_GROUP
    }

    /// Whether a member exists and is a dataset; throws as `isGroup` does.
    public func isDataset(_ name: String) throws -> Bool {
        try objectType(name) == H5I_DATASET
    }

    /// The kind of a member, nil when there is no such member.
    private func objectType(_ name: String) throws -> H5I_type_t? {
        guard try contains(name) else { return nil }
        let oid = try h5Check(H5Oopen(try openID(), name, kd_H5P_DEFAULT()), .dataErr, file: file.path, path: childPath(name),
                              "cannot open the object")
        defer { H5Oclose(oid) }
        return H5Iget_type(oid)
    }

    /// The names of the direct members that are groups, sorted; throws when one cannot be opened.
    public func subgroupNames() throws -> [String] {
        try memberNames().filter { try isGroup($0) }
    }

    /// Creates a dataset of `shape` filled with zeros (HDF5 allocates storage when written).
    /// `chunk` gives the chunk shape (clamped to `shape`); without it the chunk is whole rows
    /// along the first axis, about 1 MiB each. `deflate` (0...9) and `shuffle` add those
    /// filters. Every chunk carries a Fletcher-32 checksum, checked by HDF5 on every read, so
    /// a damaged byte of stored data is refused rather than read as a wrong number (HDF5's own
    /// metadata is checksummed by the file format). Throws `.cantCreate` (73) when it cannot be made.
    public func createDataset<T: H5Scalar>(_ name: String, of: T.Type, shape: [Int],
                                           chunk: [Int]? = nil, deflate: Int? = nil,
                                           shuffle: Bool = false) throws -> H5Dataset {
        let full = childPath(name)
        func fail(_ what: String) -> StageError { StageError.cantCreate("\(file.path): \(full): \(what)") }
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }) else { throw fail("bad shape \(shape)") }
        if let level = deflate, !(0...9).contains(level) { throw fail("deflate level \(level) is not in 0...9") }
        let chunkShape = chunk ?? H5Group.rowChunk(shape, elementSize: MemoryLayout<T>.stride)
        if chunkShape.count != shape.count || chunkShape.contains(where: { $0 < 1 }) {
            throw fail("chunk \(chunkShape) does not fit shape \(shape)")
        }

        let dims = shape.map { hsize_t($0) }
        let space = try h5Check(H5Screate_simple(Int32(dims.count), dims, nil), .cantCreate, file: file.path, path: full, "cannot create dataspace")
        defer { H5Sclose(space) }
        let dcpl = try h5Check(H5Pcreate(kd_H5P_DATASET_CREATE()), .cantCreate, file: file.path, path: full, "cannot create dataset properties")
        defer { H5Pclose(dcpl) }
        // A zero-length axis cannot be chunked (a chunk axis is at least 1 and at most the
        // axis), so empty datasets stay contiguous: they hold no bytes to damage.
        if !shape.contains(0) {
            let chunkDims = zip(chunkShape, shape).map { hsize_t(Swift.min($0, $1)) }
            try h5Check(H5Pset_chunk(dcpl, Int32(chunkDims.count), chunkDims), .cantCreate, file: file.path, path: full, "cannot set chunk \(chunkShape)")
            if shuffle { try h5Check(H5Pset_shuffle(dcpl), .cantCreate, file: file.path, path: full, "cannot add shuffle filter") }
            if let level = deflate {
                try h5Check(H5Pset_deflate(dcpl, UInt32(level)), .cantCreate, file: file.path, path: full, "cannot add deflate filter")
            }
            // Last, so that a read checks the stored bytes before inflating them.
            try h5Check(H5Pset_fletcher32(dcpl), .cantCreate, file: file.path, path: full, "cannot add checksum filter")
        }
        let lcpl = try h5Check(H5Pcreate(kd_H5P_LINK_CREATE()), file: file.path, path: full, "cannot create link properties")
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let exists = (try? contains(name)) ?? false
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
        guard try contains(name) else { throw StageError.badData("\(file.path) has no dataset \(full)") }
        guard try isDataset(name) else { throw StageError.badData("\(file.path): \(full) is not a dataset") }
        let did = try h5Check(H5Dopen2(try openID(), name, kd_H5P_DEFAULT()), .dataErr, file: file.path, path: full, "cannot open dataset")
        return H5Dataset(file: file, path: full, id: did)
    }
}

extension H5Group: H5AttributeHolder {
    public var objectPath: String { path }
}
