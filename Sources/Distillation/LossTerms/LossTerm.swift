import Datasets
import NeuralNet

/// The rows a training step (or a measurement) shows: which images of which split, and for
/// each the stored augmented view it shows (nil: the plain images).
public struct BatchRows {
    public var set: ImageSet
    public var rows: ArraySlice<Int>
    public var views: [Int]?

    public init(set: ImageSet, rows: ArraySlice<Int>, views: [Int]?) {
        self.set = set
        self.rows = rows
        self.views = views
    }

    /// The labels of the rows.
    public var labels: [Int] { rows.map { set.labels[$0] } }
}

/// One named part of a training step's loss, in the style of mdistiller's distillers: it reads
/// named outputs of the network being trained (its output, or taps such as `group1`) and
/// whatever it stored for the batch's rows (labels, a teacher's logits or features), and returns
/// its value — a mean over the batch — and its gradient with respect to each output it read.
/// The training loop sums the terms with their weights and never learns what they are; a
/// method is a list of terms (`Objective`). Each term is a column of `metrics.csv`.
public protocol LossTerm {
    /// Its column in metrics.csv and on the progress line: `ce`, `kd/resnet26`, `mse`.
    var name: String { get }
    /// The outputs it reads: `Objective.output` for the network's output, else tap names.
    var inputs: [String] { get }
    func evaluate(_ outputs: [String: Tensor], batch: BatchRows) throws -> (value: Float, gradients: [String: Tensor])
}

/// Per-image targets a term compares with: one row of `width` floats per image of each split,
/// and per stored view of the training images. A batch takes the row of each image it shows —
/// the view's when it shows a view. Cost: all of them in memory (N × width floats per split,
/// N × V × width for the views).
struct StoredRows {
    let width: Int
    /// Per split, [N, width].
    let plain: [String: [Float]]
    /// [N, V, width] of the training split, and V; nil without views.
    let views: (count: Int, rows: [Float])?

    /// The rows of `batch`, [rows.count, width].
    func rows(for batch: BatchRows) -> Tensor {
        let w = width
        // A row's place: image n's, or its view's when the batch shows stored views.
        let (source, perImage, chosen): ([Float], Int, [Int]?) = if let views, let shown = batch.views {
            (views.rows, views.count, shown)
        } else {
            (plain[batch.set.split]!, 1, nil)
        }
        return Tensor(shape: [batch.rows.count, w]) { out in
            source.withUnsafeBufferPointer { rows in
                for (k, row) in batch.rows.enumerated() {
                    let from = (batch.set.sourceIndices[row] * perImage + (chosen?[k] ?? 0)) * w
                    (out.baseAddress! + k * w).update(from: rows.baseAddress! + from, count: w)
                }
            }
        }
    }
}
