import Datasets
import KDCore
import NeuralNet

/// `kd distill`: a student trained to regress chunk K of N of the dense features in a feature
/// file (the Teacher-Class network's students; in a hierarchy, the features of the level
/// above). The student's output must be as wide as the chunk; its input follows the store.
public enum StudentDistillation {
    public static func prepare(architecture: Architecture, dataPath: String, targetsPath: String,
                               chunk: ChunkSpec, runPath: String, recipe: Recipe) throws -> TrainingRun {
        let store = try DataStore(path: dataPath)
        let adapted = architecture.with(input: store.imageShape)
        try TeacherTraining.checkTakes(adapted, store)
        let objective = try RegressionObjective(targetsPath: targetsPath, chunk: chunk, store: store, augment: recipe.augment)
        let outputs = try Model(adapted).outputWidth
        guard outputs == objective.width else {
            throw StageError.badData("architecture \(adapted.name) outputs \(outputs) values, but chunk \(chunk) of "
                                     + "\(targetsPath) is \(objective.width) wide; choose a student whose output "
                                     + "matches (s1: 512, s2: 256, s4: 128, s8: 64) or another --chunk")
        }
        return TrainingRun(stage: "distill", architecture: adapted, store: store, runPath: runPath,
                           recipe: recipe, objective: objective)
    }
}
