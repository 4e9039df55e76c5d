import HDF5
import KDCore

/// Writes a data store (see `DataStore` for the layout): one split at a time, images
/// appended one by one in label order of the source, zero-padded on every side by `pad`.
/// Images are staged in memory one HDF5 chunk at a time and written as whole, chunk-aligned
/// boxes, so HDF5 compresses each chunk exactly once and never reads one back.
/// Cost: one chunk (about 1 MiB) of staging memory plus the split's labels; deflate time.
public final class DataStoreWriter {
    public let file: H5File
    public let pad: Int
    /// Most images kept per split, by split name ("train", "test"); a split without an entry
    /// keeps all. The first images of the source are kept (`kd decode --limit-train`).
    public let limits: [String: Int]
    /// [C, H, W] as stored (after padding), fixed by the first split.
    public private(set) var imageShape: [Int]?
    /// The splits written so far, with their labels.
    public private(set) var finishedSplits: [(name: String, labels: [UInt8])] = []
    private var firstSplit: (name: String, sourceShape: [Int])?

    /// zlib level for images, chosen by measuring (Benchmarks/README.md): on Fashion-MNIST,
    /// level 6 makes the store 4% smaller than level 1 for 1.5× the CPU time and level 9 5%
    /// smaller for 15×; on CIFAR-like images every level gives the same size (89% of raw).
    /// Deflate is ~90% of the decode time, so the fastest level wins.
    public static let imageDeflateLevel = 1
    /// Labels are tiny; any level costs nothing, so take the smallest file.
    public static let labelDeflateLevel = 9
    /// Bytes per image chunk: at most HDF5's default 1 MiB chunk cache, so that a reader
    /// going through a split in order decompresses each chunk once.
    public static let imageChunkBytes = 1 << 20

    /// Creates (truncates) the HDF5 file at `path`, normally an `AtomicOutput.partialPath`.
    public init(path: String, pad: Int, limits: [String: Int] = [:]) throws {
        file = try H5File.create(path)
        self.pad = pad
        self.limits = limits
    }

    /// Starts split `name` ("train", "test") of `count` images of `sourceShape` [C, H, W]
    /// (before padding). Hand it to `finish(_:)` once every image was appended; with a limit
    /// for the split, images past it are appended as usual and skipped.
    public func beginSplit(_ name: String, count: Int, sourceShape: [Int], coarseLabels: Bool) throws -> SplitWriter {
        if let first = firstSplit, first.sourceShape != sourceShape {
            func text(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }
            throw StageError.badData(
                "the \(name) images are \(text(sourceShape)) but the \(first.name) images are "
                + "\(text(first.sourceShape)); expected one image size for all splits")
        }
        firstSplit = firstSplit ?? (name, sourceShape)
        imageShape = [sourceShape[0], sourceShape[1] + 2 * pad, sourceShape[2] + 2 * pad]
        return try SplitWriter(group: file.root.createGroup(name), name: name, count: min(count, limits[name] ?? count),
                               offered: count, sourceShape: sourceShape, pad: pad, coarseLabels: coarseLabels)
    }

    /// Writes the rest of `split` (its last chunk and its labels). The split's datasets close
    /// when the caller lets go of it, so closing `file` afterwards really closes the file.
    public func finish(_ split: SplitWriter) throws {
        try split.finish()
        finishedSplits.append((split.name, split.labels))
    }
}

/// Writes one split (`/<name>/images`, `/<name>/labels`, optionally `/<name>/coarse_labels`)
/// of a data store; made by `DataStoreWriter.beginSplit`.
public final class SplitWriter {
    public let name: String
    /// Images the split stores.
    public let count: Int
    /// Images the decoder appends; those past `count` are skipped.
    public let offered: Int
    public let sourceShape: [Int]
    private let pad: Int
    private let images: H5Dataset
    private let group: H5Group
    private let imageBytes: Int
    private let chunkImages: Int
    /// One chunk of images; the padding border is zero from the start and never written.
    private var staging: [UInt8]
    private var staged = 0
    private var written = 0
    private var appended = 0
    private(set) var labels: [UInt8] = []
    private var coarseLabels: [UInt8]?

    init(group: H5Group, name: String, count: Int, offered: Int, sourceShape: [Int], pad: Int, coarseLabels: Bool) throws {
        self.group = group
        self.name = name
        self.count = count
        self.offered = offered
        self.sourceShape = sourceShape
        self.pad = pad
        let (c, h, w) = (sourceShape[0], sourceShape[1] + 2 * pad, sourceShape[2] + 2 * pad)
        imageBytes = c * h * w
        chunkImages = max(1, min(count, DataStoreWriter.imageChunkBytes / imageBytes))
        images = try group.createDataset(DataStore.imagesName, of: UInt8.self, shape: [count, c, h, w],
                                         chunk: [chunkImages, c, h, w], deflate: DataStoreWriter.imageDeflateLevel)
        staging = [UInt8](repeating: 0, count: chunkImages * imageBytes)
        labels.reserveCapacity(count)
        self.coarseLabels = coarseLabels ? [] : nil
    }

    /// Adds the next image (`pixels`: C×H×W bytes, channel-major, unpadded) and its labels;
    /// skips it when the split already holds its `count` images.
    public func append(pixels: UnsafeRawBufferPointer, label: UInt8, coarseLabel: UInt8 = 0) throws {
        precondition(appended < offered, "more images than the split was created for")
        appended += 1
        guard written + staged < count else { return }
        let (c, h, w) = (sourceShape[0], sourceShape[1], sourceShape[2])
        let paddedWidth = w + 2 * pad
        staging.withUnsafeMutableBytes { chunk in
            let image = chunk.baseAddress! + staged * imageBytes
            if pad == 0 {
                image.copyMemory(from: pixels.baseAddress!, byteCount: imageBytes)
                return
            }
            for plane in 0..<c {
                for row in 0..<h {
                    let to = image + (plane * (h + 2 * pad) + row + pad) * paddedWidth + pad
                    to.copyMemory(from: pixels.baseAddress! + (plane * h + row) * w, byteCount: w)
                }
            }
        }
        labels.append(label)
        coarseLabels?.append(coarseLabel)
        staged += 1
        if staged == chunkImages { try flushStaged() }
    }

    /// Writes what is staged and the labels; every image of the split must have been added.
    func finish() throws {
        if staged > 0 { try flushStaged() }
        precondition(appended == offered && written == count, "split \(name) got \(appended) of \(offered) images")
        try writeLabels(DataStore.labelsName, labels)
        if let coarse = coarseLabels { try writeLabels(DataStore.coarseLabelsName, coarse) }
    }

    private func flushStaged() throws {
        let shape = [staged] + Array(images.shape.dropFirst())
        try staging.withUnsafeBufferPointer { chunk in
            try images.write(from: UnsafeBufferPointer(rebasing: chunk[..<(staged * imageBytes)]),
                             start: [written, 0, 0, 0], count: shape)
        }
        written += staged
        staged = 0
    }

    private func writeLabels(_ datasetName: String, _ values: [UInt8]) throws {
        try group.writeDataset(datasetName, values, shape: [count], chunk: [min(count, 1 << 16)],
                               deflate: DataStoreWriter.labelDeflateLevel)
    }
}

/// Images per class of a split's labels, for `classCount` classes (labels are checked to be
/// below it before they are written).
func classCounts(_ labels: [UInt8], classCount: Int) -> [Int] {
    var counts = [Int](repeating: 0, count: classCount)
    for label in labels { counts[Int(label)] += 1 }
    return counts
}
