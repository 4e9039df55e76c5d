import Foundation
import HDF5
import KDCore

/// What `kd inspect` finds in a kd file (or any HDF5 file): every root attribute (kd_kind and
/// provenance), every dataset with its layout, and what the file's kind adds — for a data store
/// the class counts per split. `InspectionReport` renders it as text or JSON.
///
/// Kinds plug in through `KindInspector`, looked up by the root attribute kd_kind; a kind
/// defined in a module above this one passes its inspector in from the command.
/// Cost: metadata reads, plus whatever the kind's inspector reads (a data store: its labels).
public struct FileInspection {
    public var path: String
    /// Size of the file on disk.
    public var fileBytes: Int
    /// The root attribute kd_kind, nil for a file kd did not make.
    public var kind: String?
    /// Every root attribute, sorted by name.
    public var attributes: [(name: String, value: H5AttributeValue)]
    /// Every dataset in every group, sorted by path.
    public var datasets: [DatasetInspection]
    /// What the kind adds, in order.
    public var sections: [InspectionSection]

    /// Inspects the file at `path`. A missing file is `.noInput` (66), a file that is not
    /// HDF5 `.badData` (65).
    public init(path: String, inspectors: [String: KindInspector] = KindInspector.builtIn) throws {
        let file = try H5File.open(path)
        self.path = path
        fileBytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        kind = try? file.stringAttribute("kd_kind")
        attributes = try file.attributeNames().map { ($0, try file.attribute($0) ?? .unsupported("missing")) }
        let inspector = kind.flatMap { inspectors[$0] }
        datasets = try Self.datasets(in: file.root).map { dataset in
            var entry = DatasetInspection(dataset)
            entry.stats = try inspector?.datasetStats?(dataset) ?? [:]
            return entry
        }
        sections = try inspector?.sections(file) ?? []
    }

    /// Every dataset below `group`, depth first, in path order.
    private static func datasets(in group: H5Group) throws -> [H5Dataset] {
        try group.memberNames().flatMap { name -> [H5Dataset] in
            if try group.isGroup(name) { return try datasets(in: group.openGroup(name)) }
            if try group.isDataset(name) { return [try group.openDataset(name)] }
            return []  // a named datatype or a dangling link holds no data
        }
    }
}

/// One dataset as `kd inspect` shows it.
public struct DatasetInspection {
    /// Absolute path inside the file ("/train/images").
    public var path: String
    public var shape: [Int]
    public var elementType: H5ElementType
    /// nil when stored contiguously.
    public var chunkShape: [Int]?
    public var deflateLevel: Int?
    public var hasShuffle: Bool
    /// Whether each chunk carries a Fletcher-32 checksum.
    public var hasChecksum: Bool
    /// Bytes in the file, after compression.
    public var storageBytes: Int
    /// Bytes uncompressed; nil for strings and types kd does not read.
    public var rawBytes: Int?
    /// Numbers the file's kind computes for this dataset (e.g. a feature's mean), by name.
    public var stats: [String: Double] = [:]

    init(_ dataset: H5Dataset) {
        path = dataset.path
        shape = dataset.shape
        elementType = dataset.elementType
        chunkShape = dataset.chunkShape
        deflateLevel = dataset.deflateLevel
        hasShuffle = dataset.hasShuffle
        hasChecksum = dataset.hasChecksum
        storageBytes = dataset.storageBytes
        rawBytes = dataset.rawBytes
    }

    /// The filters in the order HDF5 applies them: "shuffle+deflate(4)+fletcher32",
    /// "deflate(4)+fletcher32", "fletcher32" (checksummed only), "none".
    public var compression: String {
        var filters: [String] = []
        if hasShuffle { filters.append("shuffle") }
        if let level = deflateLevel { filters.append("deflate(\(level))") }
        if hasChecksum { filters.append("fletcher32") }
        return filters.isEmpty ? "none" : filters.joined(separator: "+")
    }
}

/// A block a kind of file adds to the summary (a data store's class counts). It renders
/// itself both ways so the text and JSON outputs always carry the same information.
public protocol InspectionSection {
    /// The key of the section in the JSON output.
    var key: String { get }
    /// The section as text lines, heading first.
    func textLines() -> [String]
    /// The section as a JSONSerialization-ready value.
    func jsonValue() -> Any
}

/// What one kind of kd file (root attribute kd_kind) adds to the summary: numbers per dataset
/// and whole sections. To support a new kind, write its sections and add an inspector to the
/// dictionary the command passes in (kinds of modules above Datasets add theirs there).
public struct KindInspector: Sendable {
    public var datasetStats: (@Sendable (H5Dataset) throws -> [String: Double])?
    public var sections: @Sendable (H5File) throws -> [InspectionSection]

    public init(datasetStats: (@Sendable (H5Dataset) throws -> [String: Double])? = nil,
                sections: @escaping @Sendable (H5File) throws -> [InspectionSection]) {
        self.datasetStats = datasetStats
        self.sections = sections
    }

    /// The kinds this module knows: the data store.
    public static let builtIn: [String: KindInspector] = [
        DataStore.kind: KindInspector { file in try ClassCounts.all(in: file) },
    ]
}

/// How many images of each class every split of a data store holds, from `/<split>/labels`
/// and the root attribute `classes` (and likewise CIFAR-100's coarse labels with
/// `coarse_classes`). Labels outside the class list are counted apart, so a broken store shows.
/// Cost: reads every label of every split (one byte per image).
public struct ClassCounts: InspectionSection {
    /// "labels" or "coarse_labels".
    public var labelsName: String
    public var classes: [String]
    /// Split names, train and test first.
    public var splits: [String]
    /// counts[split][class]
    public var counts: [[Int]]
    /// Labels ≥ classes.count, per split.
    public var outOfRange: [Int]

    public var key: String { labelsName == DataStore.labelsName ? "class_counts" : "\(labelsName)_counts" }

    /// One `ClassCounts` per kind of labels the store has (fine, and coarse for CIFAR-100).
    static func all(in file: H5File) throws -> [InspectionSection] {
        let root = file.root
        let splits = try root.subgroupNames().sorted { splitOrder($0) < splitOrder($1) }
        return try [(DataStore.labelsName, "classes"), (DataStore.coarseLabelsName, "coarse_classes")]
            .compactMap { labelsName, classesName in
                let labelled = try splits.filter { try root.isDataset("\($0)/\(labelsName)") }
                guard !labelled.isEmpty else { return nil }
                return try ClassCounts(file: file, labelsName: labelsName, classesName: classesName, splits: labelled)
            }
    }

    /// train, test, then any other split by name.
    private static func splitOrder(_ name: String) -> (Int, String) {
        (["train", "test"].firstIndex(of: name) ?? 2, name)
    }

    init(file: H5File, labelsName: String, classesName: String, splits: [String]) throws {
        self.labelsName = labelsName
        self.splits = splits
        let labels = try splits.map { try file.root.openDataset("\($0)/\(labelsName)").read(as: UInt8.self) }
        // Without class names, classes are numbered up to the largest label seen.
        let classes = try file.stringArrayAttribute(classesName)
            ?? (0..<(labels.compactMap { $0.max() }.max().map { Int($0) + 1 } ?? 0)).map(String.init)
        self.classes = classes
        counts = labels.map { split in
            var perClass = [Int](repeating: 0, count: classes.count)
            for label in split where Int(label) < perClass.count { perClass[Int(label)] += 1 }
            return perClass
        }
        outOfRange = zip(labels, counts).map { $0.count - $1.reduce(0, +) }
    }

    public func textLines() -> [String] {
        let indexWidth = String(max(classes.count - 1, 0)).count
        let nameWidth = max(classes.map(\.count).max() ?? 0, 5)
        let columns = splits.indices.map { s in
            max(splits[s].count, String(counts[s].reduce(0, +) + outOfRange[s]).count)
        }
        let pad = InspectionReport.pad
        func row(_ head: String, _ cells: [String]) -> String {
            "  " + head + zip(cells, columns).map { "  " + pad($0, $1, true) }.joined()
        }
        let headWidth = indexWidth + 1 + nameWidth
        let title = labelsName == DataStore.labelsName ? "classes" : labelsName.replacingOccurrences(of: "_", with: " ")
        var lines = [title + String(repeating: " ", count: max(0, 2 + headWidth - title.count))
                     + zip(splits, columns).map { "  " + pad($0, $1, true) }.joined()]
        for c in classes.indices {
            lines.append(row(pad(String(c), indexWidth, true) + " " + pad(classes[c], nameWidth, false), counts.map { String($0[c]) }))
        }
        if outOfRange.contains(where: { $0 > 0 }) {
            lines.append(row(pad("out of range", headWidth, false), outOfRange.map(String.init)))
        }
        lines.append(row(pad("total", headWidth, false), zip(counts, outOfRange).map { String($0.reduce(0, +) + $1) }))
        return lines
    }

    public func jsonValue() -> Any {
        var perSplit: [String: Any] = [:]
        for (s, split) in splits.enumerated() {
            perSplit[split] = ["counts": counts[s], "out_of_range": outOfRange[s],
                               "total": counts[s].reduce(0, +) + outOfRange[s]]
        }
        return ["labels": labelsName, "classes": classes, "splits": perSplit]
    }
}
