import Datasets
import KDCore
import NeuralNet

/// The images and labels of one split held in memory (uint8, as stored), with the batch
/// assembly every training and evaluation loop needs: gather by index, optionally augment,
/// normalize into a Float tensor. Holding the split in memory (CIFAR-10's training split is
/// 150 MB) makes random mini-batches free of I/O. Cost: one read of the split.
public struct ImageSet: Sendable {
    /// The store's split the images come from ("train", "test").
    public let split: String
    public let shape: [Int]
    public let pixels: [UInt8]
    public let labels: [Int]
    /// Each image's index in its split of the store (what a feature store's rows follow).
    public let sourceIndices: [Int]
    public var count: Int { labels.count }

    public init(split: String, shape: [Int], pixels: [UInt8], labels: [Int], sourceIndices: [Int]) {
        self.split = split
        self.shape = shape
        self.pixels = pixels
        self.labels = labels
        self.sourceIndices = sourceIndices
    }

    /// The first `limit` images (all when nil) of `split` in `store`.
    public static func load(_ store: DataStore, split name: String, limit: Int? = nil) throws -> ImageSet {
        let split = try store.split(name)
        let n = min(limit ?? split.count, split.count)
        var pixels = [UInt8](repeating: 0, count: n * store.imageBytes)
        try pixels.withUnsafeMutableBufferPointer { try split.readImages(0..<n, into: $0) }
        let labels = try split.readLabels().prefix(n).map(Int.init)
        if let bad = labels.firstIndex(where: { $0 >= store.classes.count }) {
            throw StageError.badData("\(store.path): /\(name)/labels[\(bad)] is \(labels[bad]), "
                                     + "but the store has \(store.classes.count) classes")
        }
        return ImageSet(split: name, shape: store.imageShape, pixels: pixels, labels: labels,
                        sourceIndices: Array(0..<n))
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> ImageSet {
        let size = shape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: indices.count * size)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    (dst.baseAddress! + k * size).update(from: src.baseAddress! + i * size, count: size)
                }
            }
        }
        return ImageSet(split: split, shape: shape, pixels: out, labels: indices.map { labels[$0] },
                        sourceIndices: indices.map { sourceIndices[$0] })
    }

    /// A normalized input batch of the images at `indices` into `batch` (reshaped to
    /// [indices.count, C, H, W]), each augmented by its entry of `augmentations` when given.
    /// Work is split over `ComputeThreads`.
    public func fill(_ batch: inout Tensor, indices: ArraySlice<Int>, normalization: InputNormalization,
                     augmentations: [CropFlip]? = nil) {
        let (channels, plane) = (shape[0], shape[1] * shape[2])
        let size = channels * plane
        let shape = self.shape
        if batch.shape != [indices.count] + shape { batch = Tensor(shape: [indices.count] + shape) }
        let rows = Array(indices)
        pixels.withUnsafeBufferPointer { src in
            batch.data.withUnsafeMutableBufferPointer { dst in
                let src = UncheckedPointer(src.baseAddress!), dst = UncheckedPointer(dst.baseAddress!)
                ComputeThreads.parallelFor(rows.count, grain: 8) { range in
                    var scratch = [UInt8](repeating: 0, count: size)
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        for k in range {
                            var image = UnsafePointer(src.pointer + rows[k] * size)
                            if let augmentations {
                                augmentations[k].apply(image, to: scratch.baseAddress!, shape: shape)
                                image = UnsafePointer(scratch.baseAddress!)
                            }
                            normalization.apply(image, to: dst.pointer + k * size, channels: channels, plane: plane)
                        }
                    }
                }
            }
        }
    }
}

/// A pointer handed to the parallel loop's threads, each of which touches only its own rows.
struct UncheckedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
    init(_ p: UnsafePointer<T>) { pointer = UnsafeMutablePointer(mutating: p) }
}
