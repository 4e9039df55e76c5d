/// How the tensors of a safetensors file line up with a model's `state_dict`, PyTorch's
/// `load_state_dict(strict=True)` check: keys the model has and the file lacks (missing), keys
/// the file has and the model lacks (unexpected), keys in both with other shapes, and tensors
/// whose dtype is not a float. A BatchNorm's `num_batches_tracked`, which PyTorch saves and kd
/// does not keep, is accepted beside the layer's `running_mean` and otherwise ignored.
/// Cost: one pass over the keys.
public struct StateDictMatch {
    public var missing: [(name: String, shape: [Int])] = []
    public var unexpected: [(name: String, shape: [Int])] = []
    public var reshaped: [(name: String, file: [Int], model: [Int])] = []
    public var notFloat: [(name: String, dtype: String)] = []
    /// The `num_batches_tracked` entries that were set aside.
    public var batchCounters = 0

    public init(model: Model, file: SafeTensors) {
        let expected = Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.0, $0.1.value.shape) })
        let stored = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0) })
        for (name, shape) in model.stateDict.map({ ($0.0, $0.1.value.shape) }) {
            guard let entry = stored[name] else { missing.append((name, shape)); continue }
            if entry.shape != shape { reshaped.append((name, entry.shape, shape)) }
            if !SafeTensors.floatTypes.contains(entry.dtype) { notFloat.append((name, entry.dtype)) }
        }
        let suffix = ".num_batches_tracked"
        for entry in file.entries where expected[entry.name] == nil {
            if entry.name.hasSuffix(suffix), expected[String(entry.name.dropLast(suffix.count)) + ".running_mean"] != nil {
                batchCounters += 1
            } else {
                unexpected.append((entry.name, entry.shape))
            }
        }
        unexpected.sort { $0.name < $1.name }
    }

    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty && reshaped.isEmpty && notFloat.isEmpty }

    /// The differences in words, at most `limit` of each kind, e.g. "2 missing keys (in the
    /// model, not in the file): layer3.0.conv1.weight [64, 32, 3, 3], …".
    public func describe(limit: Int = 6) -> String {
        func list<T>(_ items: [T], _ what: String, _ text: (T) -> String) -> String? {
            guard !items.isEmpty else { return nil }
            let shown = items.prefix(limit).map(text).joined(separator: ", ")
            return "\(items.count) \(what): \(shown)" + (items.count > limit ? ", …" : "")
        }
        return [
            list(missing, "missing key\(missing.count == 1 ? "" : "s") (in the model, not in the file)") {
                "\($0.name) \($0.shape)"
            },
            list(unexpected, "unexpected key\(unexpected.count == 1 ? "" : "s") (in the file, not in the model)") {
                "\($0.name) \($0.shape)"
            },
            list(reshaped, "shape difference\(reshaped.count == 1 ? "" : "s") (file vs model)") {
                "\($0.name) \($0.file) vs \($0.model)"
            },
            list(notFloat, "tensor\(notFloat.count == 1 ? "" : "s") of a non-float dtype (expected F32, F16, BF16 or F64)") {
                "\($0.name) \($0.dtype)"
            },
        ].compactMap { $0 }.joined(separator: "; ")
    }
}
