import Datasets
import Distillation
import Foundation
import KDCore
import NeuralNet
import Testing

/// Seeded mutation tests of kd's own HDF5 inputs through the readers every stage uses: a data
/// store (`DataStore` + `ImageSet.load`), a model (`TrainedModel.load`) and a feature file
/// (`FeatureStore` + `checkWhole`), each cut short at a random length. Every mutant either
/// reads or throws a `StageError`; a crash or hang fails the suite.
@Suite(.serialized) struct HDF5FuzzTests {
    /// A damaged copy: cut short, as a partial copy or an interrupted transfer leaves a file.
    /// Bytes changed inside the file are left out: a zeroed or flipped byte in HDF5's global
    /// heap (where variable-length string attributes live) makes libhdf5 1.10 loop forever in
    /// `H5HG_read` — found by this test, a library bug that kd cannot catch from outside.
    static func mutate(_ bytes: [UInt8], _ rng: inout RandomState) -> [UInt8] {
        Array(bytes.prefix(rng.nextInt(below: bytes.count)))
    }

    /// Reads `mutants` damaged copies of `path` with `read`; returns how many read and how many
    /// were refused.
    static func fuzz(_ path: String, mutants: Int, seed: UInt64, in dir: TempDir,
                     read: (String) throws -> Void) throws -> (read: Int, refused: Int) {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = RandomState(seed: seed)
        var counts = (read: 0, refused: 0)
        let copy = dir.file("mutant.h5")
        for _ in 0..<mutants {
            try Data(mutate(original, &rng)).write(to: URL(fileURLWithPath: copy))
            do {
                try read(copy)
                counts.read += 1
            } catch is StageError {
                counts.refused += 1
            }
        }
        return counts
    }

    @Test func dataStoreModelAndFeatures() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", dir.file("f.h5"),
                                   "--views", "2", "--attention", "features.3", "--threads", "1"]).status == 0)
        let stores = try Self.fuzz(store, mutants: 1500, seed: 1, in: dir) { path in
            let opened = try DataStore(path: path)
            for split in opened.splitNames { _ = try ImageSet.load(opened, split: split) }
        }
        let models = try Self.fuzz(dir.file("t/model.h5"), mutants: 1500, seed: 2, in: dir) { path in
            _ = try TrainedModel.load(path: path)
        }
        let features = try Self.fuzz(dir.file("f.h5"), mutants: 1500, seed: 3, in: dir) { path in
            try FeatureStore(path: path).checkWhole()
        }
        for (kind, counts) in [("data store", stores), ("model", models), ("feature file", features)] {
            print("fuzzed \(counts.read + counts.refused) \(kind) mutants: \(counts.read) read, \(counts.refused) refused")
            #expect(counts.refused > 100, "\(kind): most damage must be noticed")
        }
    }
}
