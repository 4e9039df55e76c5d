import Foundation

/// One row of a run's `metrics.csv`: what an epoch did. Losses are the objective's (the weighted
/// sum of its terms: cross-entropy for a classifier, MSE for a student, …), accuracies the first
/// trainee's, as fractions in [0, 1]. Then come named columns, a train and a test one each: each
/// term's own mean (with two terms or more), and the accuracy of every further trainee
/// (`accuracy/scratch`). A value that was not measured (no validation split, a regression, a
/// term left out of every step) is left empty.
public struct EpochMetrics: Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var testLoss: Double?
    public var testAccuracy: Double?
    public var learningRate: Double
    public var imagesPerSecond: Double
    public var seconds: Double
    /// The named columns' training values (a term: its mean over the steps it took part in),
    /// in the header's order.
    public var trainColumns: [Double?] = []
    /// The named columns' values over the test split.
    public var testColumns: [Double?] = []

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double? = nil, learningRate: Double,
                imagesPerSecond: Double, seconds: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.learningRate = learningRate
        self.imagesPerSecond = imagesPerSecond
        self.seconds = seconds
    }

    public static let header = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,"
        + "learning_rate,images_per_second,seconds"

    /// The header with a train and a test column per name (`train_ce,test_ce,train_kd/resnet26,…`).
    public static func header(columns: [String]) -> String {
        header + columns.map { ",train_\($0),test_\($0)" }.joined()
    }

    public var csvRow: String {
        func opt(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        return "\(epoch),\(String(format: "%.6f", trainLoss)),\(opt(trainAccuracy)),\(opt(validationLoss)),"
            + "\(opt(validationAccuracy)),\(opt(testLoss)),\(opt(testAccuracy)),\(String(format: "%.8g", learningRate)),\(String(format: "%.1f", imagesPerSecond)),"
            + String(format: "%.2f", seconds)
            + zip(trainColumns, testColumns).map { ",\(opt($0)),\(opt($1))" }.joined()
    }

    /// Parses a row written by `csvRow`; nil when it is not one.
    public init?(csvRow row: String) {
        let f = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 10, f.count % 2 == 0, let epoch = Int(f[0]), let loss = Double(f[1]), let lr = Double(f[7]),
              let speed = Double(f[8]), let seconds = Double(f[9]) else { return nil }
        self.init(epoch: epoch, trainLoss: loss, trainAccuracy: Double(f[2]), learningRate: lr,
                  imagesPerSecond: speed, seconds: seconds)
        (validationLoss, validationAccuracy, testLoss, testAccuracy) = (Double(f[3]), Double(f[4]), Double(f[5]), Double(f[6]))
        let columns = f.dropFirst(10)
        trainColumns = stride(from: columns.startIndex, to: columns.endIndex, by: 2).map { Double(f[$0]) }
        testColumns = stride(from: columns.startIndex + 1, to: columns.endIndex, by: 2).map { Double(f[$0]) }
    }

    /// The rows of the `metrics.csv` in `folder`; empty when there is none.
    public static func rows(inFolder folder: String) -> [EpochMetrics] {
        table(inFolder: folder).rows
    }

    /// The names of the named columns (from the header) and the rows of the `metrics.csv` in
    /// `folder`; empty when there is none.
    public static func table(inFolder folder: String) -> (columns: [String], rows: [EpochMetrics]) {
        let lines = ((try? String(contentsOfFile: folder + "/metrics.csv", encoding: .utf8)) ?? "").split(separator: "\n")
        let names = (lines.first?.split(separator: ",").dropFirst(10) ?? []).enumerated()
            .filter { $0.offset % 2 == 0 }.map { String($0.element.dropFirst("train_".count)) }
        return (names, lines.dropFirst().compactMap { EpochMetrics(csvRow: String($0)) })
    }

    /// The training and test value of the named column `name`, nil when the table has none.
    public static func column(_ name: String, of table: (columns: [String], rows: [EpochMetrics]))
        -> [(train: Double?, test: Double?)]? {
        guard let index = table.columns.firstIndex(of: name) else { return nil }
        return table.rows.map { index < $0.trainColumns.count ? ($0.trainColumns[index], $0.testColumns[index]) : (nil, nil) }
    }

    /// The epoch number of a CSV row, nil for the header or a broken line.
    static func epoch(ofRow row: Substring) -> Int? {
        row.split(separator: ",", maxSplits: 1).first.flatMap { Int($0) }
    }
}

/// `metrics.csv` of a run: rewritten whole (it is small) through a rename at every epoch, so it
/// always matches the checkpoints; on resume, rows past the resumed epoch are dropped and the
/// resumed epoch's row is restored from its checkpoint if it never reached the file.
struct MetricsFile {
    let path: String
    let header: String
    private(set) var rows: [String] = []

    init(path: String, header: String, resumingAt epoch: Int, checkpointRow: String?) {
        self.path = path
        self.header = header
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var kept: [Int: String] = [:]
        for line in text.split(separator: "\n") {
            if let e = EpochMetrics.epoch(ofRow: line), e <= epoch { kept[e] = String(line) }
        }
        if epoch > 0, kept[epoch] == nil, let checkpointRow { kept[epoch] = checkpointRow }
        rows = kept.keys.sorted().map { kept[$0]! }
    }

    mutating func append(_ row: String) throws {
        rows.append(row)
        try RunDirectory.writeAtomically(([header] + rows).joined(separator: "\n") + "\n", to: path)
    }
}
