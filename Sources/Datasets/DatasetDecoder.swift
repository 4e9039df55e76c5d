import Foundation
import HDF5
import KDCore

/// What `kd decode` was asked to do.
public struct DecodeOptions: Sendable {
    /// A dataset folder (or the folder holding one), or a .tar.gz / .tar archive.
    public var input: String
    /// The data store to write.
    public var output: String
    /// nil: recognised from the file names.
    public var format: DatasetFormat?
    /// Zero pixels added on every side of every image.
    public var pad: Int
    /// IDX only; nil: guessed from the input path.
    public var classes: ClassNames?
    /// Most images kept per split ("train", "test"), the first ones of the source; a split
    /// without an entry keeps all. For quick runs on a small store.
    public var limits: [String: Int]

    public init(input: String, output: String, format: DatasetFormat? = nil, pad: Int = 0, classes: ClassNames? = nil,
                limits: [String: Int] = [:]) {
        self.input = input
        self.output = output
        self.format = format
        self.pad = pad
        self.classes = classes
        self.limits = limits
    }
}

/// What a finished decode produced, for the summary line.
public struct DecodeSummary: Sendable {
    public var format: DatasetFormat
    /// Where the data was found (the folder or archive actually read).
    public var location: String
    public var classes: [String]
    /// How the class names were chosen.
    public var classesNote: String
    /// [C, H, W] as stored.
    public var imageShape: [Int]
    public var splits: [(name: String, count: Int, classCounts: [Int])]
    public var seconds: Double
}

/// The `kd decode` stage: finds the raw dataset, decodes it into a data store written to
/// `<out>.partial`, and renames that to `<out>` only when everything succeeded, so a failed
/// run leaves any existing output as it was. Cost: see `CIFARDecoder`, `IDXDecoder` and
/// `SourceFiles` (an archive is held in memory); dominated by deflate and, for archives, inflate.
public enum DatasetDecoder {
    public static let maxPad = 64

    public static func decode(_ options: DecodeOptions) throws -> DecodeSummary {
        let started = Date()
        guard (0...maxPad).contains(options.pad) else {
            throw StageError.usage("--pad \(options.pad) is out of range; expected 0…\(maxPad) pixels")
        }
        if let (split, limit) = options.limits.first(where: { $0.value < 1 }) {
            throw StageError.usage("--limit-\(split) \(limit) is out of range; expected at least 1 image")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.input, isDirectory: &isFolder) else {
            throw StageError.noInput("input \(options.input) does not exist; expected a dataset folder or a .tar.gz archive")
        }
        let output = AtomicOutput(options.output)
        try output.claim(inputs: [options.input])
        let (files, format): (SourceFiles, DatasetFormat)
        let written: WrittenStore
        do {
            (files, format) = try locate(options.input, isFolder: isFolder.boolValue, format: options.format)
            if options.classes != nil && format != .idx {
                throw StageError.usage(
                    "--classes applies to IDX files only; \(format.rawValue) class names come from its meta files")
            }
            written = try write(files, format: format, classes: options.classes, pad: options.pad,
                                limits: options.limits, to: output.partialPath)
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
        return DecodeSummary(
            format: format, location: files.location, classes: written.classes, classesNote: written.classesNote,
            imageShape: written.imageShape,
            splits: written.splits.map { ($0.name, $0.labels.count, classCounts($0.labels, classCount: written.classes.count)) },
            seconds: Date().timeIntervalSince(started))
    }

    /// What `write` leaves behind once the store file is closed.
    private struct WrittenStore {
        var imageShape: [Int]
        var splits: [(name: String, labels: [UInt8])]
        var classes: [String]
        var classesNote: String
    }

    /// Writes the whole store to `path`: every split, then the root attributes. The store is
    /// closed on return, every HDF5 object released, so it can be renamed into place.
    private static func write(_ files: SourceFiles, format: DatasetFormat, classes choice: ClassNames?,
                              pad: Int, limits: [String: Int], to path: String) throws -> WrittenStore {
        let store = try DataStoreWriter(path: path, pad: pad, limits: limits)
        defer { try? store.file.close() }   // on the way out of an error; success closes below
        let root = store.file
        let classes: [String], note: String
        switch format {
        case .cifar10, .cifar100:
            let names = try CIFARDecoder(isCIFAR100: format == .cifar100).decode(files, into: store)
            classes = names.classes
            if let coarse = names.coarse { try root.setAttribute("coarse_classes", coarse) }
            note = "from the meta files"
        case .idx:
            let guessed = choice == nil
            let choice = choice ?? ClassNames.guess(fromPath: files.location)
            let names = try choice.names()
            try IDXDecoder(classes: names).decode(files, into: store)
            classes = names
            switch choice {
            case .fashionMNIST: note = "fashion-mnist" + (guessed ? " (the input path says \"fashion\"; --classes to change)" : "")
            case .mnist: note = "mnist digits" + (guessed ? " (the input path does not say \"fashion\"; --classes to change)" : "")
            case .file(let path): note = "from \(path)"
            }
        }
        try root.setAttribute("kd_kind", DataStore.kind)
        try root.setAttribute("kd_version", Provenance.kdVersion)
        try root.setAttribute("command_line", Provenance.commandLine)
        try root.setAttribute("created", Provenance.timestamp)
        try root.setAttribute("format", format.rawValue)
        try root.setAttribute("classes", classes)
        try root.setAttribute("source", files.provenance.map(\.name))
        try root.setAttribute("source_sha256", files.provenance.map(\.sha256))
        try root.setAttribute("image_shape", store.imageShape ?? [])
        try root.setAttribute("pad", store.pad)
        try root.close()
        return WrittenStore(imageShape: store.imageShape ?? [], splits: store.finishedSplits, classes: classes, classesNote: note)
    }

    /// Finds the dataset: `input` is an archive, or a folder holding the files, or a folder
    /// with one dataset folder inside it (e.g. the folder that holds cifar-10-batches-bin).
    static func locate(_ input: String, isFolder: Bool, format: DatasetFormat?) throws -> (SourceFiles, DatasetFormat) {
        let wanted = format.map { [$0] } ?? DatasetFormat.allCases
        guard isFolder else {
            let files = try SourceFiles(archive: input)
            guard let found = wanted.first(where: { $0.matches(files.names) }) ?? format else {
                let held = files.names.sorted().prefix(8).joined(separator: ", ")
                throw StageError.badData(
                    "archive \(input) holds none of the expected members (it has: \(held.isEmpty ? "no files" : held)); "
                    + "expected " + wanted.map(\.expectedFiles).joined(separator: ", or "))
            }
            return (files, found)
        }
        // The folder itself first; only when it holds no dataset, the folders inside it.
        var found = try datasets(in: input, wanted)
        if found.isEmpty {
            let inside = (try? FileManager.default.contentsOfDirectory(atPath: input)) ?? []
            for name in inside.sorted() {
                var isDir: ObjCBool = false
                let path = input + "/" + name
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                    found += try datasets(in: path, wanted)
                }
            }
        }
        guard let first = found.first else {
            throw StageError.noInput(
                "found no dataset in \(input) or the folders inside it; expected "
                + wanted.map(\.expectedFiles).joined(separator: ", or "))
        }
        guard found.count == 1 else {
            let list = found.map { "\($0.0.location) (\($0.1.rawValue))" }.joined(separator: ", ")
            throw StageError.usage(
                "\(input) holds several datasets: \(list); name one folder as the input, or choose the format with --format")
        }
        return first
    }

    /// The formats among `wanted` whose files are in `folder`.
    private static func datasets(in folder: String, _ wanted: [DatasetFormat]) throws -> [(SourceFiles, DatasetFormat)] {
        let files = try SourceFiles(folder: folder)
        return wanted.filter { $0.matches(files.names) }.map { (files, $0) }
    }
}
