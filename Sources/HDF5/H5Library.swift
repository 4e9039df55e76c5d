import CHDF5
import Foundation
import KDCore

// The HDF5 module: a small Swift layer over libhdf5's C API (files, groups, datasets,
// attributes, typed reads and writes, chunking and filters).
//
// Threads: use this module from one thread at a time. Debian's libhdf5 (the serial build) is
// compiled thread-safe — one lock inside the library, so concurrent calls are safe but run one
// after another — while other builds (Homebrew's, a plain ./configure) are not thread-safe at
// all. The types are not Sendable for that reason; parallel work reads its input into memory
// first and computes on that.

/// Initialises the library once per process (a global `let` runs exactly once, thread-safely).
private let libraryReady: Void = { H5open() }()

/// Marks threads whose HDF5 error printing is off.
private let silencedThreadKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Initialises the library and switches HDF5's own error-stack printing off for the calling
/// thread, once per thread: every failure is reported through a `StageError` instead. (A
/// thread-safe libhdf5 keeps the printing setting per thread, so once per process is not
/// enough.) Every object hands out its identifier through this, so no HDF5 call runs before.
/// Cost: one thread-local read.
func ensureLibraryReady() {
    _ = libraryReady
    if pthread_getspecific(silencedThreadKey) == nil {
        H5Eset_auto2(kd_H5E_DEFAULT(), nil, nil)
        pthread_setspecific(silencedThreadKey, UnsafeRawPointer(bitPattern: 1))
    }
}

/// The most specific description HDF5 left on its error stack for the last failure
/// ("file signature not found", "unable to open file: name = ..."), or nil.
func lastHDF5Detail() -> String? {
    var detail: String?
    withUnsafeMutablePointer(to: &detail) { ptr in
        // Walking upward starts at the innermost function, where the failure was detected.
        _ = H5Ewalk2(kd_H5E_DEFAULT(), H5E_WALK_UPWARD, { n, entry, client in
            guard n == 0, let entry, let desc = entry.pointee.desc, let client else { return 0 }
            client.assumingMemoryBound(to: String?.self).pointee = String(cString: desc)
            return 0
        }, ptr)
    }
    H5Eclear2(kd_H5E_DEFAULT())
    return detail
}

/// A `StageError` for a failed HDF5 call on one object: `<file>: <path>: <what> (<detail>)`.
/// When the innermost failure is the operating system's (a write on a full disk), the detail
/// is its reason in words, "No space left on device", rather than HDF5's whole record.
/// A read that fails because the file's bytes are damaged or cut short — a checksum that does
/// not match, a truncated file — is the input's fault: 65 and "damaged", not an I/O error (74).
func h5Error(_ code: Sysexits, file: String, path: String, _ what: String) -> StageError {
    var message = "\(file): \(path): \(what)"
    var code = code
    if let detail = lastHDF5Detail(), !detail.isEmpty {
        if let start = detail.range(of: "error message = '"),
           let end = detail[start.upperBound...].firstIndex(of: "'") {
            message += " (\(detail[start.upperBound..<end]))"
        } else if code == .ioErr || code == .dataErr, damageMarkers.contains(where: { detail.localizedCaseInsensitiveContains($0) }) {
            message += ": the file is damaged or cut short (HDF5: \(detail))"
            code = .dataErr
        } else {
            message += " (HDF5: \(detail))"
        }
    }
    return StageError(code, message)
}

/// How libhdf5 words a failure caused by the file's content (its checksums, its recorded end).
private let damageMarkers = ["checksum", "truncated file", "signature", "bad version number", "inflate() failed"]

/// Throws an `h5Error` when an HDF5 call returned a negative status or identifier.
@discardableResult
func h5Check<T: BinaryInteger>(_ result: T, _ code: Sysexits = .ioErr, file: String, path: String,
                               _ what: @autoclosure () -> String) throws -> T {
    if result < 0 { throw h5Error(code, file: file, path: path, what()) }
    return result
}
