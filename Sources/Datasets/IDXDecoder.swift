import KDCore

/// Decodes IDX image and label files (MNIST, Fashion-MNIST; each plain or gzipped) into a
/// data store: `train-*` → /train, `t10k-*` → /test, images as 1×H×W.
/// Cost: one split's files decompressed in memory (47 MB for the MNIST training images).
public struct IDXDecoder {
    /// Class names; the labels must index into them.
    public let classes: [String]

    public init(classes: [String]) {
        self.classes = classes
    }

    /// The file-name stems of each split, as the MNIST distribution names them.
    static let splits: [(name: String, images: String, labels: String)] = [
        ("train", "train-images", "train-labels"),
        ("test", "t10k-images", "t10k-labels"),
    ]

    /// The file for `stem` among `names`: `stem-idxD-ubyte` (or `stem.idxD-ubyte`, as some
    /// mirrors spell it), optionally with `.gz`.
    static func find(_ stem: String, dimensions: Int, in names: Set<String>) -> String? {
        let bases = ["\(stem)-idx\(dimensions)-ubyte", "\(stem).idx\(dimensions)-ubyte"]
        return (bases + bases.map { $0 + ".gz" }).first { names.contains($0) }
    }

    public func decode(_ files: SourceFiles, into store: DataStoreWriter) throws {
        for (split, imagesStem, labelsStem) in Self.splits {
            let images = try idx(files, imagesStem, dimensions: 3, what: "the \(split) images (count × rows × columns)")
            let labels = try idx(files, labelsStem, dimensions: 1, what: "the \(split) labels (one per image)")
            guard images.count == labels.count else {
                throw StageError.badData(
                    "image and label counts differ: \(images.name) holds \(images.count) images but "
                    + "\(labels.name) holds \(labels.count) labels; expected one label per image")
            }
            let (rows, columns) = (images.dimensions[1], images.dimensions[2])
            guard images.count > 0, rows > 0, columns > 0 else {
                throw StageError.badData(
                    "\(images.name) holds \(images.count) images of \(rows)×\(columns); expected at least one non-empty image")
            }
            if let bad = labels.bytes[labels.valuesOffset...].firstIndex(where: { Int($0) >= classes.count }) {
                throw StageError.badData(
                    "\(labels.name) label \(bad - labels.valuesOffset) (byte offset \(bad)) is \(labels.bytes[bad]), "
                    + "out of range; expected 0…\(classes.count - 1) (\(classes.count) classes)")
            }
            let writer = try store.beginSplit(split, count: images.count, sourceShape: [1, rows, columns], coarseLabels: false)
            let imageBytes = rows * columns
            try images.bytes.withUnsafeBytes { all in
                for i in 0..<images.count {
                    let start = images.valuesOffset + i * imageBytes
                    try writer.append(pixels: UnsafeRawBufferPointer(rebasing: all[start..<(start + imageBytes)]),
                                      label: labels.bytes[labels.valuesOffset + i])
                }
            }
            try store.finish(writer)
        }
    }

    private func idx(_ files: SourceFiles, _ stem: String, dimensions: Int, what: String) throws -> IDXFile {
        let expected = "\(stem)-idx\(dimensions)-ubyte or \(stem)-idx\(dimensions)-ubyte.gz with \(what)"
        guard let name = Self.find(stem, dimensions: dimensions, in: files.names) else {
            throw files.missing("\(stem)-idx\(dimensions)-ubyte", expected: expected)
        }
        return try IDXFile(name: files.describe(name), bytes: files.readDecompressed(name, expected: expected),
                           expectedDimensions: dimensions, what: what)
    }
}
