import Foundation
import KDCore

/// The folder of one training run and what lives in it:
///
///     run.json                 the settings the run was started with (refused if they change)
///     checkpoints/epoch-NNNN.h5 one per finished epoch (the newest few are kept)
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

    public func checkpoint(epoch: Int) -> String {
        checkpoints + "/" + String(format: "epoch-%04d.h5", epoch)
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

    /// Epochs of the checkpoints present, newest first.
    public func checkpointEpochs() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".h5") else { return nil }
            return Int(name.dropFirst(6).dropLast(3))
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

    /// Keeps the newest `keep` checkpoints.
    public func pruneCheckpoints(keep: Int) {
        for epoch in checkpointEpochs().dropFirst(keep) {
            try? FileManager.default.removeItem(atPath: checkpoint(epoch: epoch))
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
