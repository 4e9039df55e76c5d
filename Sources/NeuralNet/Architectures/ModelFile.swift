import HDF5
import KDCore

/// Models and training checkpoints as HDF5 files, in PyTorch's terms so h5py users recognize
/// them:
///
///     /params/<state_dict name>       float32, the parameter's shape (BatchNorm buffers too)
///     /optimizer/<name>/<buffer>      float32 (checkpoints: momentum_buffer, exp_avg, …)
///     root attributes                 kd_kind ("model" or "checkpoint"), kd_version, arch (JSON
///                                     text), param_count, command_line, created
///     /optimizer attributes           kind ("sgd", "adam"), steps
///
/// The same layout fits inside a group: a checkpoint of a run with several networks keeps the
/// first at the root (so it stays a model file every tool reads) and each other one under
/// `/trainees/<name>/` (`params`, `optimizer` and the attributes on the group).
///
/// Saving goes through `AtomicOutput`, so the file appears whole or not at all; a caller adds
/// its own attributes and datasets (RNG state, epoch, normalization, provenance) in `extra`
/// before the file is committed. Loading checks every parameter's presence and shape and the
/// architecture, and refuses a mismatch with `StageError` 65 naming the parameter and both
/// shapes. Cost: one write or read of every parameter (float datasets chunked by rows with
/// shuffle and deflate level 1, as the layouts ask, at little cost in time).
public enum ModelFile {
    public enum Kind: String, Sendable {
        /// A finished model: weights and BatchNorm statistics.
        case model
        /// A training checkpoint: a model plus optimizer state and what the trainer adds.
        case checkpoint
    }

    /// Writes `model` (and `optimizer`'s state, if given) to `path`.
    public static func save(_ model: Model, to path: String, kind: Kind = .model,
                            optimizer: (any Optimizer)? = nil,
                            extra: (H5File) throws -> Void = { _ in }) throws {
        let output = AtomicOutput(path)
        try output.checkWritable()
        do {
            let file = try H5File.create(output.partialPath)
            try write(model, kind: kind, into: file.root)
            if let optimizer { try write(optimizer.state, into: file.root) }
            try extra(file)
            try file.close()
            try output.commit()
        } catch {
            output.discard()
            throw error
        }
    }

    /// The attributes and `params` of a model, into a group of an open file (its root for a
    /// model file).
    public static func write(_ model: Model, kind: Kind, into group: H5Group) throws {
        try group.setAttribute("kd_kind", kind.rawValue)
        try group.setAttribute("kd_version", Provenance.kdVersion)
        try group.setAttribute("arch", model.architecture.jsonText)
        try group.setAttribute("param_count", model.parameterCount)
        try group.setAttribute("command_line", Provenance.commandLine)
        try group.setAttribute("created", Provenance.timestamp)
        let params = try group.createGroup("params")
        for (name, p) in model.stateDict {
            try params.writeDataset(name, p.value.data, shape: p.value.shape, deflate: 1, shuffle: true)
        }
    }

    /// An optimizer's state under `optimizer` of a group of an open file.
    public static func write(_ state: OptimizerState, into location: H5Group) throws {
        let group = try location.createGroup("optimizer")
        try group.setAttribute("kind", state.kind)
        try group.setAttribute("steps", state.steps)
        for (name, buffers) in state.buffers.sorted(by: { $0.key < $1.key }) {
            let parameter = try group.createGroup(name)
            for (buffer, t) in buffers.sorted(by: { $0.key < $1.key }) {
                try parameter.writeDataset(buffer, t.data, shape: t.shape, deflate: 1, shuffle: true)
            }
        }
    }

    /// The architecture a model (in a file's root or a group) was made with. Throws 65 when it
    /// is not a kd model or checkpoint.
    public static func architecture(in group: H5Group) throws -> Architecture {
        let kind = try group.stringAttribute("kd_kind")
        guard kind == Kind.model.rawValue || kind == Kind.checkpoint.rawValue else {
            throw StageError.badData("\(describe(group)) is not a kd model or checkpoint (kd_kind is "
                                     + (kind.map { "\"\($0)\"" } ?? "missing") + ")")
        }
        guard let text = try group.stringAttribute("arch") else {
            throw StageError.badData("\(describe(group)) has no arch attribute")
        }
        do {
            return try Architecture(jsonText: text)
        } catch let error as ArchitectureFieldError {
            throw StageError.badData("\(describe(group)): its arch attribute is not a valid architecture: \(error)")
        }
    }

    /// A model's place in messages: the file, and the group when it is not the root.
    static func describe(_ group: H5Group) -> String {
        group.path == "/" ? group.file.path : "\(group.file.path) (group \(group.path))"
    }

    /// Opens a model file and builds its model with the stored weights.
    public static func load(path: String) throws -> Model {
        let file = try H5File.open(path)
        let model = try build(try architecture(in: file.root), from: file.root)
        try readParameters(into: model, from: file.root)
        return model
    }

    /// The network of the architecture a model file holds, before any weight is read; 65
    /// naming the file when that architecture cannot be built (e.g. absurd sizes).
    public static func build(_ architecture: Architecture, from group: H5Group) throws -> Model {
        do {
            return try Model(architecture)
        } catch let error as StageError {
            throw StageError.badData("\(describe(group)): its arch attribute cannot be built: \(error.message)")
        }
    }

    /// Loads the weights of the file at `path` into `model`, refusing a file of another
    /// architecture or with any parameter missing or of another shape.
    public static func load(into model: Model, path: String) throws {
        try load(into: model, from: try H5File.open(path).root)
    }

    /// As `load(into:path:)`, from a group of an open file (a trainer reads its extras from the
    /// same file).
    public static func load(into model: Model, from group: H5Group) throws {
        let stored = try architecture(in: group)
        var expected = model.architecture
        expected.name = stored.name   // a renamed copy of the same network is the same network
        guard stored == expected else {
            let detail = (try? firstMismatch(model, group)).flatMap { $0 }.map { ": \($0)" } ?? ""
            throw StageError.badData("\(describe(group)) holds architecture \"\(stored.name)\" \(stored.jsonText), "
                                     + "not the expected \"\(model.architecture.name)\" "
                                     + "\(model.architecture.jsonText)\(detail)")
        }
        try readParameters(into: model, from: group)
    }

    /// The optimizer state stored in a checkpoint (in its root or a group), or nil when there
    /// is none.
    public static func optimizerState(in location: H5Group) throws -> OptimizerState? {
        guard try location.contains("optimizer") else { return nil }
        let group = try location.openGroup("optimizer")
        guard let kind = try group.stringAttribute("kind"), let steps = try group.intAttribute("steps") else {
            throw StageError.badData("\(location.file.path): \(group.path) lacks its kind or steps attribute")
        }
        var buffers: [String: [String: Tensor]] = [:]
        for name in try group.memberNames() {
            let parameter = try group.openGroup(name)
            for buffer in try parameter.memberNames() {
                let dataset = try parameter.openDataset(buffer)
                buffers[name, default: [:]][buffer] = Tensor(shape: dataset.shape, data: try dataset.read(as: Float.self))
            }
        }
        return OptimizerState(kind: kind, steps: steps, buffers: buffers)
    }

    /// Reads every state_dict entry of `model` from `/params`, after checking them all.
    private static func readParameters(into model: Model, from group: H5Group) throws {
        if let problem = try firstMismatch(model, group) {
            throw StageError.badData("\(describe(group)) does not fit architecture \"\(model.architecture.name)\": \(problem)")
        }
        let params = try group.openGroup("params")
        for (name, p) in model.stateDict {
            p.value.data = try params.openDataset(name).read(as: Float.self)
        }
    }

    /// The first parameter that is missing, extra or of another shape, described; nil if none.
    private static func firstMismatch(_ model: Model, _ group: H5Group) throws -> String? {
        let place = (group.path == "/" ? "" : group.path) + "/params"
        guard try group.contains("params") else { return "it has no \(place) group" }
        let params = try group.openGroup("params")
        let state = model.stateDict
        for (name, p) in state {
            guard try params.contains(name) else { return "parameter \(name) is missing (no \(place)/\(name))" }
            let shape = try params.openDataset(name).shape
            if shape != p.value.shape {
                return "parameter \(name) has shape \(shape) in the file but \(p.value.shape) in the model"
            }
        }
        let known = Set(state.map(\.0))
        if let stray = try params.memberNames().first(where: { !known.contains($0) }) {
            return "the file has \(place)/\(stray), which the model does not"
        }
        return nil
    }
}
