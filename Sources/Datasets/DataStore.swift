import HDF5
import KDCore

/// A data store opened for reading: the images and labels `kd decode` wrote, for the stages
/// that train on them. Layout (HDF5, names chosen so `h5dump -H` reads like documentation):
///
///     /<split>/images         uint8 [N, C, H, W], chunked along N, deflate
///     /<split>/labels         uint8 [N]   (CIFAR-100: the fine label)
///     /<split>/coarse_labels  uint8 [N]   (CIFAR-100 only)
///     root attributes: kd_kind = "dataset", kd_version, command_line, created, format,
///       classes, coarse_classes (CIFAR-100), image_shape [C, H, W], pad,
///       source (file names), source_sha256 (aligned with source)
///
/// Cost: opening reads a few attributes; reads go straight from the file into the caller's
/// memory, one HDF5 box per contiguous run of images.
public final class DataStore {
    public static let kind = "dataset"
    public static let imagesName = "images"
    public static let labelsName = "labels"
    public static let coarseLabelsName = "coarse_labels"

    public let path: String
    public let file: H5File
    /// Class names in label order.
    public let classes: [String]
    /// [C, H, W] of every image.
    public let imageShape: [Int]
    /// The splits present, e.g. ["test", "train"].
    public let splitNames: [String]

    /// Opens the store at `path`; a file that is not a kd data store is bad data (65).
    public init(path: String) throws {
        self.path = path
        file = try H5File.open(path)
        let kind = try file.stringAttribute("kd_kind")
        guard kind == Self.kind else {
            throw StageError.badData(
                "\(path) is not a kd data store: its kd_kind attribute is \(kind.map { "\"\($0)\"" } ?? "missing"); "
                + "expected \"\(Self.kind)\" (made by kd decode)")
        }
        guard let classes = try file.stringArrayAttribute("classes"),
              let shape = try file.intArrayAttribute("image_shape"), shape.count == 3 else {
            throw StageError.badData("\(path): data store without the classes or image_shape [C, H, W] attribute")
        }
        self.classes = classes
        imageShape = shape
        let root = file.root
        splitNames = try root.subgroupNames()
    }

    /// Bytes of one image (C·H·W).
    public var imageBytes: Int { imageShape.reduce(1, *) }

    /// One split, checked to hold as many labels as images of `imageShape`.
    public func split(_ name: String) throws -> Split {
        guard splitNames.contains(name) else {
            throw StageError.badData("\(path) has no split /\(name); it has \(splitNames.map { "/" + $0 }.joined(separator: ", "))")
        }
        return try Split(store: self, group: file.root.openGroup(name), name: name)
    }

    /// The images and labels of one split.
    public final class Split {
        public let name: String
        /// Number of images.
        public let count: Int
        private let store: DataStore
        private let images: H5Dataset
        private let labels: H5Dataset
        private let group: H5Group

        init(store: DataStore, group: H5Group, name: String) throws {
            self.store = store
            self.group = group
            self.name = name
            images = try group.openDataset(DataStore.imagesName)
            labels = try group.openDataset(DataStore.labelsName)
            let shape = images.shape
            count = shape.first ?? 0
            guard Array(shape.dropFirst()) == store.imageShape, labels.shape == [count] else {
                throw StageError.badData(
                    "\(store.path): /\(name)/images has shape \(shape) and /\(name)/labels \(labels.shape); "
                    + "expected [N, \(store.imageShape.map(String.init).joined(separator: ", "))] and [N]")
            }
        }

        /// Copies images `range` into `buffer` (range.count × C·H·W bytes, in order).
        public func readImages(_ range: Range<Int>, into buffer: UnsafeMutableBufferPointer<UInt8>) throws {
            let shape = store.imageShape
            try images.read(into: buffer, start: [range.lowerBound, 0, 0, 0],
                            count: [range.count, shape[0], shape[1], shape[2]])
        }

        /// Copies the images at `indices` into `buffer` in the order given (e.g. a shuffled
        /// mini-batch). Indices are sorted first so each run of consecutive indices is one
        /// read. Cost: for scattered indices, one chunk decompression per run; to train over
        /// a whole split, read it once with `readImages(0..<count, into:)`.
        public func readImages(at indices: [Int], into buffer: UnsafeMutableBufferPointer<UInt8>) throws {
            let imageBytes = store.imageBytes
            precondition(buffer.count == indices.count * imageBytes, "buffer must hold \(indices.count) images")
            if let bad = indices.first(where: { !(0..<count).contains($0) }) {
                throw StageError.badData("\(store.path): image index \(bad) is outside /\(name) (0..<\(count))")
            }
            let order = indices.indices.sorted { indices[$0] < indices[$1] }
            var scratch = [UInt8]()
            var runStart = 0
            while runStart < order.count {
                // Extend the run while the next sorted index is the same or one more.
                var runEnd = runStart + 1
                while runEnd < order.count, indices[order[runEnd]] - indices[order[runEnd - 1]] <= 1 { runEnd += 1 }
                let first = indices[order[runStart]], last = indices[order[runEnd - 1]]
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: repeatElement(0, count: (last - first + 1) * imageBytes))
                try scratch.withUnsafeMutableBufferPointer { try readImages(first..<(last + 1), into: $0) }
                scratch.withUnsafeBufferPointer { run in
                    for k in runStart..<runEnd {
                        let from = (indices[order[k]] - first) * imageBytes, to = order[k] * imageBytes
                        (buffer.baseAddress! + to).update(from: run.baseAddress! + from, count: imageBytes)
                    }
                }
                runStart = runEnd
            }
        }

        /// All labels of the split (CIFAR-100: the fine labels).
        public func readLabels() throws -> [UInt8] {
            try labels.read(as: UInt8.self)
        }

        /// CIFAR-100's coarse labels; nil for other datasets.
        public func readCoarseLabels() throws -> [UInt8]? {
            guard try group.contains(DataStore.coarseLabelsName) else { return nil }
            return try group.openDataset(DataStore.coarseLabelsName).read(as: UInt8.self)
        }
    }
}
