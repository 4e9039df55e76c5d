import Datasets
import KDCore

/// A feature file (`kd extract`) opened as the source of a term's per-image targets, after
/// the checks every such term needs: it was made from the data store being trained on (by
/// SHA-256), and it has a row for every image of each split the store has.
/// Cost: opening the file and hashing it.
struct TargetsFile {
    let path: String
    let features: FeatureStore
    let sha256: String

    /// `storeSHA256` is the store's content digest, computed once by the caller for all its files.
    init(path: String, store: DataStore, storeSHA256: String) throws {
        self.path = path
        sha256 = try FileDigest.sha256(path: path)
        features = try FeatureStore(path: path)
        try features.checkMadeFrom(dataPath: store.path, sha256: storeSHA256)
        for name in store.splitNames where features.splitNames.contains(name) {
            let n = try store.split(name).count, stored = try features.split(name).count
            guard stored == n else {
                throw StageError.badData("\(path): /\(name) has \(stored) rows; expected one per image of \(store.path) "
                                         + "/\(name) (\(n))")
            }
        }
        // Every split is read: the training images learn from it, the others are measured on it.
        for name in store.splitNames where !features.splitNames.contains(name) {
            throw StageError.badData("\(path) has no /\(name) split, but \(store.path) has one and the run measures it; "
                                     + "extract every split (kd extract without --splits)")
        }
    }

    /// What is read per image.
    enum Content {
        /// Columns of the flat dense features.
        case features(columns: Range<Int>)
        case logits
        /// The attention maps of a tap.
        case attention(tap: String)

        /// Its dataset's name under a split (or under the split's `views/`).
        var dataset: String {
            switch self {
            case .features: "features"
            case .logits: "logits"
            case .attention(let tap): "attention/\(tap)"
            }
        }
    }

    /// The rows of `content` for every split both files have, and for the training views when
    /// `views` (65 when the file stores none, or when a value is NaN or infinite).
    func rows(_ content: Content, store: DataStore, views: Bool) throws -> StoredRows {
        var plain: [String: [Float]] = [:]
        var width = 0
        for name in store.splitNames where features.splitNames.contains(name) {
            let split = try features.split(name)
            switch content {
            case .features(let columns):
                width = columns.count
                plain[name] = try split.readFeatures(0 ..< split.count, columns: columns)
            case .logits:
                guard let k = split.logitsWidth else {
                    throw StageError.badData("\(path) stores no logits (/\(name)/logits); extract the teacher with kd extract, "
                                             + "which stores them for every model with a classifier head")
                }
                width = k
                plain[name] = try split.readLogits(0 ..< split.count)
            case .attention(let tap):
                guard let positions = split.attentionWidths[tap] else {
                    throw StageError.badData("\(path) stores no attention maps of \(tap) (/\(name)/attention/\(tap)); "
                                             + "extract the teacher with kd extract --attention \(tap)")
                }
                width = positions
                plain[name] = try split.readAttention(tap, 0 ..< split.count)
            }
            try checkFinite(plain[name]!, width: width, dataset: "/\(name)/\(content.dataset)")
        }
        guard views else { return StoredRows(width: width, plain: plain, views: nil) }
        let train = try features.split("train")
        guard train.viewCount > 1 else { throw noViews() }
        let rows: [Float]
        switch content {
        case .features(let columns): rows = try train.readViewFeatures(0 ..< train.count, columns: columns)
        case .logits: rows = try train.readViewLogits(0 ..< train.count)
        case .attention(let tap): rows = try train.readViewAttention(tap, 0 ..< train.count)
        }
        try checkFinite(rows, width: width * train.viewCount, dataset: "/train/views/\(content.dataset)")
        return StoredRows(width: width, plain: plain, views: (train.viewCount, rows))
    }

    /// Refuses (65) rows holding NaN or ±Inf, naming the dataset and the first bad rows: a
    /// target like that would only surface later as a diverged training.
    private func checkFinite(_ values: [Float], width: Int, dataset: String) throws {
        guard width > 0, !values.allSatisfy(\.isFinite) else { return }
        var bad: [Int] = []
        var row = 0
        while row * width < values.count, bad.count < 5 {
            if !values[row * width ..< (row + 1) * width].allSatisfy(\.isFinite) { bad.append(row) }
            row += 1
        }
        throw StageError.badData("\(path): \(dataset) holds NaN or infinite values, first in rows "
                                 + bad.map(String.init).joined(separator: ", ") + " (counting from 0); "
                                 + "extract the teacher again from a model whose outputs are finite")
    }

    /// The stored views of the training images: V and their crops, image-major [N, V].
    func viewCrops() throws -> (count: Int, crops: [CropFlip]) {
        let train = try features.split("train")
        guard train.viewCount > 1 else { throw noViews() }
        return (train.viewCount, try train.readViewParams(0 ..< train.count))
    }

    private func noViews() -> StageError {
        StageError.usage("--augment needs targets for the augmented images: \(path) has no /train/views "
                         + "(extract with kd extract --views V)")
    }
}
