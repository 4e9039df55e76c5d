import Foundation
import HDF5
import KDCore

/// A feature file while `kd extract` fills it (normally `<out>.partial`): every dataset is
/// created at full size up front, rows are written a block at a time, and after each block the
/// split's attribute `blocks_done` is updated and the file flushed, so a killed extraction
/// continues after its last finished block. Blocks are whole multiples of the batch size (so
/// every batch is the one an unbroken run computes) and of the chunk rows (so each chunk is
/// compressed and written once). Cost: one hyperslab write per dataset and one flush per block.
final class FeatureStoreWriter {
    /// The datasets and blocks of one split.
    struct AttentionLayout: Equatable {
        var tap: String
        var width: Int
    }

    struct SplitLayout: Equatable {
        var name: String
        var count: Int
        var featureShape: [Int]
        var logitsWidth: Int?
        /// Attention maps stored: each tap with the map's width H·W.
        var attention: [AttentionLayout]
        /// Views per image, view 0 the plain image; 0 for none.
        var views: Int
        var chunkRows: Int
        var blockRows: Int
        var blockCount: Int { (count + blockRows - 1) / blockRows }
        var featureWidth: Int { featureShape.reduce(1, *) }

        /// Chunks of at most `maxChunkBytes` for the widest dataset of the split (at least one
        /// row), as many rows as fit among the multiples and divisors of the batch size; a block
        /// is the larger of chunk and batch, so blocks hold whole batches and whole chunks.
        init(name: String, count: Int, featureShape: [Int], logitsWidth: Int?, attention: [AttentionLayout] = [],
             views: Int, batch: Int) {
            self.name = name
            self.count = count
            self.featureShape = featureShape
            self.logitsWidth = logitsWidth
            self.attention = attention
            self.views = views
            let rowBytes = 4 * max(featureShape.reduce(1, *), attention.map(\.width).max() ?? 0) * max(views, 1)
            chunkRows = Self.rows(fitting: FeatureStoreWriter.maxChunkBytes / max(rowBytes, 1), batch: batch)
            blockRows = max(chunkRows, batch)
        }

        /// The largest multiple or divisor of `batch` that is at most `limit` (1 at least).
        static func rows(fitting limit: Int, batch: Int) -> Int {
            if limit >= batch { return batch * (limit / batch) }
            return (1...max(1, limit)).last { batch % $0 == 0 } ?? 1
        }
    }

    /// The rows of one block, image-major, as the file stores them.
    struct Block {
        var rows: Range<Int>
        var features: [Float]
        var logits: [Float]?
        var viewFeatures: [Float]?
        var viewLogits: [Float]?
        /// Per attention tap, in the layout's order: [rows, H·W] and, with views, [rows, V, H·W].
        var attention: [[Float]] = []
        var viewAttention: [[Float]] = []
    }

    /// At most 1 MiB per chunk: big enough for deflate to do well, small enough that reading
    /// a row decompresses little, and within the chunk cache HDF5 (and h5py) give a dataset by
    /// default, so reading a chunk's rows in several ranges decompresses it once.
    static let maxChunkBytes = 1 << 20
    static let blockRowsAttribute = "block_rows"
    static let blocksDoneAttribute = "blocks_done"

    let file: H5File
    /// Seconds spent in HDF5 writes and flushes (compression included), and the bytes handed
    /// to them, for the write throughput.
    private(set) var writeSeconds = 0.0
    private(set) var bytesWritten = 0

    private init(file: H5File) {
        self.file = file
    }

    /// Creates the file at `path` with every dataset of `layouts` (labels and view parameters
    /// written at once), root attributes from `describe`, and no block done.
    static func create(path: String, layouts: [SplitLayout], deflate: Int, labels: [String: [UInt8]],
                       viewParams: [Int32]?, describe: (H5File) throws -> Void) throws -> FeatureStoreWriter {
        let file = try H5File.create(path)
        let level = deflate > 0 ? deflate : nil
        for layout in layouts {
            let group = try file.root.createGroup(layout.name)
            let n = layout.count, rows = layout.chunkRows
            func floats(_ name: String, _ shape: [Int]) throws {
                _ = try group.createDataset(name, of: Float.self, shape: [n] + shape, chunk: [rows] + shape,
                                            deflate: level, shuffle: level != nil)
            }
            try floats(FeatureStore.featuresName, layout.featureShape)
            if let k = layout.logitsWidth { try floats(FeatureStore.logitsName, [k]) }
            for a in layout.attention { try floats(FeatureStore.attentionName + "/" + a.tap, [a.width]) }
            try group.writeDataset(FeatureStore.labelsName, labels[layout.name] ?? [], shape: [n], chunk: [rows], deflate: level)
            if layout.views > 0, let viewParams {
                let views = FeatureStore.viewsName + "/"
                try group.writeDataset(views + FeatureStore.paramsName, viewParams, shape: [n, layout.views, 3],
                                       chunk: [rows, layout.views, 3], deflate: level)
                try floats(views + FeatureStore.featuresName, [layout.views] + layout.featureShape)
                if let k = layout.logitsWidth { try floats(views + FeatureStore.logitsName, [layout.views, k]) }
                for a in layout.attention {
                    try floats(views + FeatureStore.attentionName + "/" + a.tap, [layout.views, a.width])
                }
            }
            try group.setAttribute(blockRowsAttribute, layout.blockRows)
            try group.setAttribute(blocksDoneAttribute, 0)
        }
        try describe(file)
        try file.flush()
        return FeatureStoreWriter(file: file)
    }

    /// Opens an unfinished file for more blocks; 65 when its splits are not laid out as
    /// `layouts` say (made by another version of kd).
    static func resume(path: String, layouts: [SplitLayout]) throws -> FeatureStoreWriter {
        let file = try H5File.open(path, writable: true)
        for layout in layouts {
            let group = try file.root.openGroup(layout.name)
            let shape = try group.openDataset(FeatureStore.featuresName).shape
            guard try group.intAttribute(blockRowsAttribute) == layout.blockRows,
                  shape == [layout.count] + layout.featureShape else {
                throw StageError.badData("\(path): /\(layout.name) is laid out differently (features \(shape), "
                                         + "blocks of \(try group.intAttribute(blockRowsAttribute) ?? 0) rows)")
            }
        }
        return FeatureStoreWriter(file: file)
    }

    /// Blocks of split `name` already in the file.
    func blocksDone(_ name: String) throws -> Int {
        try file.root.openGroup(name).intAttribute(Self.blocksDoneAttribute) ?? 0
    }

    /// Writes block `index` of `layout`, then records it as done and flushes.
    func write(_ block: Block, index: Int, of layout: SplitLayout) throws {
        let started = Date()
        let group = try file.root.openGroup(layout.name)
        let n = block.rows.count, first = block.rows.lowerBound
        func put(_ name: String, _ values: [Float]?, _ shape: [Int]) throws {
            guard let values else { return }
            try group.openDataset(name).write(values, start: [first] + shape.map { _ in 0 }, count: [n] + shape)
            bytesWritten += 4 * values.count
        }
        try put(FeatureStore.featuresName, block.features, layout.featureShape)
        try put(FeatureStore.logitsName, block.logits, [layout.logitsWidth ?? 0])
        let views = FeatureStore.viewsName + "/"
        try put(views + FeatureStore.featuresName, block.viewFeatures, [layout.views] + layout.featureShape)
        try put(views + FeatureStore.logitsName, block.viewLogits, [layout.views, layout.logitsWidth ?? 0])
        for (a, values) in zip(layout.attention, block.attention) {
            try put(FeatureStore.attentionName + "/" + a.tap, values, [a.width])
        }
        for (a, values) in zip(layout.attention, block.viewAttention) {
            try put(views + FeatureStore.attentionName + "/" + a.tap, values, [layout.views, a.width])
        }
        // A crash here leaves a written block unrecorded: the resumed run writes it again.
        FaultPoint.pass("extract-block")
        try group.setAttribute(Self.blocksDoneAttribute, index + 1)
        try file.flush()
        writeSeconds += Date().timeIntervalSince(started)
    }

    /// Flushes and closes the file (before it is renamed into place); 74 when that fails.
    func close() throws {
        try file.close()
    }
}
