import Foundation
import HDF5
import KDCore
import NeuralNet

/// One distillation method as `kd report` shows it (`Runs/<set>/logits/dgkd`, `…/ctkd/ctkd`): its
/// students, one per seed (`student-seed<S>/model.h5`, made by kd train or kd distill), each
/// with its test accuracy and its per-epoch test accuracy from the metrics.csv beside it; the
/// networks trained alongside it (CTKD's scratch teacher, `student-seed<S>/scratch/model.h5`)
/// the same way; and the teacher its first targets file was extracted from.
/// Cost: opening each model file and the first targets file for attributes.
public struct MethodResults {
    public struct Seed {
        public var seed: Int
        public var path: String
        public var accuracy: Double?
        /// Test accuracy per epoch.
        public var curve: [Double]
        /// The networks trained in the same run, by trainee name.
        public var companions: [String: Companion] = [:]
    }

    /// A network trained in the same run as a student (CTKD's scratch teacher).
    public struct Companion {
        public var arch: String?
        public var accuracy: Double?
        /// Test accuracy per epoch (the student's metrics.csv, column `test_accuracy/<name>`).
        public var curve: [Double]
    }

    public var name: String
    public var path: String
    public var studentArch: String?
    /// The teachers' feature files the students learned from (none for the labels alone).
    public var targets: [String]
    /// The model the first targets file was extracted from, and its test accuracy.
    public var teacher: (path: String, arch: String?, accuracy: Double?)?
    public var seeds: [Seed]

    /// Mean and (sample) standard deviation of the seeds' accuracies; the deviation is nil for
    /// one seed.
    public var accuracy: (mean: Double, std: Double?)? { Self.spread(seeds.compactMap(\.accuracy)) }

    /// The names of the networks trained alongside the students, in order of first appearance.
    public var companionNames: [String] {
        var names: [String] = []
        for s in seeds { for name in s.companions.keys.sorted() where !names.contains(name) { names.append(name) } }
        return names
    }

    /// As `accuracy`, of the companion network `name`.
    public func companionAccuracy(_ name: String) -> (mean: Double, std: Double?)? {
        Self.spread(seeds.compactMap { $0.companions[name]?.accuracy })
    }

    /// Mean and sample standard deviation (nil for one value); nil for none.
    static func spread(_ values: [Double]) -> (mean: Double, std: Double?)? {
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, nil) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }

    /// 66 for a missing folder, 65 for one without `student-seed<S>/model.h5`.
    public static func load(path: String, name: String) throws -> MethodResults {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw StageError.noInput("\(path): no such method folder")
        }
        let entries = isFolder.boolValue ? (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] : []
        let seeds = entries.compactMap { entry -> Int? in
            guard entry.hasPrefix("student-seed"), let s = Int(entry.dropFirst("student-seed".count)),
                  FileManager.default.fileExists(atPath: "\(path)/\(entry)/model.h5") else { return nil }
            return s
        }.sorted()
        guard !seeds.isEmpty else {
            throw StageError.badData("\(path) is not a method folder: it holds no student-seed<S>/model.h5 "
                                     + "(see Pipelines/logits.mk)")
        }
        var result = MethodResults(name: name, path: path, studentArch: nil, targets: [], teacher: nil, seeds: [])
        for seed in seeds {
            let folder = "\(path)/student-seed\(seed)"
            let file = try H5File.open(folder + "/model.h5")
            try ReportFiles.checkModel(file)
            if result.studentArch == nil, let text = try file.stringAttribute("arch") {
                result.studentArch = (try? Architecture(jsonText: text))?.name
            }
            if result.targets.isEmpty { result.targets = try file.stringArrayAttribute("targets") ?? [] }
            let table = EpochMetrics.table(inFolder: folder)
            var entry = Seed(seed: seed, path: folder + "/model.h5", accuracy: try file.doubleAttribute("test_accuracy"),
                             curve: table.rows.compactMap(\.testAccuracy))
            for column in table.columns where column.hasPrefix("accuracy/") {
                let name = String(column.dropFirst("accuracy/".count))
                let model = "\(folder)/\(name)/model.h5"
                guard FileManager.default.fileExists(atPath: model) else { continue }
                let companion = try H5File.open(model)
                entry.companions[name] = Companion(
                    arch: try companion.stringAttribute("arch").flatMap { try? Architecture(jsonText: $0).name },
                    accuracy: try companion.doubleAttribute("test_accuracy"),
                    curve: (EpochMetrics.column(column, of: table) ?? []).compactMap(\.test))
            }
            result.seeds.append(entry)
        }
        if let first = result.targets.first, let features = try? H5File.open(first),
           let model = try features.stringAttribute("model") {
            let accuracy = (try? H5File.open(model)).flatMap { try? $0.doubleAttribute("test_accuracy") }
            result.teacher = (model, try features.stringAttribute("model_arch"), accuracy)
        }
        return result
    }
}
