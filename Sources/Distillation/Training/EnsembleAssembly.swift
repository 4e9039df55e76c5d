import Datasets
import Foundation
import HDF5
import KDCore
import NeuralNet

/// `kd ensemble`: a Teacher-Class network — N students side by side, their outputs concatenated
/// in chunk order into the teacher's output layer — evaluated, then fine-tuned with
/// cross-entropy (the head alone by default, or everything). The result is one ordinary model
/// file (`members.<i>.…` and `classifier.…` parameters), which `kd eval` and `kd extract` take
/// like any other.
///
/// Before any work it checks that the students belong together: one root teacher (the head's
/// file), slices that tile the teacher's feature vector in order without gap or overlap, and one
/// input normalization. Cost: loading the members; the fine-tuning epochs.
public struct EnsembleAssembly {
    public var studentPaths: [String]
    public var headPath: String
    public var dataPath: String
    public var runPath: String
    public var recipe: Recipe
    public var finetuneStudents = false

    public init(studentPaths: [String], headPath: String, dataPath: String, runPath: String, recipe: Recipe) {
        self.studentPaths = studentPaths
        self.headPath = headPath
        self.dataPath = dataPath
        self.runPath = runPath
        self.recipe = recipe
    }

    public struct Outcome {
        public var modelPath: String
        public var parameterCount: Int
        public var accuracyBefore: Double?
        public var accuracyAfter: Double?
        public var alreadyComplete: Bool
    }

    /// Runs the stage; `restart` and `keepCheckpoints` as for `TrainingRun`.
    public func run(restart: Bool, keepCheckpoints: Int) throws -> Outcome {
        guard !studentPaths.isEmpty else { throw StageError.usage("give the students with --students M1.h5 … MN.h5") }
        let store = try DataStore(path: dataPath)
        let teacher = try TrainedModel.load(path: headPath)
        guard let head = teacher.model.head, let headSpec = teacher.model.architecture.head else {
            throw StageError.badData("\(headPath) has no output layer to put on the students (its architecture has no head)")
        }
        try teacher.checkInput(store.imageShape, of: dataPath)
        guard headSpec.out == store.classes.count else {
            throw StageError.badData("\(headPath)'s output layer scores \(headSpec.out) classes, but \(dataPath) has "
                                     + "\(store.classes.count); give the teacher trained on this store")
        }
        let rootSHA = try FileDigest.sha256(path: headPath)
        let students = try studentPaths.map { try TrainedModel.load(path: $0) }
        let slices = try zip(studentPaths, students).map { path, student in
            try FeatureSlice.read(from: try H5File.open(path), width: student.model.outputWidth)
        }
        try checkTiling(slices, rootSHA: rootSHA, width: head.weight.value.shape[1])
        for (path, student) in zip(studentPaths, students) {
            try student.checkInput(store.imageShape, of: dataPath)
            guard student.normalization == students[0].normalization else {
                throw StageError.badData("\(path) was trained with another input normalization than \(studentPaths[0]) "
                                         + "(mean \(student.normalization.mean) vs \(students[0].normalization.mean)); "
                                         + "members must see the same inputs")
            }
        }

        let architecture = Self.architecture(members: students.map(\.model.architecture), input: store.imageShape,
                                             head: headSpec)
        let initialize: (Model) throws -> Void = { model in
            var values: [String: Tensor] = [:]
            for (i, student) in students.enumerated() {
                for (name, p) in student.model.stateDict { values["members.\(i).\(name)"] = p.value }
            }
            for (name, p) in head.namedParameters { values["\(headSpec.name).\(name)"] = p.value }
            for (name, p) in model.stateDict {
                guard let v = values[name], v.shape == p.value.shape else {
                    throw StageError(.software, "ensemble parameter \(name) has no counterpart in its members")
                }
                p.value = v
            }
        }

        // Accuracy of the assembled ensemble, before any fine-tuning.
        let assembled = try Model(architecture)
        try initialize(assembled)
        let test = store.splitNames.contains("test") ? try ImageSet.load(store, split: "test") : nil
        let before = test.map {
            Evaluation.run(assembled, normalization: students[0].normalization, on: $0, classes: headSpec.out).accuracy
        }
        let describe: (H5File) throws -> Void = { file in
            try file.setAttribute("ensemble_members", studentPaths)
            try file.setAttribute("ensemble_head", headPath)
            try file.setAttribute("ensemble_size", students.count)
            try file.setAttribute("finetune", finetuneStudents ? "all" : "head")
            if let before { try file.setAttribute("test_accuracy_before_finetune", before) }
        }

        if recipe.epochs == 0 {
            let folder = RunDirectory(runPath)
            try folder.create()
            try folder.lock()
            try ModelFile.save(assembled, to: folder.model, kind: .model) { file in
                try students[0].normalization.write(to: file)
                try file.setAttribute("classes", store.classes)
                try file.setAttribute("data", dataPath)
                try file.setAttribute("data_sha256", try FileDigest.sha256(path: dataPath))
                try describe(file)
                if let before { try file.setAttribute("test_accuracy", before) }
            }
            return Outcome(modelPath: folder.model, parameterCount: assembled.parameterCount,
                           accuracyBefore: before, accuracyAfter: before, alreadyComplete: false)
        }

        let memberDigests = try studentPaths.map { try FileDigest.sha256(path: $0) }
        let objective = Objective.classification(
            classes: store.classes, augment: recipe.augment,
            settings: ["members_sha256": memberDigests.joined(separator: ","), "head_sha256": rootSHA,
                       "finetune": finetuneStudents ? "all" : "head"])
        var trainee = Trainee(name: "ensemble", architecture: architecture)
        trainee.initialize = initialize
        trainee.frozenTrunk = !finetuneStudents
        trainee.describeModel = describe
        var job = TrainingRun(stage: "ensemble", trainees: [trainee], store: store, runPath: runPath,
                              recipe: recipe, objective: objective)
        job.normalization = students[0].normalization
        job.restart = restart
        job.keepCheckpoints = keepCheckpoints
        let outcome = try job.run()
        return Outcome(modelPath: outcome.modelPath, parameterCount: assembled.parameterCount, accuracyBefore: before,
                       accuracyAfter: outcome.last?.testAccuracy, alreadyComplete: outcome.alreadyComplete)
    }

    /// The ensemble as an architecture: a `concat` of the members (each its body and head, named
    /// `members.<i>`), then the teacher's output layer.
    public static func architecture(members: [Architecture], input: [Int], head: Architecture.Head) -> Architecture {
        let branches = members.enumerated().map { index, member in
            LayerSpec(.sequential(member.layerList + (member.head.map {
                [LayerSpec(.linear(out: $0.out, bias: $0.bias), name: $0.name)]
            } ?? [])), name: String(index))
        }
        return Architecture(name: "ensemble-\(members.count)", input: input,
                            body: .layers([LayerSpec(.concat(branches), name: "members")]), head: head)
    }

    /// Refuses members that do not stand for consecutive slices of one root's `width`-d feature,
    /// starting at 0 and ending at `width`, in the order given.
    func checkTiling(_ slices: [FeatureSlice], rootSHA: String, width: Int) throws {
        for (path, slice) in zip(studentPaths, slices) where slice.rootSHA256 != rootSHA {
            throw StageError.badData("\(path) stands for a slice of another teacher (root \(slice.rootSHA256.prefix(12))…) "
                                     + "than \(headPath) (\(rootSHA.prefix(12))…); all members and the head must share one root")
        }
        func show(_ r: Range<Int>) -> String { "[\(r.lowerBound), \(r.upperBound))" }
        let members = zip(studentPaths, slices).sorted { $0.1.range.lowerBound < $1.1.range.lowerBound }
        var next = 0
        for (path, slice) in members {
            if slice.range.lowerBound > next {
                throw StageError.badData("gap: no student stands for \(show(next ..< slice.range.lowerBound)) of the "
                                         + "teacher's \(width)-d feature (the next student, \(path), starts at "
                                         + "\(slice.range.lowerBound))")
            }
            if slice.range.lowerBound < next {
                throw StageError.badData("overlap: \(path) stands for \(show(slice.range)), which overlaps another "
                                         + "student's slice (up to \(next))")
            }
            next = slice.range.upperBound
        }
        if next < width {
            throw StageError.badData("gap: no student stands for \(show(next ..< width)) of the teacher's \(width)-d feature")
        }
        if next > width {
            throw StageError.badData("the students stand for values up to \(next), but the teacher's feature is \(width)-d; "
                                     + "they were not distilled from \(headPath)")
        }
        if members.map(\.0) != studentPaths {
            throw StageError.badData("wrong order: give the students in chunk order, "
                                     + members.map { "\($0.0) \(show($0.1.range))" }.joined(separator: ", "))
        }
    }
}
