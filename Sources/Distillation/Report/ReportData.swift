import Foundation
import HDF5
import KDCore

/// One experiment as `kd report` shows it, read from its run folder (`Runs/<set>/direct`):
/// its ensembles (`ensemble-<N>/model.h5`, N students each), their students — found through
/// each ensemble's `ensemble_members` — and the teacher whose output layer they share.
/// Cost: opening each model file for its attributes and reading each student's `metrics.csv`.
public struct ExperimentResults {
    public var name: String
    public var path: String
    public var teacher: TeacherResult
    /// By number of students, ascending.
    public var ensembles: [EnsembleResult]

    /// Reads the experiment in `path`: 66 when the folder is missing, 65 when it holds no
    /// `ensemble-<N>/model.h5` or a model lacks what the report needs.
    public static func load(path: String, name: String) throws -> ExperimentResults {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw StageError.noInput("\(path): no such experiment folder")
        }
        guard isFolder.boolValue else {
            throw StageError.badData("\(path) is a file; expected an experiment folder holding ensemble-<N>/model.h5")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let sizes = entries.compactMap { entry -> Int? in
            guard entry.hasPrefix("ensemble-"), let n = Int(entry.dropFirst("ensemble-".count)), n >= 1,
                  FileManager.default.fileExists(atPath: "\(path)/\(entry)/model.h5") else { return nil }
            return n
        }.sorted()
        guard !sizes.isEmpty else {
            throw StageError.badData("\(path) is not an experiment folder: it holds no ensemble-<N>/model.h5 "
                                     + "(made by kd ensemble; see Pipelines/Makefile)")
        }
        let ensembles = try sizes.map { try EnsembleResult.load(path: "\(path)/ensemble-\($0)/model.h5", size: $0) }
        let heads = Set(ensembles.map(\.headPath))
        guard heads.count == 1, let head = heads.first else {
            throw StageError.badData("the ensembles in \(path) sit on different teachers (\(heads.sorted().joined(separator: ", "))); "
                                     + "an experiment compares students of one teacher")
        }
        return ExperimentResults(name: name, path: path, teacher: try TeacherResult.load(path: head), ensembles: ensembles)
    }

    /// The ensemble of `size` students, if the experiment has one.
    public func ensemble(size: Int) -> EnsembleResult? {
        ensembles.first { $0.size == size }
    }
}

/// The teacher of an experiment: the model whose output layer the ensembles use.
public struct TeacherResult {
    public var path: String
    public var accuracy: Double?
    public var parameterCount: Int?

    static func load(path: String) throws -> TeacherResult {
        let file = try H5File.open(path)
        try ReportFiles.checkModel(file)
        return TeacherResult(path: path, accuracy: try file.doubleAttribute("test_accuracy"),
                             parameterCount: try file.intAttribute("param_count"))
    }
}

/// One ensemble: its accuracy as assembled and after fine-tuning, its size, its students.
public struct EnsembleResult {
    public var size: Int
    public var path: String
    public var headPath: String
    public var parameterCount: Int?
    public var accuracyBeforeFinetune: Double?
    public var accuracy: Double?
    /// In chunk order.
    public var students: [StudentResult]

    static func load(path: String, size: Int) throws -> EnsembleResult {
        let file = try H5File.open(path)
        try ReportFiles.checkModel(file)
        guard let members = try file.stringArrayAttribute("ensemble_members"),
              let head = try file.stringAttribute("ensemble_head") else {
            throw StageError.badData("\(path) is not an ensemble: it lacks the ensemble_members and ensemble_head "
                                     + "attributes (made by kd ensemble)")
        }
        guard members.count == size else {
            throw StageError.badData("\(path) has \(members.count) students but its folder says ensemble-\(size)")
        }
        let names = StudentResult.names(count: size)
        return EnsembleResult(
            size: size, path: path, headPath: head, parameterCount: try file.intAttribute("param_count"),
            accuracyBeforeFinetune: try file.doubleAttribute("test_accuracy_before_finetune"),
            accuracy: try file.doubleAttribute("test_accuracy"),
            students: try zip(names, members).map { try StudentResult.load(path: $1, name: $0, ensemble: path) })
    }
}

/// One student: its seed-paper name, the slice of the teacher's feature it stands for, its
/// final training and test MSE and its training-loss curve (one value per epoch).
public struct StudentResult {
    public var name: String
    public var path: String
    public var chunk: String?
    public var rootRange: Range<Int>?
    public var trainLoss: Double?
    public var testLoss: Double?
    /// Training loss per epoch from the run folder's `metrics.csv`; empty when there is none.
    public var curve: [Double]

    static func load(path: String, name: String, ensemble: String) throws -> StudentResult {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StageError.noInput("\(path), a student of \(ensemble), does not exist")
        }
        let file = try H5File.open(path)
        try ReportFiles.checkModel(file)
        let range = try file.intArrayAttribute("root_range")
        let rows = EpochMetrics.rows(inFolder: (path as NSString).deletingLastPathComponent)
        return StudentResult(name: name, path: path, chunk: try file.stringAttribute("chunk"),
                             rootRange: range.flatMap { $0.count == 2 && $0[0] <= $0[1] ? $0[0] ..< $0[1] : nil },
                             trainLoss: try file.doubleAttribute("train_loss"), testLoss: try file.doubleAttribute("test_loss"),
                             curve: rows.map(\.trainLoss))
    }

    /// The seed paper's names of the students of an ensemble of `count`, in chunk order:
    /// S1; S01, S2; S11, S22, S33, S44; SS11 … SS88 (other sizes: S<count>.<k>).
    public static func names(count: Int) -> [String] {
        switch count {
        case 1: ["S1"]
        case 2: ["S01", "S2"]
        case 4: (1...4).map { "S\($0)\($0)" }
        case 8: (1...8).map { "SS\($0)\($0)" }
        default: (1...count).map { "S\(count).\($0)" }
        }
    }
}

/// Checks shared by the report's readers.
enum ReportFiles {
    /// 65 unless `file` is a kd model.
    static func checkModel(_ file: H5File) throws {
        guard try file.stringAttribute("kd_kind") == "model" else {
            throw StageError.badData("\(file.path) is not a kd model file (kd_kind is not \"model\")")
        }
    }
}
