import Foundation
import KDCore
import NeuralNet

/// How a network is trained: every setting of `kd train` (and later `kd distill`) that changes
/// the result, as one value that a run directory records and compares. Readable from a JSON
/// recipe file (keys as the properties below, e.g. `{"epochs": 10, "learningRate": 0.05}`);
/// flags given on the command line override the file. Cost: none worth naming.
public struct Recipe: Codable, Equatable, Sendable {
    public var epochs = 10
    public var batchSize = 128
    /// "sgd" or "adam".
    public var optimizer = "sgd"
    public var learningRate = 0.05
    public var momentum = 0.9
    public var nesterov = false
    public var weightDecay = 5e-4
    /// "constant", "step" or "cosine". The rate changes every step (cosine and warm-up move
    /// smoothly through an epoch; step decays land on epoch boundaries), so that even a
    /// one-epoch run can warm up and anneal.
    public var schedule = "cosine"
    /// Epochs between decays of the step schedule.
    public var stepSize = 30
    /// Factor of each step decay.
    public var gamma = 0.1
    /// Where the cosine schedule ends.
    public var minLearningRate = 0.0
    /// Epochs of linear warm-up before the schedule; fractions allowed (0.1 = a tenth of an epoch).
    public var warmupEpochs = 0.0
    public var seed: UInt64 = 0
    /// Random crop with 4-pixel zero padding plus horizontal flip.
    public var augment = false
    /// Training images held out (a seeded random subset) to measure validation accuracy.
    public var valSplit = 0
    /// Train on the first N training images only (quick runs); nil for all.
    public var limit: Int?

    public init() {}

    /// Zero padding of the augmentation's random crop (the CIFAR standard).
    public static let cropPadding = 4

    /// Reads a recipe file; missing keys keep their defaults. 66 when missing, 65 when invalid.
    public static func load(path: String) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StageError.noInput("\(path): no such recipe file")
        }
        do {
            return try JSONDecoder().decode(Partial.self, from: data).recipe
        } catch let error as DecodingError {
            throw StageError.badData("\(path): not a valid recipe: \(Self.describe(error))")
        }
    }

    /// The recipe as JSON text with sorted keys: stable, so two runs compare as text.
    public var jsonText: String { CanonicalJSON.text(self) }

    /// Throws 64 for settings that cannot work, before any work is done.
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw StageError.usage(message) } }
        try require(epochs >= 1, "epochs must be at least 1, got \(epochs)")
        try require(batchSize >= 2, "batch size must be at least 2 (BatchNorm needs two images), got \(batchSize)")
        try require(["sgd", "adam"].contains(optimizer), "optimizer must be sgd or adam, got \"\(optimizer)\"")
        try require(["constant", "step", "cosine"].contains(schedule),
                    "schedule must be constant, step or cosine, got \"\(schedule)\"")
        try require(epochs <= 1_000_000, "epochs must be at most 1,000,000, got \(epochs)")
        try require(batchSize <= Model.maxBatch, "batch size must be at most \(Model.maxBatch), got \(batchSize)")
        try require(learningRate > 0 && learningRate.isFinite, "learning rate (--lr) must be a positive number, got \(learningRate)")
        try require(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got \(momentum)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "weight decay must be a number ≥ 0, got \(weightDecay)")
        try require(gamma > 0 && gamma <= 1, "gamma (the step decay factor) must be in (0, 1], got \(gamma)")
        try require(minLearningRate >= 0 && minLearningRate.isFinite,
                    "the cosine schedule's final rate (--min-lr) must be a number ≥ 0, got \(minLearningRate)")
        try require(stepSize >= 1 && stepSize <= 1_000_000, "step size must be in 1…1,000,000 epochs, got \(stepSize)")
        try require(warmupEpochs >= 0 && warmupEpochs < Double(epochs),
                    "warm-up must be at least 0 and less than the \(epochs) epochs, got \(warmupEpochs)")
        try require(valSplit >= 0 && valSplit <= 1 << 32, "validation split must be in 0…2³² images, got \(valSplit)")
        try require(limit.map { $0 >= 2 && $0 <= 1 << 32 } ?? true, "limit must be in 2…2³² images, got \(limit ?? 0)")
    }

    /// The learning rate of each step (counted from 0 over the whole run) for epochs of
    /// `stepsPerEpoch` steps.
    public func learningRateSchedule(stepsPerEpoch: Int) -> LearningRateSchedule {
        let shape: LearningRateSchedule.Shape = switch schedule {
        case "step": .step(every: stepSize * stepsPerEpoch, gamma: gamma)
        case "cosine": .cosine(total: epochs * stepsPerEpoch, minimum: minLearningRate)
        default: .constant
        }
        let warmup = Int((warmupEpochs * Double(stepsPerEpoch)).rounded())
        return LearningRateSchedule(base: learningRate, shape: shape, warmup: min(warmup, epochs * stepsPerEpoch - 1))
    }

    /// Steps in an epoch over `images` training images. A last batch of one image cannot be
    /// batch-normalized, so it is left out.
    public func stepsPerEpoch(images: Int) -> Int {
        let used = images % batchSize == 1 ? images - 1 : images
        return (used + batchSize - 1) / batchSize
    }

    /// The optimizer over `parameters` this recipe asks for.
    public func makeOptimizer(_ parameters: [(String, Parameter)]) throws -> any Optimizer {
        optimizer == "adam"
            ? try Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
            : try SGD(parameters: parameters, learningRate: learningRate, momentum: momentum,
                      weightDecay: weightDecay, nesterov: nesterov)
    }

    /// The differences from `other`, as "epochs 10 → 12" phrases; empty when equal.
    public func differences(from other: Recipe) -> [String] {
        let mine = fields, theirs = other.fields
        return mine.keys.sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : "\(key) \(theirs[key] ?? "unset") → \(mine[key] ?? "unset")"
        }
    }

    private var fields: [String: String] {
        let object = (try? JSONSerialization.jsonObject(with: Data(jsonText.utf8))) as? [String: Any] ?? [:]
        return object.mapValues { "\($0)" }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "field \(path): ") + c.debugDescription
        @unknown default:
            return "\(error)"
        }
    }
}

/// A recipe file may set any subset of the keys; the rest keep their defaults.
private struct Partial: Decodable {
    var recipe = Recipe()

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let known: Set = ["epochs", "batchSize", "optimizer", "learningRate", "momentum", "nesterov",
                          "weightDecay", "schedule", "stepSize", "gamma", "minLearningRate",
                          "warmupEpochs", "seed", "augment", "valSplit", "limit"]
        if let unknown = c.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: [unknown],
                debugDescription: "unknown key; known keys are \(known.sorted().joined(separator: ", "))"))
        }
        func read<T: Decodable>(_ key: String, _ path: WritableKeyPath<Recipe, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: Key(stringValue: key)) { recipe[keyPath: path] = v }
        }
        try read("epochs", \.epochs); try read("batchSize", \.batchSize); try read("optimizer", \.optimizer)
        try read("learningRate", \.learningRate); try read("momentum", \.momentum); try read("nesterov", \.nesterov)
        try read("weightDecay", \.weightDecay); try read("schedule", \.schedule); try read("stepSize", \.stepSize)
        try read("gamma", \.gamma); try read("minLearningRate", \.minLearningRate)
        try read("warmupEpochs", \.warmupEpochs); try read("seed", \.seed); try read("augment", \.augment)
        try read("valSplit", \.valSplit)
        if let v = try c.decodeIfPresent(Int.self, forKey: Key(stringValue: "limit")) { recipe.limit = v }
    }
}
