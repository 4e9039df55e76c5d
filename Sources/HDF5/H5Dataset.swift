import CHDF5
import KDCore

/// A dataset in an HDF5 file: an n-dimensional array of one element type, read and written
/// whole or by hyperslab (a box given by `start` and `count` per axis), straight between the
/// file and Swift memory. It owns the dataset identifier and keeps its file open. Cost: reads
/// and writes touch only the chunks the box covers (and inflate them when deflated).
public final class H5Dataset {
    public let file: H5File
    /// Absolute path inside the file ("/train/images").
    public let path: String
    private let datasetID: hid_t
    /// Whether every chunk was found written (checked before the first read).
    private var foundWhole = false
    /// The identifier, handed out only after the calling thread is ready for HDF5 calls.
    private var id: hid_t {
        ensureLibraryReady()
        return datasetID
    }

    init(file: H5File, path: String, id: hid_t) {
        self.file = file
        self.path = path
        self.datasetID = id
    }

    deinit { H5Dclose(datasetID) }

    // MARK: - Layout

    /// The extent of each axis.
    public var shape: [Int] {
        let space = H5Dget_space(id)
        guard space >= 0 else { _ = lastHDF5Detail(); return [] }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank > 0 else { return [] }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.map { Int($0) }
    }

    /// The number of elements (the product of the shape).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The element type stored in the file.
    public var elementType: H5ElementType {
        let type = H5Dget_type(id)
        guard type >= 0 else { _ = lastHDF5Detail(); return .other }
        defer { H5Tclose(type) }
        return H5ElementType(datatype: type)
    }

    /// The chunk shape, nil when the data is stored contiguously (or compact).
    public var chunkShape: [Int]? {
        withCreationList { dcpl in
            guard H5Pget_layout(dcpl) == H5D_CHUNKED else { return nil }
            var dims = [hsize_t](repeating: 0, count: Swift.max(shape.count, 1))
            let got = Int(H5Pget_chunk(dcpl, Int32(dims.count), &dims))
            return got > 0 ? dims.prefix(got).map { Int($0) } : nil
        }
    }

    /// The deflate (gzip) level, nil when the deflate filter is not applied.
    public var deflateLevel: Int? {
        filters.first { $0.id == H5Z_FILTER_DEFLATE }.map { Int($0.parameters.first ?? 0) }
    }

    /// Whether the byte-shuffle filter is applied (it groups the bytes of each element by
    /// significance before deflate, which helps floats compress).
    public var hasShuffle: Bool {
        filters.contains { $0.id == H5Z_FILTER_SHUFFLE }
    }

    /// Whether every chunk carries a Fletcher-32 checksum (kd writes one on every chunk, so a
    /// damaged chunk is refused on read rather than decoded into wrong values).
    public var hasChecksum: Bool {
        filters.contains { $0.id == H5Z_FILTER_FLETCHER32 }
    }

    /// The filter pipeline, in the order applied when writing.
    private var filters: [(id: H5Z_filter_t, parameters: [UInt32])] {
        withCreationList { dcpl in
            let n = H5Pget_nfilters(dcpl)
            guard n > 0 else { return [] }
            return (0..<UInt32(n)).compactMap { index in
                var flags: UInt32 = 0, config: UInt32 = 0
                var count = 8
                var values = [UInt32](repeating: 0, count: count)
                var name = [CChar](repeating: 0, count: 64)
                let filter = H5Pget_filter2(dcpl, index, &flags, &count, &values, name.count, &name, &config)
                return filter < 0 ? nil : (filter, Array(values.prefix(Swift.min(count, values.count))))
            }
        } ?? []
    }

    private func withCreationList<R>(_ body: (hid_t) -> R?) -> R? {
        let dcpl = H5Dget_create_plist(id)
        guard dcpl >= 0 else { _ = lastHDF5Detail(); return nil }
        defer { H5Pclose(dcpl) }
        return body(dcpl)
    }

    /// Bytes the dataset takes in the file (after compression; 0 before anything is written).
    public var storageBytes: Int { Int(H5Dget_storage_size(id)) }

    /// Bytes of the data uncompressed (elements × element size), for numeric types.
    public var rawBytes: Int? { elementType.byteSize.map { $0 * elementCount } }

    // MARK: - Reading

    /// Reads the whole dataset. Reading as another type than stored throws `.badData` (65).
    public func read<T: H5Scalar>(as: T.Type) throws -> [T] {
        let shape = self.shape
        return try read(as: T.self, start: shape.map { _ in 0 }, count: shape)
    }

    /// Reads the box `start ..< start + count` (row-major).
    public func read<T: H5Scalar>(as: T.Type, start: [Int], count: [Int]) throws -> [T] {
        var values = [T](repeating: .zero, count: count.reduce(1, *))
        try values.withUnsafeMutableBufferPointer { try read(into: $0, start: start, count: count) }
        return values
    }

    /// Reads the box `start ..< start + count` into memory the caller owns (no allocation);
    /// `buffer` must hold exactly `count.reduce(1, *)` elements.
    public func read<T: H5Scalar>(into buffer: UnsafeMutableBufferPointer<T>, start: [Int], count: [Int]) throws {
        try checkType(T.self, reading: true)
        try transfer(start: start, count: count, elements: buffer.count, reading: true) { memSpace, fileSpace in
            guard let base = buffer.baseAddress else { return 0 }
            return H5Dread(id, T.nativeType, memSpace, fileSpace, kd_H5P_DEFAULT(), base)
        }
    }

    /// Throws 65 when a chunk of the box `start ..< start + count` was never written: HDF5 would
    /// read it as zeros without a word (a chunk index damaged, a writer that died). Every
    /// dataset kd makes is written whole, so a finished file has all its chunks; a partial
    /// file being resumed has those of its finished blocks. Cost: one walk over the chunk index
    /// (chunks are about 1 MiB), once per opening when the dataset is whole, else per read.
    private func checkWritten(start: [Int], count: [Int]) throws {
        guard !foundWhole, count.reduce(1, *) > 0, let chunk = chunkShape else { return }
        let space = try h5Check(H5Dget_space(id), .dataErr, file: file.path, path: path, "cannot get dataspace")
        defer { H5Sclose(space) }
        var written: hsize_t = 0   // HDF5 1.10 counts every chunk, whatever the selection
        try h5Check(H5Dget_num_chunks(id, space, &written), .dataErr, file: file.path, path: path, "cannot count the chunks")
        if Int(written) == zip(shape, chunk).reduce(1, { $0 * (($1.0 + $1.1 - 1) / $1.1) }) {
            foundWhole = true
            return
        }
        // Not whole (a partial file): look up each chunk the box touches.
        let first = zip(start, chunk).map { $0 / $1 }, last = zip(zip(start, count), chunk).map { ($0.0 + $0.1 - 1) / $1 }
        var index = first
        while true {
            var offset = zip(index, chunk).map { hsize_t($0 * $1) }
            var filterMask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
            try h5Check(H5Dget_chunk_info_by_coord(id, &offset, &filterMask, &address, &size), .dataErr, file: file.path, path: path,
                        "cannot look up the chunk at \(offset)")
            guard address != kd_HADDR_UNDEF() else {
                throw StageError.badData("\(file.path): \(path): the chunk at \(offset.map(Int.init)) was never written "
                    + "(rows \(start[0])..<\(start[0] + count[0]) read as zeros); the file is not whole")
            }
            guard let axis = (0..<index.count).last(where: { index[$0] < last[$0] }) else { return }
            index[axis] += 1
            for later in (axis + 1)..<index.count { index[later] = first[later] }
        }
    }

    // MARK: - Writing

    /// Writes the whole dataset; `values` must hold every element.
    public func write<T: H5Scalar>(_ values: [T]) throws {
        let shape = self.shape
        try write(values, start: shape.map { _ in 0 }, count: shape)
    }

    /// Writes the box `start ..< start + count`.
    public func write<T: H5Scalar>(_ values: [T], start: [Int], count: [Int]) throws {
        try values.withUnsafeBufferPointer { try write(from: $0, start: start, count: count) }
    }

    /// Writes the box `start ..< start + count` from memory the caller owns.
    public func write<T: H5Scalar>(from buffer: UnsafeBufferPointer<T>, start: [Int], count: [Int]) throws {
        try checkType(T.self, reading: false)
        try transfer(start: start, count: count, elements: buffer.count, reading: false) { memSpace, fileSpace in
            guard let base = buffer.baseAddress else { return 0 }
            return H5Dwrite(id, T.nativeType, memSpace, fileSpace, kd_H5P_DEFAULT(), base)
        }
        // HDF5 keeps written chunks in a cache and writes them out when the dataset closes,
        // where a failure (a full disk) cannot be reported: write them out now, and say so.
        try h5Check(H5Dflush(id), .ioErr, file: file.path, path: path, "cannot write the data out")
    }

    // MARK: - Shared by reads and writes

    private func checkType<T: H5Scalar>(_: T.Type, reading: Bool) throws {
        let stored = elementType
        guard stored == T.h5ElementType else {
            throw StageError.badData("\(file.path): \(path): holds \(stored.rawValue), "
                + "cannot be \(reading ? "read" : "written") as \(T.h5ElementType.rawValue)")
        }
    }

    /// Selects the box in the file, checks it lies inside the shape and that the memory holds
    /// exactly its elements (and, reading, that its chunks were written), then runs the read or
    /// write. An empty box does nothing.
    private func transfer(start: [Int], count: [Int], elements: Int, reading: Bool,
                          _ body: (_ memSpace: hid_t, _ fileSpace: hid_t) -> herr_t) throws {
        let shape = self.shape
        guard start.count == shape.count, count.count == shape.count,
              zip(zip(start, count), shape).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= $1 }) else {
            throw StageError.badData("\(file.path): \(path): box start \(start) count \(count) lies outside shape \(shape)")
        }
        let n = count.reduce(1, *)
        guard elements == n else {
            throw StageError(.software, "\(file.path): \(path): memory holds \(elements) elements, box \(count) has \(n)")
        }
        if n == 0 { return }
        if reading { try checkWritten(start: start, count: count) }
        if shape.isEmpty {   // a scalar dataset (as h5py writes a 0-d array): no box to select
            try h5Check(body(kd_H5S_ALL(), kd_H5S_ALL()), .ioErr, file: file.path, path: path, "I/O failed on the scalar")
            return
        }
        let fileSpace = try h5Check(H5Dget_space(id), .ioErr, file: file.path, path: path, "cannot get dataspace")
        defer { H5Sclose(fileSpace) }
        let offsets = start.map { hsize_t($0) }, counts = count.map { hsize_t($0) }
        try h5Check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, offsets, nil, counts, nil), .ioErr,
                    file: file.path, path: path, "cannot select box start \(start) count \(count)")
        let memSpace = try h5Check(H5Screate_simple(Int32(counts.count), counts, nil), .ioErr,
                                   file: file.path, path: path, "cannot create memory dataspace")
        defer { H5Sclose(memSpace) }
        try h5Check(body(memSpace, fileSpace), .ioErr, file: file.path, path: path,
                    "I/O failed on box start \(start) count \(count)")
    }
}

extension H5Dataset: H5AttributeHolder {
    public var objectPath: String { path }
}
