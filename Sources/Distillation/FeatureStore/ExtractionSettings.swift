import Foundation
import KDCore

/// Everything that decides the contents of a feature file: the inputs by content, what is
/// extracted, and the batch size and thread count (the arithmetic is bitwise reproducible only
/// for those fixed). Stored as the root attribute `settings` (JSON), so a resumed extraction
/// can check it continues the same work and a finished file can say it is already up to date.
/// Cost: a small JSON text.
public struct ExtractionSettings: Codable, Equatable {
    public var modelSHA256: String
    public var dataSHA256: String
    /// The layer asked for; nil for the model's default (see `FeatureSource`).
    public var layer: String?
    public var flatten: Bool
    public var splits: [String]
    public var batch: Int
    public var threads: Int
    public var views: Int
    /// Seed of the views' crops and flips; nil without views (it then changes nothing).
    public var seed: UInt64?
    public var deflate: Int
    /// Taps whose attention maps are stored; nil for none.
    public var attention: [String]? = nil

    public static let attribute = "settings"

    public var jsonText: String { CanonicalJSON.text(self) }

    /// The settings in `text`; nil when it is not such a JSON object.
    public static func parse(_ text: String) -> ExtractionSettings? {
        try? JSONDecoder().decode(ExtractionSettings.self, from: Data(text.utf8))
    }

    /// What differs from `stored`, in words ("batch 64 → 32").
    public func differences(from stored: ExtractionSettings) -> [String] {
        var out: [String] = []
        if modelSHA256 != stored.modelSHA256 { out.append("model content changed") }
        if dataSHA256 != stored.dataSHA256 { out.append("data store content changed") }
        func note<T: Equatable>(_ name: String, _ now: T, _ was: T, _ show: (T) -> String) {
            if now != was { out.append("\(name) \(show(was)) → \(show(now))") }
        }
        note("--layer", layer, stored.layer) { $0 ?? "(default)" }
        note("--flatten", flatten, stored.flatten) { String($0) }
        note("--splits", splits, stored.splits) { $0.joined(separator: ",") }
        note("--batch", batch, stored.batch) { String($0) }
        note("--threads", threads, stored.threads) { String($0) }
        note("--views", views, stored.views) { String($0) }
        note("--seed", seed, stored.seed) { $0.map { String($0) } ?? "(none)" }
        note("--deflate", deflate, stored.deflate) { String($0) }
        note("--attention", attention, stored.attention) { $0?.joined(separator: ",") ?? "(none)" }
        return out
    }
}
