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
        let file = try H5File.open(targetsPath)
        guard try file.stringAttribute("kd_kind") == "features" else {
            throw StageError.badData("\(targetsPath) is not a kd feature file (kd_kind is not \"features\"; made by kd extract)")
        }
        let storeSHA = try FileDigest.sha256(path: store.path)
        if let made = try file.stringAttribute("data_sha256"), made != storeSHA {
            throw StageError.badData("\(targetsPath) was extracted from another data store (data_sha256 \(made.prefix(12))…), "
                                     + "not from \(store.path) (\(storeSHA.prefix(12))…)")
        }
        let train = try file.root.openDataset("train/features")
        guard train.shape.count == 2 else {
            throw StageError.badData("\(targetsPath): /train/features has shape \(train.shape); expected [N, D] dense features")
        }
        let width = train.shape[1]
        columns = try chunk.columns(of: width, in: targetsPath)
        slice = try FeatureSlice.read(from: file, width: width).chunk(chunk)
        for split in store.splitNames where file.root.contains("\(split)/features") {
            let dataset = try file.root.openDataset("\(split)/features")
            let n = try store.split(split).count
            guard dataset.shape == [n, width] else {
                throw StageError.badData("\(targetsPath): /\(split)/features has shape \(dataset.shape); "
                                         + "expected [\(n), \(width)] for the \(n) images of \(store.path) /\(split)")
            }
            plain[split] = try dataset.read(as: Float.self, start: [0, columns.lowerBound], count: [n, columns.count])
        }
        guard plain["train"] != nil else { throw StageError.badData("\(targetsPath) has no /train/features") }
        if file.root.contains("train/views/features") {
            let features = try file.root.openDataset("train/views/features")
            let params = try file.root.openDataset("train/views/params")
            let (n, v) = (features.shape[0], features.shape[1])
            guard features.shape == [n, v, width], params.shape == [n, v, 3] else {
                throw StageError.badData("\(targetsPath): /train/views has features \(features.shape) and params "
                                         + "\(params.shape); expected [N, V, \(width)] and [N, V, 3]")
            }
            let raw = try params.read(as: Int32.self)
            views = (v, try features.read(as: Float.self, start: [0, 0, columns.lowerBound], count: [n, v, columns.count]),
                     stride(from: 0, to: raw.count, by: 3).map {
                         CropFlip(dx: Int(raw[$0]), dy: Int(raw[$0 + 1]), flip: raw[$0 + 2] != 0) })
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
