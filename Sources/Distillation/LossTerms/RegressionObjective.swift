import Datasets
import HDF5
import KDCore
import NeuralNet

/// `kd distill`'s objective: a student regresses one chunk of the dense features stored in a
/// feature file (MSE, the mean over every value, as PyTorch's `mse_loss`). The teacher is never
/// run: targets are read once from the file — the chunk's columns of every split, and of every
/// stored augmented view when the file has views, in which case training shows the student a
/// randomly chosen view of each image with that view's crop and flip applied.
/// Cost: the chunk's columns of the features in memory (N × D/chunks floats per split and view).
public struct RegressionObjective: TrainingObjective {
    public let targetsPath: String
    public let chunk: ChunkSpec
    public let columns: Range<Int>
    /// What the student stands for in the root teacher's feature vector.
    public let slice: FeatureSlice
    public let augment: Bool
    private let targetsSHA256: String
    /// Per split: [N, width] targets.
    private var plain: [String: [Float]] = [:]
    /// Training views: [N, V, width] targets and [N, V] crops; nil without views.
    private var views: (count: Int, targets: [Float], crops: [CropFlip])?

    /// Reads and checks the targets for a store: the file must be features made from this
    /// store, with as many rows per split as the store has images.
    public init(targetsPath: String, chunk: ChunkSpec, store: DataStore, augment: Bool) throws {
        self.targetsPath = targetsPath
        self.chunk = chunk
        self.augment = augment
        targetsSHA256 = try FileDigest.sha256(path: targetsPath)
        let features = try FeatureStore(path: targetsPath)
        try features.checkMadeFrom(dataPath: store.path, sha256: try FileDigest.sha256(path: store.path))
        let train = try features.split("train")
        guard train.featureShape.count == 1 else {
            throw StageError.badData("\(targetsPath): /train/features are \(train.featureShape) per image; "
                                     + "expected flat dense features [N, D]")
        }
        let width = train.featureWidth
        columns = try chunk.columns(of: width, in: targetsPath)
        slice = try FeatureSlice.read(from: features.file, width: width).chunk(chunk)
        for name in store.splitNames where features.splitNames.contains(name) {
            let split = try features.split(name)
            let n = try store.split(name).count
            guard split.count == n, split.featureShape == [width] else {
                throw StageError.badData("\(targetsPath): /\(name)/features has shape \([split.count] + split.featureShape); "
                                         + "expected [\(n), \(width)] for the \(n) images of \(store.path) /\(name)")
            }
            plain[name] = try split.readFeatures(0 ..< n, columns: columns)
        }
        if train.viewCount > 1 {
            views = (train.viewCount, try train.readViewFeatures(0 ..< train.count, columns: columns),
                     try train.readViewParams(0 ..< train.count))
        } else if augment {
            throw StageError.usage("--augment needs targets for the augmented images: \(targetsPath) has no "
                                   + "/train/views (extract with kd extract --views V)")
        }
    }

    public var width: Int { columns.count }

    public var settings: [String: String] {
        ["targets_sha256": targetsSHA256, "chunk": chunk.description]
    }

    public var classifies: Bool { false }

    public func loss(outputs: Tensor, set: ImageSet, rows: ArraySlice<Int>, views chosen: [Int]?) throws -> (loss: Float, grad: Tensor) {
        let w = width
        var target = Tensor(shape: [rows.count, w])
        for (k, row) in rows.enumerated() {
            let n = set.sourceIndices[row]
            if let chosen, let views {
                let from = (n * views.count + chosen[k]) * w
                target.data.replaceSubrange(k * w ..< (k + 1) * w, with: views.targets[from ..< from + w])
            } else {
                let split = plain[set.split]!
                target.data.replaceSubrange(k * w ..< (k + 1) * w, with: split[n * w ..< (n + 1) * w])
            }
        }
        return meanSquaredError(prediction: outputs, target: target)
    }

    public func augmentation(rows: ArraySlice<Int>, set: ImageSet, rng: inout RandomState) -> (crops: [CropFlip]?, views: [Int]?) {
        guard augment, let views else { return (nil, nil) }
        let chosen = rows.map { _ in rng.nextInt(below: views.count) }
        return (zip(rows, chosen).map { views.crops[set.sourceIndices[$0] * views.count + $1] }, chosen)
    }

    public func describe(model file: H5File) throws {
        try file.setAttribute("targets", targetsPath)
        try file.setAttribute("targets_sha256", targetsSHA256)
        try file.setAttribute("chunk", chunk.description)
        try file.setAttribute("feature_columns", [columns.lowerBound, columns.upperBound])
        try slice.write(to: file)
    }
}

extension FeatureSlice {
    /// What a feature file's (or model file's) features stand for: its recorded root slice, or —
    /// for features of a model that is itself the root (the teacher) — all `width` columns of
    /// the model the file was extracted from.
    static func read(from file: H5File, width: Int) throws -> FeatureSlice {
        if let root = try file.stringAttribute(rootAttribute), let range = try file.intArrayAttribute(rangeAttribute),
           range.count == 2 {
            guard range[1] - range[0] == width else {
                throw StageError.badData("\(file.path): root_range \(range) does not match its \(width)-d features")
            }
            return FeatureSlice(rootSHA256: root, range: range[0] ..< range[1])
        }
        guard let model = try file.stringAttribute("model_sha256") else {
            throw StageError.badData("\(file.path) names neither its root slice nor the model_sha256 it was extracted from")
        }
        return FeatureSlice(rootSHA256: model, range: 0 ..< width)
    }

    func write(to file: H5File) throws {
        try file.setAttribute(Self.rootAttribute, rootSHA256)
        try file.setAttribute(Self.rangeAttribute, [range.lowerBound, range.upperBound])
    }
}
