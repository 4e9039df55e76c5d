import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A disk that fills up under train, extract and distill: the stage exits 74 naming the file and
/// the system's reason, leaves nothing under the final name and other files untouched, and —
/// once there is room again — the same command finishes from the progress already on disk.
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

        // Extract: some blocks fit, then the disk is full; with room again it continues.
        let features = disk.path + "/features.h5"
        let extract = ["extract", "--model", disk.path + "/t/model.h5", "--data", store, "--out", features,
                       "--views", "4", "--batch", "50", "--threads", "2"]
        try disk.fill(leaving: 200_000)
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
}
