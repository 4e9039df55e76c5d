import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A disk that fills up under train, extract and distill: the stage exits 74 naming the file and
/// the system's reason, leaves nothing under the final name and other files untouched, and —
/// once there is room again — the same command finishes from the progress already on disk.
/// A disk that turns read-only: every writing stage refuses with the path and the system's
/// reason, reading from it still works, and nothing on it changes.
/// Needs root for a small tmpfs; skipped with the reason printed otherwise.
@Suite(.serialized) struct DiskFullTests {
    /// A 16 MiB tmpfs mounted on a fresh folder, filled up to `free` bytes by `filler`.
    final class SmallDisk {
        let path: String
        var filler: String { path + "/filler" }

        init?(_ dir: TempDir) {
            path = dir.file("disk")
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            guard geteuid() == 0 else {
                print("DiskFullTests skipped: mounting a small tmpfs needs root")
                return nil
            }
            let mount = Process()
            mount.executableURL = URL(fileURLWithPath: "/bin/mount")
            mount.arguments = ["-t", "tmpfs", "-o", "size=16m", "tmpfs", path]
            mount.standardError = FileHandle.nullDevice
            guard (try? mount.run()) != nil else { print("DiskFullTests skipped: no /bin/mount"); return nil }
            mount.waitUntilExit()
            guard mount.terminationStatus == 0 else {
                print("DiskFullTests skipped: mount -t tmpfs failed (status \(mount.terminationStatus); a container without "
                      + "CAP_SYS_ADMIN?)")
                return nil
            }
        }

        /// Leaves about `free` bytes of room.
        func fill(leaving free: Int) throws {
            try? FileManager.default.removeItem(atPath: filler)
            var info = statvfs()
            statvfs(path, &info)
            let room = Int(info.f_bavail) * Int(info.f_frsize) - free
            try Data(count: max(0, room)).write(to: URL(fileURLWithPath: filler))
        }

        func makeRoom() { try? FileManager.default.removeItem(atPath: filler) }

        /// Remounts the disk read-only (or writable again): every write then fails with EROFS.
        func remount(readOnly: Bool) throws {
            let mount = Process()
            mount.executableURL = URL(fileURLWithPath: "/bin/mount")
            mount.arguments = ["-o", readOnly ? "remount,ro" : "remount,rw", path]
            try mount.run()
            mount.waitUntilExit()
            #expect(mount.terminationStatus == 0, "mount -o remount failed")
        }

        deinit {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", path]
            try? umount.run()
            umount.waitUntilExit()
        }
    }

    static func expectDiskFull(_ r: KDRun, _ what: String) {
        #expect(r.status == 74, "\(what): \(r.stderr)")
        #expect(r.stderr.contains("No space left on device"), "\(what): \(r.stderr)")
    }

    @Test func trainExtractAndDistillOnAFullDisk() throws {
        let dir = try TempDir()
        guard let disk = SmallDisk(dir) else { return }
        let store = try SyntheticStore.make(in: dir, train: 300, test: 100)
        let keep = disk.path + "/notes.txt"
        try "keep me".write(toFile: keep, atomically: true, encoding: .utf8)

        // Train: the first checkpoint (about 1 MB for resnet14) does not fit.
        let train = ["train", "--arch", "resnet14", "--data", store, "--out", disk.path + "/t", "--epochs", "2",
                     "--batch-size", "50", "--threads", "2"]
        try disk.fill(leaving: 300_000)
        let full = try KDProcess.run(train)
        Self.expectDiskFull(full, "train")
        #expect(full.stderr.contains(disk.path + "/t"), "\(full.stderr)")
        #expect(!FileManager.default.fileExists(atPath: disk.path + "/t/model.h5"))
        disk.makeRoom()
        let resumed = try KDProcess.run(train)
        #expect(resumed.status == 0, "\(resumed.stderr)")

        // Extract: the disk has room for half the file; with room again it continues. The
        // size is learnt from the same extraction on an ordinary disk.
        let features = disk.path + "/features.h5"
        let extract = ["extract", "--model", disk.path + "/t/model.h5", "--data", store, "--out", features,
                       "--views", "4", "--batch", "50", "--threads", "2"]
        let sized = dir.file("sized.h5")
        #expect(try KDProcess.run(extract.map { $0 == features ? sized : $0 }).status == 0)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: sized)[.size] as? Int)
        try disk.fill(leaving: size / 2)
        let noRoom = try KDProcess.run(extract)
        Self.expectDiskFull(noRoom, "extract")
        #expect(noRoom.stderr.contains(features), "\(noRoom.stderr)")
        #expect(!FileManager.default.fileExists(atPath: features))
        disk.makeRoom()
        let extracted = try KDProcess.run(extract)
        #expect(extracted.status == 0, "\(extracted.stderr)")

        // Distill: the run folder's first checkpoint does not fit.
        let distill = ["distill", "--method", "kd", "--arch", "resnet8", "--data", store, "--targets", features,
                       "--out", disk.path + "/kd", "--epochs", "1", "--batch-size", "50", "--threads", "2"]
        try disk.fill(leaving: 100_000)
        let kdFull = try KDProcess.run(distill)
        Self.expectDiskFull(kdFull, "distill")
        #expect(!FileManager.default.fileExists(atPath: disk.path + "/kd/model.h5"))
        disk.makeRoom()
        #expect(try KDProcess.run(distill).status == 0)
        #expect(try String(contentsOfFile: keep, encoding: .utf8) == "keep me")
    }

    @Test func aReadOnlyDiskIsRefusedByEveryWritingStageAndNothingOnItChanges() throws {
        let dir = try TempDir()
        guard let disk = SmallDisk(dir) else { return }
        defer { try? disk.remount(readOnly: false) }
        let store = try SyntheticStore.make(in: dir, train: 200, test: 50)
        let copy = disk.path + "/data.h5"
        try FileManager.default.copyItem(atPath: store, toPath: copy)
        // A finished run, and one stopped after its first epoch, to be resumed on the read-only disk.
        let train = ["train", "--arch", "resnet8", "--data", copy, "--epochs", "2", "--batch-size", "50", "--threads", "2"]
        #expect(try KDProcess.run(train + ["--out", disk.path + "/done"]).status == 0)
        let crashed = try KDProcess.run(train + ["--out", disk.path + "/run"], environment: ["KD_CRASH_AT": "checkpoint:2"])
        #expect(crashed.status != 0)
        let before = try Self.contents(of: disk.path)
        try disk.remount(readOnly: true)

        func refused(_ arguments: [String], naming path: String, _ what: String) throws {
            let r = try KDProcess.run(arguments)
            #expect([73, 74].contains(r.status), "\(what): \(r.stderr)")
            #expect(r.stderr.contains("Read-only file system") && r.stderr.contains(path), "\(what): \(r.stderr)")
        }
        try refused(train + ["--out", disk.path + "/run"], naming: disk.path + "/run", "resuming a run")
        try refused(train + ["--out", disk.path + "/new"], naming: disk.path + "/new", "a new run")
        try refused(["decode", dir.file("idx"), "--out", disk.path + "/decoded.h5"], naming: disk.path + "/decoded.h5",
                    "decode")
        try refused(["extract", "--model", disk.path + "/done/model.h5", "--data", copy,
                     "--out", disk.path + "/features.h5"], naming: disk.path + "/features.h5", "extract")
        // Reading from it is fine: a run writing elsewhere trains on the store there.
        let elsewhere = try KDProcess.run(train + ["--out", dir.file("elsewhere")])
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect(try Self.contents(of: disk.path) == before)
    }

    /// Every file under `path` with its bytes.
    static func contents(of path: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for case let name as String in FileManager.default.enumerator(atPath: path) ?? .init() {
            let full = path + "/" + name
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isFolder), !isFolder.boolValue {
                out[name] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return out
    }
}
