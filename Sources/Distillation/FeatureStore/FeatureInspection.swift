import Datasets
import Foundation
import HDF5
import KDCore

/// What `kd inspect` adds for a feature file: per split, what is stored, and per-dimension
/// statistics (mean, standard deviation, min, max over a sample of rows) of the features,
/// logits and view features, so a dead dimension (constant over the sample) or an exploding
/// one (non-finite or beyond ±`explodingLimit`) shows at a glance. A dimension is a column of
/// [N, D] data, or a channel of [N, C, H, W] data (its H·W values pooled); views pool over V.
/// Cost: reads up to `sampleRows` rows of each dataset, in a few contiguous runs spread over
/// the split.
public struct FeatureStatistics: InspectionSection {
    /// Statistics of one dataset.
    public struct Entry {
        public var path: String
        public var rows: Int
        public var sampledRows: Int
        public var mean: [Double]
        public var std: [Double]
        public var min: [Double]
        public var max: [Double]
        /// Dimensions constant over the sample.
        public var dead: [Int]
        /// Dimensions with a non-finite value or one beyond ±explodingLimit.
        public var exploding: [Int]
    }

    public static let sampleRows = 4096
    public static let explodingLimit = 1e4
    /// Rows per contiguous run of the sample.
    static let runRows = 256

    /// One line per split: what it holds.
    public var summaries: [String]
    public var entries: [Entry]

    public var key: String { "feature_statistics" }

    /// The inspector `kd inspect` uses for kd_kind "features".
    public static let inspector = KindInspector { file in [try FeatureStatistics(store: FeatureStore(file: file))] }

    public init(store: FeatureStore) throws {
        summaries = []
        entries = []
        let description = (try? store.file.stringAttribute("layer_description")).flatMap { $0 } ?? store.layer
        for name in FeatureStore.ordered(store.splitNames) {
            let split = try store.split(name)
            var parts = ["\(split.count) images", "features \(Self.shape(split.featureShape)) (\(description))"]
            if let k = split.logitsWidth { parts.append("logits \(k)") }
            if split.viewCount > 0 { parts.append("\(split.viewCount) views") }
            let taps = split.attentionWidths.keys.sorted()
            if !taps.isEmpty {
                parts.append("attention maps " + taps.map { "\($0) (\(split.attentionWidths[$0]!))" }.joined(separator: ", "))
            }
            summaries.append("/\(name): " + parts.joined(separator: ", "))
            let runs = Self.sampleRuns(count: split.count)
            let sample = { (read: (Range<Int>) throws -> [Float]) in try runs.flatMap { try read($0) } }
            entries.append(Entry(path: "/\(name)/features", rows: split.count, runs: runs,
                                 values: try sample { try split.readFeatures($0) }, shape: split.featureShape))
            if let k = split.logitsWidth {
                entries.append(Entry(path: "/\(name)/logits", rows: split.count, runs: runs,
                                     values: try sample { try split.readLogits($0) }, shape: [k]))
            }
            if split.viewCount > 0 {
                entries.append(Entry(path: "/\(name)/views/features", rows: split.count, runs: runs,
                                     values: try sample { try split.readViewFeatures($0) },
                                     shape: [split.viewCount] + split.featureShape, pooledLeading: 1))
            }
            for tap in taps {
                entries.append(Entry(path: "/\(name)/attention/\(tap)", rows: split.count, runs: runs,
                                     values: try sample { try split.readAttention(tap, $0) },
                                     shape: [split.attentionWidths[tap]!]))
            }
        }
    }

    /// Up to `sampleRows` rows of `count`, as evenly spread runs of `runRows` (all when few).
    static func sampleRuns(count: Int) -> [Range<Int>] {
        guard count > sampleRows else { return count > 0 ? [0..<count] : [] }
        let runs = sampleRows / runRows
        return (0..<runs).map { i in
            let start = i * (count - runRows) / (runs - 1)
            return start ..< start + runRows
        }
    }

    static func shape(_ dims: [Int]) -> String {
        dims.map(String.init).joined(separator: "×")
    }

    public func textLines() -> [String] {
        var lines = ["feature statistics (per dimension, over a sample of rows)"]
        lines += summaries.map { "  " + $0 }
        for e in entries {
            lines.append("")
            lines.append("  \(e.path): \(e.mean.count) dims, \(e.sampledRows) of \(e.rows) rows sampled")
            lines.append("    over dims   min          median       max")
            for (name, values) in [("mean", e.mean), ("std", e.std), ("min", e.min), ("max", e.max)] {
                let sorted = values.sorted()
                let cells = [sorted.first, sorted.isEmpty ? nil : sorted[sorted.count / 2], sorted.last]
                    .map { Self.padded($0.map(Self.number) ?? "-", 11) }
                lines.append("    " + Self.padded(name, 10) + "  " + cells.joined(separator: "  "))
            }
            lines.append("    dead (constant): " + Self.list(e.dead))
            lines.append("    exploding (non-finite or |x| > \(Self.number(Self.explodingLimit))): " + Self.list(e.exploding))
        }
        return lines
    }

    public func jsonValue() -> Any {
        [
            "splits": summaries,
            "exploding_limit": Self.explodingLimit,
            "datasets": entries.map { e -> [String: Any] in
                ["path": e.path, "rows": e.rows, "sampled_rows": e.sampledRows, "dims": e.mean.count,
                 "mean": e.mean.map(Self.json), "std": e.std.map(Self.json),
                 "min": e.min.map(Self.json), "max": e.max.map(Self.json),
                 "dead": e.dead, "exploding": e.exploding]
            },
        ]
    }

    /// "none", or the count and the first dimensions.
    private static func list(_ dims: [Int]) -> String {
        guard !dims.isEmpty else { return "none" }
        let shown = dims.prefix(16).map(String.init).joined(separator: ", ")
        return "\(dims.count) — \(shown)\(dims.count > 16 ? ", …" : "")"
    }

    private static func number(_ v: Double) -> String {
        v.isFinite ? String(format: "%.4g", v) : "\(v)"
    }

    private static func padded(_ s: String, _ width: Int) -> String {
        s + String(repeating: " ", count: Swift.max(0, width - s.count))
    }

    /// JSON has no NaN or infinity: those become "nan", "inf", "-inf", as elsewhere in kd inspect.
    private static func json(_ v: Double) -> Any {
        v.isFinite ? v : (v.isNaN ? "nan" : v > 0 ? "inf" : "-inf")
    }
}

extension FeatureStatistics.Entry {
    /// Statistics of `values`: the sampled rows, each of `shape`; the dimension is axis
    /// `pooledLeading` of the shape, every other axis is pooled.
    init(path: String, rows: Int, runs: [Range<Int>], values: [Float], shape: [Int], pooledLeading: Int = 0) {
        self.path = path
        self.rows = rows
        sampledRows = runs.reduce(0) { $0 + $1.count }
        let dims = shape[pooledLeading]
        let outer = shape.prefix(pooledLeading).reduce(1, *) * sampledRows
        let inner = shape.dropFirst(pooledLeading + 1).reduce(1, *)
        var sum = [Double](repeating: 0, count: dims), squares = sum
        var low = [Double](repeating: .infinity, count: dims), high = [Double](repeating: -.infinity, count: dims)
        var nonFinite = [Bool](repeating: false, count: dims)
        values.withUnsafeBufferPointer { v in
            for o in 0..<outer {
                for d in 0..<dims {
                    let base = (o * dims + d) * inner
                    for i in 0..<inner {
                        let x = Double(v[base + i])
                        guard x.isFinite else { nonFinite[d] = true; continue }
                        sum[d] += x
                        squares[d] += x * x
                        low[d] = Swift.min(low[d], x)
                        high[d] = Swift.max(high[d], x)
                    }
                }
            }
        }
        let n = Double(Swift.max(outer * inner, 1))
        mean = sum.map { $0 / n }
        std = zip(squares, mean).map { Swift.max($0 / n - $1 * $1, 0).squareRoot() }
        min = low
        max = high
        dead = (0..<dims).filter { !nonFinite[$0] && low[$0] == high[$0] }
        exploding = (0..<dims).filter {
            nonFinite[$0] || Swift.max(abs(low[$0]), abs(high[$0])) > FeatureStatistics.explodingLimit
        }
    }
}
