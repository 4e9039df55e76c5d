import Datasets
import KDCore
import NeuralNet

/// `kd train`: a classifier trained on a data store's labels — the teacher of every
/// distillation. The architecture's input and number of classes follow the store.
public enum TeacherTraining {
    public static func prepare(architecture: Architecture, dataPath: String, runPath: String,
                               recipe: Recipe) throws -> TrainingRun {
        let store = try DataStore(path: dataPath)
        guard architecture.head != nil else {
            throw StageError.usage("architecture \(architecture.name) has no classifier head; kd train needs one "
                                   + "(students without a head are trained by kd distill)")
        }
        let adapted = try architecture.with(input: store.imageShape).with(classes: store.classes.count)
        try checkTakes(adapted, store)
        return TrainingRun(stage: "train", architecture: adapted, store: store, runPath: runPath, recipe: recipe,
                           objective: .classification(classes: store.classes, augment: recipe.augment))
    }

    /// The network built for the store's images (for further checks of its shapes); 65 when it
    /// cannot be.
    @discardableResult
    static func checkTakes(_ architecture: Architecture, _ store: DataStore) throws -> Model {
        do { return try Model(architecture) } catch let error as StageError {
            throw StageError.badData("architecture \(architecture.name) does not take the images of \(store.path) "
                                     + "(\(store.imageShape.map(String.init).joined(separator: "×"))): \(error.message)")
        }
    }
}
