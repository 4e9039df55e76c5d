import Foundation
import KDCore

/// The folder of one training run and what lives in it:
///
///     run.json                 the settings the run was started with (refused if they change)
///     checkpoints/epoch-NNNN.h5 one per finished epoch (the newest few are kept)
///     checkpoints/epoch-NNNN-step-SSSSSS.h5  inside epoch NNNN after SSSSSS steps, written
///                              when a signal stopped the run (removed once the epoch is done)
///     metrics.csv              one row per finished epoch
///     model.h5                 the frozen result, written last
///     <trainee>/model.h5       each further network the run trains (CTKD: scratch/model.h5)
///     .lock                    held while a process works in the folder
///
/// Every file is written beside its final name and renamed into place, so whatever exists is
/// whole. Cost: directory listings and small files only.
public struct RunDirectory {
    public let root: String
    public var checkpoints: String { root + "/checkpoints" }
    public var metrics: String { root + "/metrics.csv" }
    public var model: String { root + "/model.h5" }
    public var settings: String { root + "/run.json" }

    public init(_ root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    /// The model file of a further trainee of the run.
    public func model(of trainee: String) -> String { root + "/" + trainee + "/model.h5" }

    /// Where a checkpoint stands: after a whole epoch (`step` nil), or inside one after `step`
    /// training steps. Ordered by progress.
    public struct CheckpointPosition: Comparable, Sendable {
        public var epoch: Int
        public var step: Int?

        public init(epoch: Int, step: Int? = nil) {
            self.epoch = epoch
            self.step = step
        }

        public static func < (a: Self, b: Self) -> Bool {
            (a.epoch, a.step ?? Int.max) < (b.epoch, b.step ?? Int.max)
        }
    }

    public func checkpoint(epoch: Int, step: Int? = nil) -> String {
        checkpoints + "/" + String(format: "epoch-%04d", epoch) + (step.map { String(format: "-step-%06d", $0) } ?? "") + ".h5"
    }

    public func checkpoint(at position: CheckpointPosition) -> String {
        checkpoint(epoch: position.epoch, step: position.step)
    }

    /// Creates the folders (73 when that fails).
    public func create() throws {
        try Folder.create(checkpoints, for: "run folder")
    }

    /// Takes the folder's lock (`.lock`) for the life of the process; 75 naming the other
    /// process when it holds it.
    public func lock() throws {
        try OutputLock.claim(root, lockPath: root + "/.lock")
    }

    /// The checkpoints present, newest first.
    public func checkpointPositions() -> [CheckpointPosition] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
        return names.compactMap { name -> CheckpointPosition? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".h5") else { return nil }
            let parts = name.dropFirst(6).dropLast(3).split(separator: "-", omittingEmptySubsequences: false)
            switch parts.count {
            case 1: return Int(parts[0]).map { CheckpointPosition(epoch: $0) }
            case 3 where parts[1] == "step":
                guard let epoch = Int(parts[0]), let step = Int(parts[2]) else { return nil }
                return CheckpointPosition(epoch: epoch, step: step)
            default: return nil
            }
        }.sorted(by: >)
    }

    /// Removes `.partial` files a killed process left behind.
    public func removeLeftovers(trainees: [String] = []) {
        for folder in [root, checkpoints] + trainees.map({ root + "/" + $0 }) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".partial") {
                try? FileManager.default.removeItem(atPath: folder + "/" + name)
            }
        }
    }

    /// Removes every result of an earlier run (for `--restart`), the further trainees' models too.
    public func clear(trainees: [String] = []) throws {
        for path in [settings, metrics, model, checkpoints] + trainees.map(model(of:))
            where FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
        }
        try create()
    }

    /// Keeps the newest `keep` checkpoints of whole epochs; an in-epoch checkpoint goes as soon
    /// as a whole epoch's is newer.
    public func pruneCheckpoints(keep: Int) {
        let positions = checkpointPositions()
        let newestWhole = positions.first { $0.step == nil }
        let whole = positions.filter { $0.step == nil }
        let stale = positions.filter { position in
            position.step != nil && newestWhole.map { position < $0 } == true
        }
        for position in Array(whole.dropFirst(keep)) + stale {
            try? FileManager.default.removeItem(atPath: checkpoint(at: position))
        }
    }

    /// Writes `text` to `path` through a partial file and a rename.
    public static func writeAtomically(_ text: String, to path: String) throws {
        let output = AtomicOutput(path)
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output.partialPath))
            try output.commit()
        } catch let error as StageError {
            output.discard(); throw error
        } catch {
            output.discard()
            throw StageError.cantCreate("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
