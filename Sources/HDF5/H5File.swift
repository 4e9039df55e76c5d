import CHDF5
import Foundation
import KDCore

/// An open HDF5 file: the entry point of the module. It owns the file identifier and closes it
/// on `close()` or when the last reference goes away; groups and datasets opened from it keep
/// it alive. Its attributes are the attributes of the root group "/" (where kd keeps
/// provenance). Cost: opening reads the superblock and root group header (a few small reads).
///
/// Use from one thread at a time (see the note on threads in H5Library.swift).
public final class H5File {
    /// The file system path, as given.
    public let path: String
    /// The HDF5 file identifier; negative once closed.
    private var id: hid_t

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    // A file still open here was abandoned (an error on the way); what it failed to write
    // was reported then.
    deinit { try? close() }

    /// Creates an empty file, truncating any file at `path`.
    /// Throws `.cantCreate` (73) naming the path when the file cannot be made.
    public static func create(_ path: String) throws -> H5File {
        ensureLibraryReady()
        let fapl = try fileAccessList(path)
        defer { H5Pclose(fapl) }
        let id = H5Fcreate(path, kd_H5F_ACC_TRUNC(), kd_H5P_DEFAULT(), fapl)
        if id < 0 {
            var reason = "cannot create HDF5 file"
            if let detail = lastHDF5Detail() { reason += " (HDF5: \(detail))" }
            throw StageError.cantCreate("\(path): \(reason)")
        }
        return H5File(path: path, id: id)
    }

    /// Opens an existing file, read-only unless `writable`.
    /// A missing or unreadable file throws `.noInput` (66); a file that is not HDF5 throws
    /// `.badData` (65) "`path` is not an HDF5 file".
    public static func open(_ path: String, writable: Bool = false) throws -> H5File {
        ensureLibraryReady()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw StageError.noInput("\(path): no such file")
        }
        guard !isDir.boolValue else {
            throw StageError.noInput("\(path): is a folder, not an HDF5 file")
        }
        guard access(path, writable ? R_OK | W_OK : R_OK) == 0 else {
            throw StageError.noInput("\(path): not \(writable ? "writable" : "readable") (\(String(cString: strerror(errno))))")
        }
        guard H5Fis_hdf5(path) > 0 else {
            _ = lastHDF5Detail()  // clear the stack; the detail adds nothing for the user
            throw StageError.badData("\(path) is not an HDF5 file")
        }
        let fapl = try fileAccessList(path)
        defer { H5Pclose(fapl) }
        let flags = writable ? kd_H5F_ACC_RDWR() : kd_H5F_ACC_RDONLY()
        let id = try h5Check(H5Fopen(path, flags, fapl), .ioErr, file: path, path: "/", "cannot open file")
        if writable {
            // A writer killed mid-write may have put chunks past the end of space its superblock
            // records; writing them again would overflow it. Extend that end to the file's.
            if H5Fincrement_filesize(id, 0) < 0 {
                let error = h5Error(.ioErr, file: path, path: "/", "cannot extend the file's allocated space")
                H5Fclose(id)
                throw error
            }
        }
        return H5File(path: path, id: id)
    }

    /// File access settings: the 1.10 file format, read by every HDF5 release since 2016 (h5py
    /// included). Every piece of its metadata carries a checksum — object headers, and, unlike
    /// the 1.8 format's B-trees, the chunk indexes too — so a damaged byte is refused instead
    /// of read as a missing chunk (zeros) or a chunk whose filters are skipped. It also stores
    /// many or large attributes densely (the earliest format caps them at 64 KiB an object).
    private static func fileAccessList(_ path: String) throws -> hid_t {
        let fapl = try h5Check(H5Pcreate(kd_H5P_FILE_ACCESS()), file: path, path: "/", "cannot create file access list")
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110)
        // A process killed while writing leaves that format's "open for write" flag set, and
        // HDF5 would then refuse every later open, the resume of a partial file included.
        // Ignore the flag, as `h5clear -s` does (through the property h5clear itself sets): a
        // writer still alive is refused by HDF5's file lock, and kd writes only under its
        // claim on the output (`OutputLock`).
        var ignoreOpenForWrite: hbool_t = true
        if H5Pset(fapl, "clear_status_flags", &ignoreOpenForWrite) < 0 { _ = lastHDF5Detail() }
        // `close()` must really close the file (and release HDF5's lock on it) even while a
        // dataset or group object of it is still alive; with the default "weak" degree the file
        // stays open until the last one goes, and reopening it in the same process then fails.
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG)
        return fapl
    }

    /// The root group "/". On a closed file every use of the group throws.
    public var root: H5Group {
        let fid = (try? openID()) ?? -1
        return H5Group(file: self, path: "/", id: fid >= 0 ? H5Gopen2(fid, "/", kd_H5P_DEFAULT()) : -1)
    }

    /// Writes every buffered change to disk.
    public func flush() throws {
        try h5Check(H5Fflush(try openID(), H5F_SCOPE_GLOBAL), .ioErr, file: path, path: "/", "cannot flush file")
    }

    /// Writes everything to disk and closes the file, so that it is complete on disk when this
    /// returns (before a stage renames `<out>.partial` into place). Objects still open from it
    /// stay usable until they go away (HDF5 closes the file for real with the last of them).
    /// Calling it twice is harmless. Throws 74 when the last writes fail (a full disk): the
    /// file is then not whole and must not be renamed into place. The file is closed either way.
    public func close() throws {
        guard id >= 0 else { return }
        ensureLibraryReady()
        let flushed = H5Fflush(id, H5F_SCOPE_GLOBAL)
        let flushError = flushed < 0 ? h5Error(.ioErr, file: path, path: "/", "cannot write the file out") : nil
        let closed = H5Fclose(id)
        id = -1
        if let flushError { throw flushError }
        try h5Check(closed, .ioErr, file: path, path: "/", "cannot close the file")
    }

    /// The identifier, or an error when the file was closed.
    func openID() throws -> hid_t {
        ensureLibraryReady()
        guard id >= 0 else { throw StageError.io("\(path): file is closed") }
        return id
    }
}

extension H5File: H5AttributeHolder {
    public var file: H5File { self }
    public var objectPath: String { "/" }
}
