import HDF5
import KDCore
import NeuralNet

/// How far a training epoch has got: the steps taken, the sums its metrics row is made of and
/// the generators' states after the last step. A run stopped by a signal stores it in an
/// in-epoch checkpoint, so the resumed run takes the next step exactly as an unbroken run would
/// and ends the epoch with the same row. Cost: a few numbers per trainee and loss term.
struct EpochProgress {
    var step = 0
    var lossSum = 0.0
    var seen = 0
    /// Correct answers of each trainee.
    var correct: [Int]
    /// Each term's loss summed over the images of the steps it took part in, and those images.
    var termSums: [Double]
    var termSeen: [Double]
    /// Seconds spent in the epoch's steps so far.
    var seconds = 0.0
    /// The run's generator after the last step; nil before the first.
    var rng: [UInt64]?
    /// Each dropout layer's generator after the last step, trainee by trainee in layer order.
    var dropoutRNG: [[UInt64]] = []

    init(trainees: Int, terms: Int) {
        correct = [Int](repeating: 0, count: trainees)
        termSums = [Double](repeating: 0, count: terms)
        termSeen = termSums
    }

    func write(to file: H5File) throws {
        try file.setAttribute("step", step)
        try file.setAttribute("loss_sum", lossSum)
        try file.setAttribute("seen", seen)
        try file.setAttribute("correct", correct)
        try file.setAttribute("term_sums", termSums)
        try file.setAttribute("term_seen", termSeen)
        try file.setAttribute("seconds", seconds)
        try file.setAttribute("step_rng_state", Self.encode(rng ?? []))
        try file.setAttribute("dropout_rng_state", Self.encode(dropoutRNG.flatMap { $0 }))
    }

    /// The progress an in-epoch checkpoint holds, nil for a whole epoch's; 65 when it does not
    /// fit this run (another number of trainees, terms or dropout layers, or a broken generator).
    static func read(from file: H5File, path: String, trainees: Int, terms: Int, dropouts: Int,
                     steps: Int) throws -> EpochProgress? {
        guard let step = try file.intAttribute("step") else { return nil }
        var progress = EpochProgress(trainees: trainees, terms: terms)
        func broken(_ what: String) -> StageError { .badData("\(path): \(what)") }
        guard (1..<steps).contains(step) else { throw broken("step \(step) is not inside an epoch of \(steps) steps") }
        guard let lossSum = try file.doubleAttribute("loss_sum"), let seen = try file.intAttribute("seen"),
              let correct = try file.intArrayAttribute("correct"), correct.count == trainees,
              let termSums = try file.doubleArrayAttribute("term_sums"), termSums.count == terms,
              let termSeen = try file.doubleArrayAttribute("term_seen"), termSeen.count == terms,
              let seconds = try file.doubleAttribute("seconds")
        else { throw broken("the in-epoch progress is missing or does not fit this run") }
        guard let rawRNG = try file.intArrayAttribute("step_rng_state"), let rng = decode(rawRNG), rng.count == 1,
              let rawDropout = try file.intArrayAttribute("dropout_rng_state"), let dropout = decode(rawDropout),
              dropout.count == dropouts
        else { throw broken("the in-epoch generator states are missing or do not fit this run") }
        progress.step = step
        progress.lossSum = lossSum
        progress.seen = seen
        progress.correct = correct
        progress.termSums = termSums
        progress.termSeen = termSeen
        progress.seconds = seconds
        progress.rng = rng[0]
        progress.dropoutRNG = dropout
        return progress
    }

    /// Generator states as HDF5 integers (the bits of each word as a signed 64-bit value).
    static func encode(_ words: [UInt64]) -> [Int] { words.map { Int(bitPattern: UInt($0)) } }

    /// Generator states from `encode`d words, four per state; nil when a state is malformed
    /// (all zero, or a word count that is not a multiple of four).
    static func decode(_ values: [Int]) -> [[UInt64]]? {
        guard values.count % 4 == 0 else { return nil }
        let words = values.map { UInt64(UInt(bitPattern: $0)) }
        let states = stride(from: 0, to: words.count, by: 4).map { Array(words[$0..<$0 + 4]) }
        return states.allSatisfy { $0.contains { $0 != 0 } } ? states : nil
    }
}
