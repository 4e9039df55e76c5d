import Datasets
import Distillation
import Foundation
import FuzzSupport
import KDCore
import NeuralNet
import Testing

/// Seeded mutation tests of kd's own HDF5 inputs through the readers every stage uses: a data
/// store (`DataStore` + `ImageSet.load`), a model (`TrainedModel.load`) and a feature file
/// (`FeatureStore`, every dataset of every split), each truncated, with bytes flipped or zeroed,
/// a metadata byte set to an extreme, or bytes appended (`ByteMutation`). Every mutant either
/// throws a `StageError` or reads exactly what the undamaged file holds — never a crash, a hang
/// (`HangWatchdog`) or a silently wrong number: HDF5's metadata is checksummed by the 1.8 format
/// and kd gives every chunk of data a Fletcher-32 checksum.
///
/// Strings are fixed-length attributes, inside those checksummed headers: variable-length
/// strings live in HDF5's unchecksummed global heap, where one damaged byte makes libhdf5 1.10
/// loop forever in `H5HG_read` — found by this test.
@Suite(.serialized) struct HDF5FuzzTests {
    /// How each mutation fared on one kind of file.
    struct Outcome: CustomStringConvertible {
        var read: [String: Int] = [:], refused: [String: Int] = [:]
        var total: Int { read.values.reduce(0, +) + refused.values.reduce(0, +) }
        var description: String {
            "\(total) mutants: " + ByteMutation.allCases.map { m in
                "\(m) \(read["\(m)", default: 0]) read / \(refused["\(m)", default: 0]) refused"
            }.joined(separator: ", ")
        }
    }

    /// Reads `mutants` damaged copies of `path` with `read` (which returns a hash of everything
    /// it read), counting what each mutation did; a mutant that reads must hash as the original.
    static func fuzz(_ path: String, mutants: Int, seed: UInt64, in dir: TempDir,
                     read: (String) throws -> Int) throws -> Outcome {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let expected = try read(path)
        var rng = SplitMix64(state: seed)
        var outcome = Outcome()
        let copy = dir.file("mutant.h5")
        let watchdog = HangWatchdog(limit: 30)
        defer { watchdog.stop() }
        for n in 0..<mutants {
            // HDF5 keeps the superblock and the root group's header in the first 2 KiB.
            let (mutation, bytes) = ByteMutation.random(original, header: 2048, rng: &rng)
            try Data(bytes).write(to: URL(fileURLWithPath: copy))
            let label = "mutant \(n) (\(mutation)) of \(path), seed \(seed)"
            do {
                let got = try watchdog.watch("reading \(label)") { try read(copy) }
                #expect(got == expected, "\(label) read other content than the original")
                outcome.read["\(mutation)", default: 0] += 1
            } catch let error as StageError {
                #expect(!error.message.isEmpty)
                outcome.refused["\(mutation)", default: 0] += 1
            }
        }
        return outcome
    }

    @Test func dataStoreModelAndFeatures() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", dir.file("f.h5"),
                                   "--views", "2", "--attention", "features.3", "--threads", "1"]).status == 0)
        let stores = try Self.fuzz(store, mutants: 2000, seed: 1, in: dir) { path in
            let opened = try DataStore(path: path)
            var hasher = Hasher()
            hasher.combine(opened.classes)
            for split in opened.splitNames {
                let images = try ImageSet.load(opened, split: split)
                hasher.combine(images.pixels)
                hasher.combine(images.labels)
            }
            return hasher.finalize()
        }
        let models = try Self.fuzz(dir.file("t/model.h5"), mutants: 2000, seed: 2, in: dir) { path in
            let loaded = try TrainedModel.load(path: path)
            var hasher = Hasher()
            hasher.combine(loaded.classes)
            for (name, parameter) in loaded.model.stateDict {
                hasher.combine(name)
                hasher.combine(parameter.value.data.map(\.bitPattern))
            }
            return hasher.finalize()
        }
        let features = try Self.fuzz(dir.file("f.h5"), mutants: 2000, seed: 3, in: dir) { path in
            let opened = try FeatureStore(path: path)
            var hasher = Hasher()
            for name in opened.splitNames {
                let split = try opened.split(name), rows = 0..<split.count
                hasher.combine(try split.readLabels())
                var floats = [try split.readFeatures(rows), try split.readLogits(rows), try split.readAttention("features.3", rows)]
                if split.viewCount > 1 {   // the training split's augmented views
                    floats += [try split.readViewFeatures(rows), try split.readViewLogits(rows),
                               try split.readViewAttention("features.3", rows)]
                    hasher.combine(try split.readViewParams(rows).map { "\($0)" })
                }
                for values in floats { hasher.combine(values.map(\.bitPattern)) }
            }
            return hasher.finalize()
        }
        for (kind, counts) in [("data store", stores), ("model", models), ("feature file", features)] {
            print("fuzzed \(kind): \(counts)")
            #expect(counts.read["truncate", default: 0] == 0, "\(kind): a truncated file read")
            #expect(counts.refused["flipBytes", default: 0] > 0 && counts.refused["zeroRun", default: 0] > 0, "\(kind)")
        }
    }
}
