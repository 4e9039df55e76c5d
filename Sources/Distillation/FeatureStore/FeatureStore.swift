import Datasets
import HDF5
import KDCore

/// A feature file opened for reading: what `kd extract` stored for every image of a data store,
/// for the stages that learn from it (`kd distill` reads rows by range, a chunk's columns, and
/// the augmented views). Layout (names chosen so `h5dump -H` reads like documentation):
///
///     /<split>/features        float32 [N, D] (or [N, C, H, W] for an unflattened layer)
///     /<split>/logits          float32 [N, K]   only for a classifier's dense feature
///     /<split>/labels          uint8 [N]        the data store's labels, in the same order
///     /train/views/params      int32 [N, V, 3]  (dx, dy, flip) of each view; view 0 = (0, 0, 0)
///     /train/views/features    float32 [N, V, D]
///     /train/views/logits      float32 [N, V, K] when /train/logits exists
///     every dataset chunked along N; floats shuffle + deflate, integers deflate
///     /<split> attributes: block_rows, blocks_done (extraction progress)
///     root attributes: kd_kind = "features", kd_version, command_line, created, model,
///       model_sha256, model_arch, data, data_sha256, layer, layer_description, feature_shape,
///       feature_width, classes, views, seed, batch, threads, deflate, settings
///       (+ root_sha256, root_range when the model is a distilled student)
///
/// Cost: opening reads a few attributes and dataset headers; reads go straight from the file
/// into the caller's memory (one HDF5 box each), decompressing only the chunks they touch.
public final class FeatureStore {
    public static let kind = "features"
    static let featuresName = "features"
    static let logitsName = "logits"
    static let labelsName = "labels"
    static let viewsName = "views"
    static let paramsName = "params"
    static let attentionName = "attention"

    public let path: String
    public let file: H5File
    public let modelSHA256: String
    public let dataSHA256: String
    /// Path of the layer whose output the features are (`flatten` for a VGG's dense feature).
    public let layer: String
    /// The splits present, e.g. ["test", "train"].
    public let splitNames: [String]

    /// Opens the feature file at `path`; a file that is not one is bad data (65).
    public convenience init(path: String) throws {
        try self.init(file: try H5File.open(path))
    }

    public init(file: H5File) throws {
        self.file = file
        path = file.path
        let kind = try file.stringAttribute("kd_kind")
        guard kind == Self.kind else {
            throw StageError.badData("\(path) is not a kd feature file: its kd_kind attribute is "
                                     + "\(kind.map { "\"\($0)\"" } ?? "missing"); expected \"\(Self.kind)\" (made by kd extract)")
        }
        guard let model = try file.stringAttribute("model_sha256"), let data = try file.stringAttribute("data_sha256"),
              let layer = try file.stringAttribute("layer") else {
            throw StageError.badData("\(path): feature file without its model_sha256, data_sha256 or layer attribute")
        }
        modelSHA256 = model
        dataSHA256 = data
        self.layer = layer
        let root = file.root
        splitNames = try root.subgroupNames()
    }

    /// Split names in the order kd extracts and shows them: train, test, then others by name.
    static func ordered(_ names: [String]) -> [String] {
        func rank(_ name: String) -> (Int, String) { (["train", "test"].firstIndex(of: name) ?? 2, name) }
        return names.sorted { rank($0) < rank($1) }
    }

    /// One split, checked for consistent shapes.
    public func split(_ name: String) throws -> Split {
        guard splitNames.contains(name) else {
            throw StageError.badData("\(path) has no split /\(name); it has \(splitNames.map { "/" + $0 }.joined(separator: ", "))")
        }
        return try Split(store: self, group: file.root.openGroup(name), name: name)
    }

    /// Reads every row of every dataset, a block at a time, so that a file cut short or damaged
    /// after it was written is refused (65, naming the dataset) by the stage about to trust it,
    /// not found out later. `finishedBlocksOnly`: an unfinished extraction about to be resumed,
    /// read up to the blocks it records as done. Cost: one read of the file (decompressing it),
    /// in bounded memory.
    public func checkWhole(finishedBlocksOnly: Bool = false) throws {
        for name in splitNames {
            let split = try self.split(name)
            let block = max(1, (1 << 22) / max(1, split.featureWidth * max(1, split.viewCount)))
            var count = split.count
            if finishedBlocksOnly {
                let group = try file.root.openGroup(name)
                let done = try group.intAttribute(FeatureStoreWriter.blocksDoneAttribute) ?? 0
                count = min(count, done * (try group.intAttribute(FeatureStoreWriter.blockRowsAttribute) ?? 0))
            }
            do {
                if count > 0 { _ = try split.readLabels() }
                for start in stride(from: 0, to: count, by: block) {
                    let rows = start ..< min(count, start + block)
                    _ = try split.readFeatures(rows)
                    if split.logitsWidth != nil { _ = try split.readLogits(rows) }
                    for tap in split.attentionWidths.keys.sorted() {
                        _ = try split.readAttention(tap, rows)
                        if split.viewCount > 1 { _ = try split.readViewAttention(tap, rows) }
                    }
                    if split.viewCount > 1 {
                        _ = try split.readViewParams(rows)
                        _ = try split.readViewFeatures(rows)
                        if split.logitsWidth != nil { _ = try split.readViewLogits(rows) }
                    }
                }
            } catch let error as StageError {
                throw StageError.badData("\(path) does not read back whole: \(error.message)")
            }
        }
    }

    /// Throws 65 unless the features were extracted from the data store with content `sha256`
    /// (at `dataPath`, named in the message).
    public func checkMadeFrom(dataPath: String, sha256: String) throws {
        guard dataSHA256 == sha256 else {
            throw StageError.badData("\(path) was extracted from another data store (data_sha256 \(dataSHA256.prefix(12))…), "
                                     + "not from \(dataPath) (\(sha256.prefix(12))…)")
        }
    }

    /// The stored rows of one split.
    public final class Split {
        public let name: String
        /// Number of images.
        public let count: Int
        /// Shape of one image's features: [D], or [C, H, W] for an unflattened layer.
        public let featureShape: [Int]
        /// Width of the logits; nil when the file stores none.
        public let logitsWidth: Int?
        /// Views per image (the plain image is view 0); 0 when the split has no views.
        public let viewCount: Int
        /// The taps whose attention maps the split stores, with each map's width H·W.
        public let attentionWidths: [String: Int]
        public var featureWidth: Int { featureShape.reduce(1, *) }

        private let path: String
        private let features: H5Dataset
        private let logits: H5Dataset?
        private let labels: H5Dataset
        private let viewFeatures: H5Dataset?
        private let viewLogits: H5Dataset?
        private let viewParams: H5Dataset?
        private let group: H5Group

        init(store: FeatureStore, group: H5Group, name: String) throws {
            self.name = name
            self.group = group
            path = store.path
            features = try group.openDataset(FeatureStore.featuresName)
            labels = try group.openDataset(FeatureStore.labelsName)
            logits = try group.contains(FeatureStore.logitsName) ? try group.openDataset(FeatureStore.logitsName) : nil
            let shape = features.shape
            count = shape.first ?? 0
            featureShape = Array(shape.dropFirst())
            logitsWidth = logits.map { $0.shape.last ?? 0 }
            func fail(_ what: String) -> StageError { StageError.badData("\(store.path): /\(name)/\(what)") }
            guard !featureShape.isEmpty else { throw fail("features has shape \(shape); expected [N, D] or [N, C, H, W]") }
            guard labels.shape == [count] else { throw fail("labels has shape \(labels.shape); expected [\(count)]") }
            if let logits, logits.shape.count != 2 || logits.shape[0] != count {
                throw fail("logits has shape \(logits.shape); expected [\(count), K]")
            }
            let views = FeatureStore.viewsName + "/"
            if try group.contains(views + FeatureStore.featuresName) {
                let v = try group.openDataset(views + FeatureStore.featuresName)
                let p = try group.openDataset(views + FeatureStore.paramsName)
                viewCount = v.shape.count > 1 ? v.shape[1] : 0
                guard v.shape == [count, viewCount] + featureShape, p.shape == [count, viewCount, 3], viewCount >= 1 else {
                    throw fail("views has features \(v.shape) and params \(p.shape); expected "
                               + "[\(count), V] + \(featureShape) and [\(count), V, 3]")
                }
                viewLogits = try group.contains(views + FeatureStore.logitsName) ? try group.openDataset(views + FeatureStore.logitsName) : nil
                if let viewLogits, viewLogits.shape != [count, viewCount, logitsWidth ?? -1] {
                    throw fail("views/logits has shape \(viewLogits.shape); expected [\(count), \(viewCount), \(logitsWidth ?? 0)]")
                }
                viewFeatures = v
                viewParams = p
            } else {
                (viewCount, viewFeatures, viewLogits, viewParams) = (0, nil, nil, nil)
            }
            var widths: [String: Int] = [:]
            if try group.isGroup(FeatureStore.attentionName) {
                let attention = try group.openGroup(FeatureStore.attentionName)
                for tap in try attention.memberNames() {
                    let shape = try attention.openDataset(tap).shape
                    guard shape.count == 2, shape[0] == count else {
                        throw fail("attention/\(tap) has shape \(shape); expected [\(count), H·W]")
                    }
                    widths[tap] = shape[1]
                }
            }
            attentionWidths = widths
        }

        /// The attention maps of `tap` for images `rows`, [rows.count, H·W]; 65 when not stored.
        public func readAttention(_ tap: String, _ rows: Range<Int>) throws -> [Float] {
            guard let width = attentionWidths[tap] else { throw missing(FeatureStore.attentionName + "/" + tap) }
            return try group.openDataset(FeatureStore.attentionName + "/" + tap)
                .read(as: Float.self, start: [rows.lowerBound, 0], count: [rows.count, width])
        }

        /// The views' attention maps of `tap` for images `rows`, [rows.count, V, H·W]; 65 when
        /// not stored.
        public func readViewAttention(_ tap: String, _ rows: Range<Int>) throws -> [Float] {
            let name = FeatureStore.viewsName + "/" + FeatureStore.attentionName + "/" + tap
            guard let width = attentionWidths[tap], try group.contains(name) else { throw missing(name) }
            return try group.openDataset(name).read(as: Float.self, start: [rows.lowerBound, 0, 0],
                                                    count: [rows.count, viewCount, width])
        }

        /// Features of images `rows` ([rows.count] + featureShape, row-major) into `buffer`; with
        /// `columns`, only those columns of flat [N, D] features ([rows.count, columns.count]).
        public func readFeatures(_ rows: Range<Int>, columns: Range<Int>? = nil,
                                 into buffer: UnsafeMutableBufferPointer<Float>) throws {
            let (start, count) = try box(rows, columns, middle: [])
            try features.read(into: buffer, start: start, count: count)
        }

        public func readFeatures(_ rows: Range<Int>, columns: Range<Int>? = nil) throws -> [Float] {
            let (start, count) = try box(rows, columns, middle: [])
            return try features.read(as: Float.self, start: start, count: count)
        }

        /// Logits of images `rows`, [rows.count, K]; 65 when the file stores none.
        public func readLogits(_ rows: Range<Int>) throws -> [Float] {
            guard let logits, let width = logitsWidth else { throw missing("logits") }
            return try logits.read(as: Float.self, start: [rows.lowerBound, 0], count: [rows.count, width])
        }

        /// Every label of the split.
        public func readLabels() throws -> [Int] {
            try labels.read(as: UInt8.self).map(Int.init)
        }

        /// View features of images `rows`: [rows.count, V] + featureShape (or [rows.count, V,
        /// columns.count] with `columns`); 65 when the split has no views.
        public func readViewFeatures(_ rows: Range<Int>, columns: Range<Int>? = nil) throws -> [Float] {
            guard let viewFeatures else { throw missing("views/features") }
            let (start, count) = try box(rows, columns, middle: [viewCount])
            return try viewFeatures.read(as: Float.self, start: start, count: count)
        }

        /// View logits of images `rows`, [rows.count, V, K]; 65 when the file stores none.
        public func readViewLogits(_ rows: Range<Int>) throws -> [Float] {
            guard let viewLogits, let width = logitsWidth else { throw missing("views/logits") }
            return try viewLogits.read(as: Float.self, start: [rows.lowerBound, 0, 0], count: [rows.count, viewCount, width])
        }

        /// The crop and flip of every view of images `rows`, image by image (rows.count × V).
        public func readViewParams(_ rows: Range<Int>) throws -> [CropFlip] {
            guard let viewParams else { throw missing("views/params") }
            let raw = try viewParams.read(as: Int32.self, start: [rows.lowerBound, 0, 0], count: [rows.count, viewCount, 3])
            return stride(from: 0, to: raw.count, by: 3).map {
                CropFlip(dx: Int(raw[$0]), dy: Int(raw[$0 + 1]), flip: raw[$0 + 2] != 0)
            }
        }

        /// The HDF5 box of `rows` (and `columns` of flat features) with the axes `middle` whole.
        private func box(_ rows: Range<Int>, _ columns: Range<Int>?, middle: [Int]) throws -> (start: [Int], count: [Int]) {
            guard let columns else {
                return ([rows.lowerBound] + middle.map { _ in 0 } + featureShape.map { _ in 0 },
                        [rows.count] + middle + featureShape)
            }
            guard featureShape.count == 1 else {
                throw StageError.badData("\(path): /\(name)/features are \(featureShape) per image, not a flat vector "
                                         + "whose columns can be chosen; extract with --flatten")
            }
            guard columns.lowerBound >= 0, columns.upperBound <= featureShape[0] else {
                throw StageError.badData("\(path): columns \(columns) lie outside the \(featureShape[0]) of /\(name)/features")
            }
            return ([rows.lowerBound] + middle.map { _ in 0 } + [columns.lowerBound], [rows.count] + middle + [columns.count])
        }

        private func missing(_ dataset: String) -> StageError {
            StageError.badData("\(path) has no /\(name)/\(dataset)")
        }
    }
}
