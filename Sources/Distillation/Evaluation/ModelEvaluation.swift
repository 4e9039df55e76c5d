import Datasets
import KDCore
import NeuralNet

/// `kd eval`: a frozen model on one split of a data store, after checking they fit together.
public enum ModelEvaluation {
    public static func run(modelPath: String, dataPath: String, split: String, batchSize: Int) throws -> EvaluationReport {
        guard (1...Model.maxBatch).contains(batchSize) else {
            throw StageError.usage("--batch must be in 1…\(Model.maxBatch), got \(batchSize)")
        }
        let trained = try TrainedModel.load(path: modelPath)
        let store = try DataStore(path: dataPath)
        try trained.checkInput(store.imageShape, of: dataPath)
        guard trained.model.outputWidth == store.classes.count else {
            throw StageError.badData("\(modelPath) has \(trained.model.outputWidth) outputs, "
                                     + "but \(dataPath) has \(store.classes.count) classes")
        }
        let images = try ImageSet.load(store, split: split)
        let evaluation = Evaluation.run(trained.model, normalization: trained.normalization, on: images,
                                        classes: store.classes.count, batchSize: batchSize)
        return EvaluationReport(model: modelPath, data: dataPath, split: split, classes: store.classes,
                                evaluation: evaluation)
    }
}
