import NeuralNet

/// How well a classifier does on a labelled image set: accuracy, accuracy per class and the
/// confusion matrix (rows: true class, columns: predicted), plus the mean cross-entropy.
/// Cost: one inference pass over the images.
public struct Evaluation: Sendable {
    public var count: Int
    public var loss: Double
    /// confusion[true][predicted]
    public var confusion: [[Int]]

    public var correct: Int { confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// Accuracy per true class; nil for a class with no images.
    public var perClassAccuracy: [Double?] {
        confusion.indices.map { c in
            let total = confusion[c].reduce(0, +)
            return total == 0 ? nil : Double(confusion[c][c]) / Double(total)
        }
    }

    /// Runs `model` in inference mode over `images` in batches of `batchSize`.
    public static func run(_ model: Model, normalization: InputNormalization, on images: ImageSet,
                           classes: Int, batchSize: Int = 256) -> Evaluation {
        var result = Evaluation(count: 0, loss: 0,
                                confusion: Array(repeating: Array(repeating: 0, count: classes), count: classes))
        let order = Array(0..<images.count)
        var batch = Tensor(shape: [0])
        var start = 0
        while start < order.count {
            let rows = order[start..<min(start + batchSize, order.count)]
            images.fill(&batch, indices: rows, normalization: normalization)
            let logits = model.forward(batch, mode: .prediction)
            let labels = rows.map { images.labels[$0] }
            result.loss += Double(softmaxCrossEntropy(logits: logits, labels: labels).loss) * Double(rows.count)
            for (label, predicted) in zip(labels, argmaxRows(logits)) { result.confusion[label][predicted] += 1 }
            result.count += rows.count
            start += rows.count
        }
        if result.count > 0 { result.loss /= Double(result.count) }
        return result
    }
}
