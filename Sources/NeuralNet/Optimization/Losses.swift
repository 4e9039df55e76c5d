#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Losses over a batch, each returning the batch-mean loss and its gradient with respect to the
// network output in one call (the gradient is what `backward` of the last layer takes).
// Softmaxes subtract the row maximum first so exp never overflows. Cost: a few passes over
// the [N, K] output.

/// Softmax cross-entropy of logits [N, K] against class indices (PyTorch's `F.cross_entropy`):
///
///     loss = −(1/N) Σₙ log softmax(zₙ)[yₙ],     ∂loss/∂zₙ = (softmax(zₙ) − onehot(yₙ)) / N
public func softmaxCrossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, grad: Tensor) {
    precondition(logits.shape.count == 2 && logits.shape[0] == labels.count,
                 "softmaxCrossEntropy: logits \(logits.shape) do not match \(labels.count) labels")
    let batch = labels.count, classes = logits.shape[1]
    var total: Double = 0
    let grad = Tensor(shape: logits.shape) { g in
        for n in 0..<batch {
            precondition(labels[n] >= 0 && labels[n] < classes,
                         "softmaxCrossEntropy: label \(labels[n]) is not in 0..<\(classes)")
            let row = logits.data[n * classes ..< (n + 1) * classes]
            let logSum = logSumExp(row)
            total += Double(logSum - row[row.startIndex + labels[n]])
            for k in 0..<classes {
                let p = expf(row[row.startIndex + k] - logSum)
                g[n * classes + k] = (p - (k == labels[n] ? 1 : 0)) / Float(batch)
            }
        }
    }
    return (Float(total / Double(batch)), grad)
}

/// Mean squared error over all elements (PyTorch's `F.mse_loss`, reduction "mean"):
///
///     loss = (1/E) Σᵢ (pᵢ − tᵢ)²,     ∂loss/∂pᵢ = 2 (pᵢ − tᵢ) / E
public func meanSquaredError(prediction: Tensor, target: Tensor) -> (loss: Float, grad: Tensor) {
    precondition(prediction.shape == target.shape,
                 "meanSquaredError: prediction \(prediction.shape) and target \(target.shape) differ")
    let count = prediction.count
    var total: Double = 0
    let grad = Tensor(shape: prediction.shape) { g in
        for i in 0..<count {
            let d = prediction.data[i] - target.data[i]
            total += Double(d * d)
            g[i] = 2 * d / Float(count)
        }
    }
    return (Float(total / Double(count)), grad)
}

/// Hinton's distillation loss between student and teacher logits [N, K] at temperature T:
/// T² times the batch-mean KL divergence of the softened student distribution q from the
/// softened teacher distribution p (PyTorch: `F.kl_div(log_softmax(s/T), softmax(t/T),
/// reduction="batchmean") * T*T`):
///
///     p = softmax(t/T),  q = softmax(s/T)
///     loss = T² · (1/N) Σₙ Σₖ pₙₖ (log pₙₖ − log qₙₖ),     ∂loss/∂sₙ = T · (qₙ − pₙ) / N
public func distillationLoss(student: Tensor, teacher: Tensor, temperature: Float) -> (loss: Float, grad: Tensor) {
    precondition(student.shape.count == 2 && student.shape == teacher.shape,
                 "distillationLoss: student \(student.shape) and teacher \(teacher.shape) logits differ")
    precondition(temperature > 0, "distillationLoss: temperature must be positive")
    let batch = student.shape[0], classes = student.shape[1], t = temperature
    var total: Double = 0
    let grad = Tensor(shape: student.shape) { g in
        for n in 0..<batch {
            let s = student.data[n * classes ..< (n + 1) * classes].map { $0 / t }
            let z = teacher.data[n * classes ..< (n + 1) * classes].map { $0 / t }
            let logSumS = logSumExp(s[...]), logSumZ = logSumExp(z[...])
            for k in 0..<classes {
                let logP = z[k] - logSumZ, logQ = s[k] - logSumS
                let p = expf(logP), q = expf(logQ)
                total += Double(p * (logP - logQ))
                g[n * classes + k] = t * (q - p) / Float(batch)
            }
        }
    }
    return (Float(Double(t * t) * total / Double(batch)), grad)
}

/// The fraction of rows of `logits` [N, K] whose largest value (the first, on ties) is at the
/// label's index.
public func accuracy(logits: Tensor, labels: [Int]) -> Float {
    precondition(logits.shape.count == 2 && logits.shape[0] == labels.count,
                 "accuracy: logits \(logits.shape) do not match \(labels.count) labels")
    guard !labels.isEmpty else { return 0 }
    let correct = zip(argmaxRows(logits), labels).filter { $0.0 == $0.1 }.count
    return Float(correct) / Float(labels.count)
}

/// The index of the largest value (the first, on ties) of each row of a [N, K] tensor.
public func argmaxRows(_ x: Tensor) -> [Int] {
    precondition(x.shape.count == 2, "argmaxRows: needs [N, K], got \(x.shape)")
    let classes = x.shape[1]
    return (0..<x.shape[0]).map { n in
        var best = 0
        for k in 1..<classes where x.data[n * classes + k] > x.data[n * classes + best] { best = k }
        return best
    }
}

/// log Σ exp(xᵢ), shifted by the maximum so no term overflows.
private func logSumExp(_ x: ArraySlice<Float>) -> Float {
    let top = x.max()!
    var sum: Float = 0
    for v in x { sum += expf(v - top) }
    return top + logf(sum)
}
