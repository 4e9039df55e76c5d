import Foundation

/// `kd eval`'s output: an `Evaluation` with class names, as an aligned text table or as JSON.
public struct EvaluationReport {
    public var model: String
    public var data: String
    public var split: String
    public var classes: [String]
    public var evaluation: Evaluation

    public init(model: String, data: String, split: String, classes: [String], evaluation: Evaluation) {
        self.model = model; self.data = data; self.split = split; self.classes = classes
        self.evaluation = evaluation
    }

    public var text: String {
        let e = evaluation
        var lines = ["model \(model) on \(data) /\(split): \(e.count) images",
                     String(format: "accuracy %.2f%% (%d/%d), mean cross-entropy %.4f", 100 * e.accuracy, e.correct, e.count, e.loss),
                     "", "per class:"]
        let width = max(5, classes.map(\.count).max() ?? 0)
        for (c, acc) in e.perClassAccuracy.enumerated() {
            let name = c < classes.count ? classes[c] : String(c)
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + (acc.map { String(format: "%6.2f%%", 100 * $0) } ?? "     -") + "  (\(e.confusion[c].reduce(0, +)) images)")
        }
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted):")
        let cell = max(4, String(e.confusion.flatMap { $0 }.max() ?? 0).count + 1)
        lines.append(String(repeating: " ", count: width + 2) + e.confusion.indices.map {
            String($0).leftPadded(cell) }.joined())
        for (c, row) in e.confusion.enumerated() {
            let name = c < classes.count ? classes[c] : String(c)
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
                         + row.map { String($0).leftPadded(cell) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        let e = evaluation
        let object: [String: Any] = [
            "model": model, "data": data, "split": split, "count": e.count, "correct": e.correct,
            // JSON has no NaN or infinity: a loss that is not finite is written as null.
            "accuracy": e.accuracy, "loss": e.loss.isFinite ? e.loss as Any : NSNull(), "classes": classes,
            "per_class_accuracy": e.perClassAccuracy.map { $0.map { $0 as Any } ?? NSNull() },
            "confusion": e.confusion,
        ]
        // Only strings, integers, finite numbers, arrays and null: serialization cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
