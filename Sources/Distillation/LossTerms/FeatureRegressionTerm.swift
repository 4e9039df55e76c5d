import Datasets
import KDCore
import NeuralNet

/// `mse`: the Teacher-Class students' term — MSE (the mean over every value, as PyTorch's
/// `F.mse_loss`) between the network's output and a chunk of a teacher's stored dense features.
/// Cost: the chunk's columns in memory (N × width floats per split and view).
public struct FeatureRegressionTerm: LossTerm {
    public var name: String
    public var inputs: [String] { [Objective.output] }
    let targets: StoredRows

    init(name: String = "mse", targets: StoredRows) {
        self.name = name
        self.targets = targets
    }

    /// Chunk `chunk` of the flat dense features in `file` (and of its views when `views`).
    init(chunkOf file: TargetsFile, chunk: ChunkSpec, store: DataStore, views: Bool) throws {
        let train = try file.features.split("train")
        guard train.featureShape.count == 1 else {
            throw StageError.badData("\(file.path): /train/features are \(train.featureShape) per image; "
                                     + "expected flat dense features [N, D]")
        }
        let columns = try chunk.columns(of: train.featureWidth, in: file.path)
        self.init(targets: try file.rows(.features(columns: columns), store: store, views: views))
    }

    public var width: Int { targets.width }

    public func evaluate(_ outputs: [String: Tensor], batch: BatchRows) -> (value: Float, gradients: [String: Tensor]) {
        let (loss, grad) = meanSquaredError(prediction: outputs[Objective.output]!, target: targets.rows(for: batch))
        return (loss, [Objective.output: grad])
    }
}
