import Foundation
import KDCore

/// What a run directory's `run.json` records: the settings that decide the result (stage,
/// architecture, data by content, recipe). Running again with other settings over the same
/// folder is refused, naming what changed. Cost: a small JSON file.
public struct RunSettings: Codable, Equatable {
    public var stage: String
    public var architecture: String
    public var dataSHA256: String
    public var recipe: Recipe
    /// The objective's own settings (targets file by content, chunk) and the architecture of
    /// each further trainee (`arch/scratch`); empty for `kd train`.
    public var objective: [String: String]

    public var jsonText: String { CanonicalJSON.text(self, formatting: .prettyPrinted) + "\n" }

    /// The settings stored at `path`, nil when there are none; 65 when the file is unreadable.
    public static func read(path: String) throws -> RunSettings? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(RunSettings.self, from: data)
        } catch {
            throw StageError.badData("\(path) is not a valid run.json (\(error)); run with --restart to start over")
        }
    }

    /// What differs from `stored`, in words.
    public func differences(from stored: RunSettings) -> [String] {
        var out: [String] = []
        if stage != stored.stage { out.append("stage \(stored.stage) → \(stage)") }
        if architecture != stored.architecture { out.append("architecture changed") }
        if dataSHA256 != stored.dataSHA256 { out.append("data store content changed") }
        for key in Set(objective.keys).union(stored.objective.keys).sorted() where objective[key] != stored.objective[key] {
            let (before, after) = (stored.objective[key] ?? "unset", objective[key] ?? "unset")
            out.append(before.count + after.count > 120 ? "\(key) changed" : "\(key) \(before) → \(after)")
        }
        out += recipe.differences(from: stored.recipe)
        return out
    }
}
