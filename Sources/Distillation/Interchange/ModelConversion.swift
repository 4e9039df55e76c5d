import Foundation
import HDF5
import KDCore
import NeuralNet

/// What `kd convert` was asked to do. The direction follows the input: a kd model file (HDF5)
/// is written out as safetensors, anything else is read as safetensors into a model file.
public struct ConversionOptions: Sendable {
    public var input: String
    public var output: String
    /// Safetensors in: a preset name or an architecture JSON file; nil takes the file's
    /// `kd_arch` metadata (a file kd wrote).
    public var architecture: String?
    /// Safetensors in: the head's width, "CxHxW" input and the input normalization as
    /// comma-separated per-channel values; nil keeps the architecture's, or the metadata's.
    public var classes: Int?
    public var inputShape: String?
    public var mean: String?
    public var std: String?

    public init(input: String, output: String, architecture: String? = nil, classes: Int? = nil,
                inputShape: String? = nil, mean: String? = nil, std: String? = nil) {
        self.input = input; self.output = output; self.architecture = architecture; self.classes = classes
        self.inputShape = inputShape; self.mean = mean; self.std = std
    }
}

/// What a finished conversion did, for the summary line.
public struct ConversionSummary: Sendable {
    public var architecture: String
    public var tensors: Int
    public var parameters: Int
    /// Further facts worth a line each (where the normalization came from, what was ignored).
    public var notes: [String]
}

/// `kd convert`: a kd model file to and from a safetensors file of the PyTorch `state_dict`
/// (`SafeTensors`), so a teacher trained in PyTorch can be brought in and a kd student taken
/// out.
///
/// Out (model.h5 → .safetensors): every `/params` tensor as F32 under its key, plus one I64
/// scalar `<bn>.num_batches_tracked` per BatchNorm as PyTorch's `state_dict` has it (0: kd does
/// not count batches, and PyTorch reads the count only when momentum is None). `__metadata__`
/// holds format "pt", `kd_version`, `kd_arch` (the architecture JSON) and, when the model has
/// them, `kd_input_mean`/`kd_input_std` (comma-separated) and `kd_classes` (a JSON list).
///
/// In (.safetensors → model.h5): the architecture (`--arch`, else `kd_arch`), with `--classes`
/// and `--input` as `kd summary` applies them, must match the file key for key and shape for
/// shape (`StateDictMatch`); floats must be finite. The model file also needs the input
/// normalization kd eval and kd extract apply: `--mean`/`--std`, else the metadata's.
///
/// Both directions claim the output and write it through `AtomicOutput`, so it appears only
/// when complete and a failure leaves an existing file as it was. Exit codes: 64 flags, 65 a
/// malformed file or a mismatch, 66 missing input, 73 output folder, 74 I/O, 75 output claimed.
/// Cost: one read and one write of every parameter.
public enum ModelConversion {
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

    public static func run(_ options: ConversionOptions) throws -> ConversionSummary {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.input, isDirectory: &isFolder), !isFolder.boolValue else {
            throw StageError.noInput("\(options.input): no such file; expected a kd model file or a .safetensors file")
        }
        if try isHDF5(options.input) {
            let flags = [("--arch", options.architecture != nil), ("--classes", options.classes != nil),
                         ("--input", options.inputShape != nil), ("--mean", options.mean != nil), ("--std", options.std != nil)]
            if let (flag, _) = flags.first(where: { $0.1 }) {
                throw StageError.usage("\(flag) applies to a safetensors input; \(options.input) is a kd model file, "
                                       + "which carries its own architecture and normalization")
            }
            return try export(options.input, to: options.output)
        }
        return try importModel(options)
    }

    // MARK: - Out

    static func export(_ input: String, to output: String) throws -> ConversionSummary {
        let out = AtomicOutput(output)
        try out.claim(inputs: [input])
        let file = try H5File.open(input)
        let model = try ModelFile.build(try ModelFile.architecture(in: file.root), from: file.root)
        try ModelFile.load(into: model, from: file.root)
        var metadata = ["format": "pt", "kd_version": Provenance.kdVersion, "kd_arch": model.architecture.jsonText]
        if try file.doubleArrayAttribute("input_mean") != nil {
            let normalization = try InputNormalization.read(from: file)
            metadata["kd_input_mean"] = normalization.mean.map { "\($0)" }.joined(separator: ",")
            metadata["kd_input_std"] = normalization.std.map { "\($0)" }.joined(separator: ",")
        }
        if let classes = try file.stringArrayAttribute("classes") {
            metadata["kd_classes"] = String(decoding: try JSONSerialization.data(withJSONObject: classes), as: UTF8.self)
        }
        var tensors: [(name: String, value: SafeTensors.Value)] = model.stateDict.map { ($0.0, .float32($0.1.value)) }
        for (path, layer) in model.walk() where layer is BatchNorm2d {
            tensors.append((LayerTree.join(path, "num_batches_tracked"), .int64(shape: [], values: [0])))
        }
        do {
            try SafeTensors.save(tensors, metadata: metadata, to: out.partialPath)
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
        return ConversionSummary(architecture: model.architecture.name, tensors: tensors.count,
                                 parameters: model.parameterCount, notes: [])
    }

    // MARK: - In

    static func importModel(_ options: ConversionOptions) throws -> ConversionSummary {
        let out = AtomicOutput(options.output)
        try out.claim(inputs: [options.input])
        let file = try SafeTensors(path: options.input)
        let architecture = try resolveArchitecture(options, file.metadata)
        let model: Model
        do { model = try Model(architecture) } catch let error as StageError {
            throw StageError(error.code, "architecture \(architecture.name) cannot be built: \(error.message)")
        }
        let match = StateDictMatch(model: model, file: file)
        guard match.isExact else {
            // Same keys, other shapes: most often another class count or input channels.
            let sameKeys = match.missing.isEmpty && match.unexpected.isEmpty && !match.reshaped.isEmpty
            let hint = sameKeys ? " (--classes N sets the head's width, --input CxHxW the input's shape)" : ""
            throw StageError.badData("\(options.input) does not fit architecture \(architecture.name) "
                                     + "(\(describe(architecture))): \(match.describe())\(hint)")
        }
        for (name, parameter) in model.stateDict {
            guard let entry = file.entry(name) else { continue }   // none: StateDictMatch checked every key
            let values = try file.floats(entry)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw StageError.badData("\(options.input): tensor \(name) holds \(values[bad]) at element \(bad); "
                                         + "expected finite weights")
            }
            parameter.value.data = values
        }
        var notes: [String] = []
        let normalization = try inputNormalization(options, file.metadata, channels: architecture.input[0], notes: &notes)
        let classes = classNames(file.metadata, count: model.outputWidth)
        if match.batchCounters > 0 {
            notes.append("\(match.batchCounters) num_batches_tracked counters ignored (kd does not count batches)")
        }
        let source = try FileDigest.sha256(path: options.input)
        try ModelFile.save(model, to: options.output) { h5 in
            try normalization.write(to: h5)
            if let classes { try h5.setAttribute("classes", classes) }
            try h5.setAttribute("converted_from", options.input)
            try h5.setAttribute("converted_from_sha256", source)
        }
        return ConversionSummary(architecture: architecture.name, tensors: model.stateDict.count,
                                 parameters: model.parameterCount, notes: notes)
    }

    /// `--arch` (with `--input` and `--classes`), else the file's `kd_arch`; 64 when neither.
    static func resolveArchitecture(_ options: ConversionOptions, _ metadata: [String: String]) throws -> Architecture {
        if let name = options.architecture {
            return try ArchitectureCatalog.resolve(name, input: options.inputShape, classes: options.classes)
        }
        guard let text = metadata["kd_arch"] else {
            throw StageError.usage("\(options.input) does not say which network it holds (no kd_arch metadata); "
                                   + "give --arch NAME|FILE (e.g. --arch resnet8, see kd summary)")
        }
        var architecture: Architecture
        do { architecture = try Architecture(jsonText: text) } catch {
            throw StageError.badData("\(options.input): its kd_arch metadata is not a valid architecture: \(error)")
        }
        if let shape = options.inputShape {
            architecture = architecture.with(input: try ArchitectureCatalog.parseInputShape(shape))
        }
        if let classes = options.classes {
            guard classes >= 1 else { throw StageError.usage("--classes must be at least 1, got \(classes)") }
            architecture = try architecture.with(classes: classes)
        }
        return architecture
    }

    /// "3×32×32 input, 10 classes" or "…, no head".
    static func describe(_ architecture: Architecture) -> String {
        architecture.input.map(String.init).joined(separator: "×") + " input, "
            + (architecture.head.map { "\($0.out) classes" } ?? "no head")
    }

    /// `--mean`/`--std`, else the metadata's; 64 when neither says, or the values do not fit.
    static func inputNormalization(_ options: ConversionOptions, _ metadata: [String: String], channels: Int,
                                   notes: inout [String]) throws -> InputNormalization {
        let (meanText, stdText, origin): (String?, String?, String)
        switch (options.mean, options.std) {
        case (nil, nil): (meanText, stdText, origin) = (metadata["kd_input_mean"], metadata["kd_input_std"], "metadata")
        case (let m?, let s?): (meanText, stdText, origin) = (m, s, "flags")
        default: throw StageError.usage("--mean and --std go together; give both")
        }
        guard let meanText, let stdText else {
            throw StageError.usage("\(options.input) carries no input normalization; give the one the network was "
                                   + "trained with as --mean and --std, \(channels) comma-separated value"
                                   + "\(channels == 1 ? "" : "s") each on the 0–1 pixel scale (torchvision's "
                                   + "Normalize; e.g. CIFAR-10: --mean 0.4914,0.4822,0.4465 --std 0.2470,0.2435,0.2616)")
        }
        func values(_ text: String, _ name: String, positive: Bool) throws -> [Double] {
            let items = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            let numbers = items.compactMap { $0 }
            guard numbers.count == items.count, numbers.count == channels,
                  numbers.allSatisfy({ $0.isFinite && (!positive || $0 > 0) }) else {
                let place = origin == "flags" ? "--\(name)" : "\(options.input): metadata kd_input_\(name)"
                throw StageError(origin == "flags" ? .usage : .dataErr,
                                 "\(place) \"\(text)\": expected \(channels) finite\(positive ? ", positive" : "") "
                                 + "comma-separated number\(channels == 1 ? "" : "s"), one per input channel")
            }
            return numbers
        }
        let normalization = InputNormalization(mean: try values(meanText, "mean", positive: false),
                                               std: try values(stdText, "std", positive: true))
        notes.append("input normalization from the \(origin == "flags" ? "--mean/--std flags" : "file's metadata"): "
                     + "mean \(meanText), std \(stdText)")
        return normalization
    }

    /// The class names of a file kd wrote, when there are as many as the network's outputs.
    static func classNames(_ metadata: [String: String], count: Int) -> [String]? {
        guard let text = metadata["kd_classes"],
              let names = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String],
              names.count == count else { return nil }
        return names
    }

    /// Whether the file starts with HDF5's signature (kd writes no user block).
    static func isHDF5(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StageError.noInput("cannot read \(path)")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        return Array(head) == hdf5Signature
    }
}
