import HDF5
import KDCore

/// Which part of a feature vector a student learns: chunk `index` (1-based) of `count`
/// contiguous, equal parts — "2/4" is the second quarter. Cost: none.
public struct ChunkSpec: Equatable, Sendable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (1...count).contains(index) else {
            throw StageError.usage("chunk \(index)/\(count) does not exist: K must be between 1 and N in --chunk K/N")
        }
        self.index = index
        self.count = count
    }

    /// Parses "K/N" (64 when malformed or out of range).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw StageError.usage("--chunk must be K/N such as 2/4 (chunk K of N), got \"\(text)\"")
        }
        try self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// The columns of a `width`-wide feature this chunk covers; 65 when the width does not
    /// split into `count` equal parts.
    public func columns(of width: Int, in source: String) throws -> Range<Int> {
        guard width % count == 0 else {
            throw StageError.badData("\(source) holds \(width)-d features, which do not split into \(count) equal chunks")
        }
        let size = width / count
        return (index - 1) * size ..< index * size
    }
}

/// The part of the root teacher's feature vector a model stands for: `range` of the dense
/// feature of the model whose file has SHA-256 `rootSHA256`. A teacher stands for all of its own
/// feature; a student of chunk k/N of features that stand for [a, b) stands for the k-th N-th of
/// [a, b) — which is how a hierarchy's students are traced back to the teacher.
public struct FeatureSlice: Equatable, Sendable, CustomStringConvertible {
    public var rootSHA256: String
    public var range: Range<Int>

    public init(rootSHA256: String, range: Range<Int>) {
        self.rootSHA256 = rootSHA256
        self.range = range
    }

    /// The slice chunk `chunk` of this slice stands for (its width must split evenly).
    public func chunk(_ chunk: ChunkSpec) -> FeatureSlice {
        let size = range.count / chunk.count
        let start = range.lowerBound + (chunk.index - 1) * size
        return FeatureSlice(rootSHA256: rootSHA256, range: start ..< start + size)
    }

    public var description: String { "[\(range.lowerBound), \(range.upperBound)) of root \(rootSHA256.prefix(12))" }

    static let rootAttribute = "root_sha256"
    static let rangeAttribute = "root_range"
}

extension FeatureSlice {
    /// What a feature file's (or model file's) features stand for: its recorded root slice, or —
    /// for features of a model that is itself the root (the teacher) — all `width` columns of
    /// the model the file was extracted from.
    static func read(from file: H5File, width: Int) throws -> FeatureSlice {
        if let root = try file.stringAttribute(rootAttribute), let range = try file.intArrayAttribute(rangeAttribute),
           range.count == 2 {
            guard range[1] - range[0] == width else {
                throw StageError.badData("\(file.path): root_range \(range) does not match its \(width)-d features")
            }
            return FeatureSlice(rootSHA256: root, range: range[0] ..< range[1])
        }
        guard let model = try file.stringAttribute("model_sha256") else {
            throw StageError.badData("\(file.path) names neither its root slice nor the model_sha256 it was extracted from")
        }
        return FeatureSlice(rootSHA256: model, range: 0 ..< width)
    }

    func write(to file: H5File) throws {
        try file.setAttribute(Self.rootAttribute, rootSHA256)
        try file.setAttribute(Self.rangeAttribute, [range.lowerBound, range.upperBound])
    }
}
