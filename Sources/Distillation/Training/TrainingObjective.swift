import Datasets
import HDF5
import NeuralNet

/// What a training run optimizes, and how it reads a batch: the part that differs between
/// `kd train` (a classifier against labels) and `kd distill` (a student against stored
/// features), while `TrainingRun` keeps the loop, checkpoints and resume the same for both.
public protocol TrainingObjective {
    /// The settings that define the objective beyond the recipe (targets file, chunk), recorded
    /// in run.json so a changed objective is refused like a changed recipe.
    var settings: [String: String] { get }

    /// Whether outputs are class scores (accuracy is then measured beside the loss).
    var classifies: Bool { get }

    /// The mean loss over `rows` of `set` and its gradient with respect to `outputs`; `views`
    /// says, per row, which stored view of the image the batch shows (nil: the plain image).
    func loss(outputs: Tensor, set: ImageSet, rows: ArraySlice<Int>, views: [Int]?) throws -> (loss: Float, grad: Tensor)

    /// How each image of a training batch is augmented, drawn from `rng`: the crop and flip per
    /// row (nil: none) and the stored view they stand for (nil: not a stored view).
    func augmentation(rows: ArraySlice<Int>, set: ImageSet, rng: inout RandomState) throws -> (crops: [CropFlip]?, views: [Int]?)

    /// Attributes the finished model file carries beyond weights and provenance.
    func describe(model file: H5File) throws
}

extension TrainingObjective {
    /// Mean loss (and accuracy, for classifiers) of `model` in inference mode over `set`.
    func measure(_ model: Model, on set: ImageSet, normalization: InputNormalization,
                 batchSize: Int = 256) throws -> (loss: Double, accuracy: Double?) {
        var batch = Tensor(shape: [0])
        var lossSum = 0.0, correct = 0
        var start = 0
        while start < set.count {
            let rows = start..<min(start + batchSize, set.count)
            let slice = Array(rows)[...]
            set.fill(&batch, indices: slice, normalization: normalization)
            let outputs = model.forward(batch, mode: .inference)
            lossSum += Double(try loss(outputs: outputs, set: set, rows: slice, views: nil).loss) * Double(rows.count)
            if classifies { correct += countCorrect(outputs, set: set, rows: slice) }
            start = rows.upperBound
        }
        let n = Double(max(set.count, 1))
        return (lossSum / n, classifies ? Double(correct) / n : nil)
    }

    func countCorrect(_ outputs: Tensor, set: ImageSet, rows: ArraySlice<Int>) -> Int {
        zip(argmaxRows(outputs), rows).reduce(0) { $0 + ($1.0 == set.labels[$1.1] ? 1 : 0) }
    }
}

/// `kd train`'s objective: softmax cross-entropy against the store's labels, with the CIFAR
/// augmentation (random crop with zero padding, horizontal flip) when the recipe asks for it.
public struct ClassificationObjective: TrainingObjective {
    public var classes: [String]
    public var augment: Bool
    /// What else defines the run (an ensemble's members and what it fine-tunes).
    public var settings: [String: String]

    public init(classes: [String], augment: Bool, settings: [String: String] = [:]) {
        self.classes = classes
        self.augment = augment
        self.settings = settings
    }

    public var classifies: Bool { true }

    public func loss(outputs: Tensor, set: ImageSet, rows: ArraySlice<Int>, views: [Int]?) -> (loss: Float, grad: Tensor) {
        softmaxCrossEntropy(logits: outputs, labels: rows.map { set.labels[$0] })
    }

    public func augmentation(rows: ArraySlice<Int>, set: ImageSet, rng: inout RandomState) -> (crops: [CropFlip]?, views: [Int]?) {
        (augment ? rows.map { _ in CropFlip.random(pad: Recipe.cropPadding, &rng) } : nil, nil)
    }

    public func describe(model file: H5File) throws {
        try file.setAttribute("classes", classes)
    }
}

extension CropFlip {
    /// A uniform draw: shifts in [−pad, pad] and a fair coin for the flip.
    public static func random(pad: Int, _ rng: inout RandomState) -> CropFlip {
        CropFlip(dx: rng.nextInt(below: 2 * pad + 1) - pad, dy: rng.nextInt(below: 2 * pad + 1) - pad,
                 flip: rng.nextInt(below: 2) == 1)
    }
}
