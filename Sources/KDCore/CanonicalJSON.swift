import Foundation

/// The JSON text kd stores for settings (run.json, a model's `arch` and `recipe`, a feature
/// file's `settings`): keys sorted, so the same value always gives the same text and files
/// that store it stay byte-identical run to run. Cost: one encoding.
public enum CanonicalJSON {
    public static func text(_ value: some Encodable, formatting: JSONEncoder.OutputFormatting = []) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting.union(.sortedKeys)
        // A number that is not finite is the one value JSONEncoder refuses; written as a string,
        // nothing of these plain value types can make encoding fail.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                      nan: "nan")
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            preconditionFailure("JSON encoding of \(type(of: value)) failed: \(error)")
        }
    }
}
