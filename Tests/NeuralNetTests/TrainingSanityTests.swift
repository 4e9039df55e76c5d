import NeuralNet
import Testing

/// The whole engine together: a small network learns a generated 10-class image set to high
/// accuracy with SGD in a few hundred steps.
@Suite struct TrainingSanityTests {
    /// 16×16 grey images: class c is a bright 4×4 square at one of ten places (a 4×3 grid,
    /// shifted by up to a pixel each way), on Gaussian noise. Separable, but only by where the
    /// square is, so the network must learn spatial features.
    static func images(count: Int, rng: inout RandomState) -> (Tensor, [Int]) {
        let labels = (0..<count).map { _ in rng.nextInt(below: 10) }
        var x = Tensor(shape: [count, 1, 16, 16])
        for (n, label) in labels.enumerated() {
            let top = 1 + (label / 4) * 5 + rng.nextInt(below: 3) - 1
            let left = 1 + (label % 4) * 4 + rng.nextInt(below: 3) - 1
            for i in 0..<256 {
                let (row, column) = i.quotientAndRemainder(dividingBy: 16)
                let inside = (top..<top + 4).contains(row) && (left..<left + 4).contains(column)
                x.data[n * 256 + i] = (inside ? 1.5 : 0) + 0.5 * rng.normal()
            }
        }
        return (x, labels)
    }

    @Test func smallNetworkLearnsSeparableClasses() throws {
        var rng = RandomState(seed: 2024)
        let (trainX, trainY) = Self.images(count: 2000, rng: &rng)
        let (testX, testY) = Self.images(count: 500, rng: &rng)
        let architecture = try Architecture(jsonText: """
            {"name": "sanity", "input": [1, 16, 16],
             "layers": [{"type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
                        {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}],
             "head": {"out": 10}}
            """)
        let model = try Model(architecture, seed: 1)
        let sgd = try SGD(parameters: model.namedParameters, learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
        let batch = 50
        var firstLoss: Float = 0, lastLoss: Float = 0
        for epoch in 0..<3 {
            for start in stride(from: 0, to: trainY.count, by: batch) {
                let x = Tensor(shape: [batch, 1, 16, 16], data: Array(trainX.data[start * 256 ..< (start + batch) * 256]))
                sgd.zeroGrad()
                let (loss, grad) = softmaxCrossEntropy(logits: model.forward(x, mode: .training),
                                                       labels: Array(trainY[start ..< start + batch]))
                _ = model.backward(grad)
                sgd.step()
                if epoch == 0 && start == 0 { firstLoss = loss }
                lastLoss = loss
            }
        }
        let testAccuracy = accuracy(logits: model.forward(testX, mode: .inference), labels: testY)
        #expect(lastLoss < firstLoss / 4, "loss \(firstLoss) → \(lastLoss)")
        #expect(testAccuracy >= 0.9, "test accuracy \(testAccuracy)")
    }
}
