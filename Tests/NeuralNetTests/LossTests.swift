import NeuralNet
import Testing
import Foundation

@Suite struct LossTests {
    @Test func crossEntropyGradient() {
        var rng = RandomState(seed: 30)
        let logits = randomTensor([4, 5], &rng, scale: 2)
        let labels = [0, 4, 2, 2]
        #expect(lossGradientDisagreements(at: logits) { softmaxCrossEntropy(logits: $0, labels: labels) } == [])
    }

    @Test func crossEntropyValue() {
        // Uniform logits over 4 classes: the loss is log 4 whatever the labels.
        let (loss, grad) = softmaxCrossEntropy(logits: Tensor(shape: [2, 4], repeating: 7), labels: [1, 3])
        #expect(abs(loss - Float(log(4.0))) <= 1e-6)
        #expect(abs(grad.data[1] - (0.25 - 1) / 2) <= 1e-7 && abs(grad.data[0] - 0.25 / 2) <= 1e-7)
        // Huge logits must not overflow.
        let (big, _) = softmaxCrossEntropy(logits: Tensor(shape: [1, 2], data: [1000, 0]), labels: [1])
        #expect(abs(big - 1000) <= 1e-3)
    }

    @Test func meanSquaredErrorGradientAndValue() {
        var rng = RandomState(seed: 31)
        let target = randomTensor([3, 4], &rng)
        let prediction = randomTensor([3, 4], &rng)
        #expect(lossGradientDisagreements(at: prediction) { meanSquaredError(prediction: $0, target: target) } == [])
        let expected = zip(prediction.data, target.data).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / 12
        #expect(abs(Double(meanSquaredError(prediction: prediction, target: target).loss) - expected) <= 1e-6)
    }

    @Test(arguments: [Float(1), 2, 4, 8])
    func distillationGradient(temperature: Float) {
        var rng = RandomState(seed: 32)
        let teacher = randomTensor([3, 5], &rng, scale: 3)
        let student = randomTensor([3, 5], &rng, scale: 3)
        #expect(lossGradientDisagreements(at: student) {
            distillationLoss(student: $0, teacher: teacher, temperature: temperature)
        } == [])
    }

    @Test func distillationLossIsZeroForIdenticalLogitsAndPositiveOtherwise() {
        var rng = RandomState(seed: 33)
        let logits = randomTensor([2, 10], &rng)
        let same = distillationLoss(student: logits, teacher: logits, temperature: 4)
        #expect(abs(same.loss) <= 1e-6 && same.grad.data.allSatisfy { abs($0) <= 1e-7 })
        #expect(distillationLoss(student: randomTensor([2, 10], &rng), teacher: logits, temperature: 4).loss > 0)
    }

    @Test func accuracyCountsFirstMaximum() {
        let logits = Tensor(shape: [3, 3], data: [0, 2, 1,  5, 5, 0,  1, 0, 3])
        #expect(argmaxRows(logits) == [1, 0, 2])
        #expect(accuracy(logits: logits, labels: [1, 1, 2]) == Float(2) / 3)
    }

    /// Attention transfer's gradient with respect to the activations, through the channel
    /// mean of squares and the normalization, by central differences.
    @Test func attentionTransferGradient() {
        var rng = RandomState(seed: 34)
        let x = randomTensor([2, 3, 4, 4], &rng)
        let target = AttentionTransfer.maps(randomTensor([2, 5, 4, 4], &rng))
        #expect(lossGradientDisagreements(at: x, step: 1e-2) { AttentionTransfer.loss(activations: $0, target: target) } == [])
        // Each map has unit length; the loss is zero against its own map.
        let maps = AttentionTransfer.maps(x)
        for image in 0..<2 {
            let norm = maps.data[image * 16 ..< (image + 1) * 16].reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) <= 1e-5)
        }
        #expect(AttentionTransfer.loss(activations: x, target: maps).loss <= 1e-12)
    }
}
