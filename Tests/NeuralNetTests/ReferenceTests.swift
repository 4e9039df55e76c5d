import Foundation
import NeuralNet
import Testing

/// Pins the engine to values PyTorch computed for the same stack, weights and input
/// (Fixtures/reference.json; Fixtures/make_reference.py says how it was made).
@Suite struct ReferenceTests {
    struct Stored: Decodable {
        var shape: [Int]
        var data: [Double]
        var tensor: Tensor { Tensor(shape: shape, data: data.map { Float($0) }) }
    }
    struct LossCase: Decodable {
        var loss: Double
        var grad: Stored
    }
    struct Reference: Decodable {
        var input: Stored
        var labels: [Int]
        var parameters: [String: Stored]
        var logits: Stored
        var loss: Double
        var input_grad: Stored
        var parameter_grads: [String: Stored]
        var buffers_after: [String: Stored]
        struct Distillation: Decodable {
            var temperature: Float
            var student: Stored, teacher: Stored, loss: Double, grad: Stored
        }
        var distillation: Distillation
        struct MSE: Decodable { var prediction: Stored, target: Stored, loss: Double, grad: Stored }
        var mse: MSE
    }

    static func load() throws -> Reference {
        let url = try #require(Bundle.module.url(forResource: "reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    /// The largest difference relative to the largest reference magnitude, which must stay ≤ 1e-4.
    /// The magnitude counts as at least 1e-3 (gradients here are 1e-2 and more), because the
    /// bias of a convolution followed by BatchNorm has a gradient of zero up to rounding.
    func relativeError(_ actual: Tensor, _ expected: Stored) -> Double {
        #expect(actual.shape == expected.shape)
        let scale = expected.data.map(abs).max() ?? 0
        let worst = zip(actual.data, expected.data).map { abs(Double($0) - $1) }.max() ?? 0
        return worst / max(scale, 1e-3)
    }

    @Test func smallStackMatchesPyTorch() throws {
        let reference = try Self.load()
        let net = Sequential([
            Conv2d(inChannels: 3, outChannels: 4, kernel: 3, padding: 1),
            BatchNorm2d(channels: 4),
            ReLU(),
            MaxPool2d(kernel: 2),
            Conv2d(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: 1, bias: false),
            BatchNorm2d(channels: 6),
            ReLU(),
            Conv2d(inChannels: 6, outChannels: 8, kernel: 1),
            GlobalAvgPool(),
            Flatten(),
            Linear(inFeatures: 8, outFeatures: 5),
        ])
        #expect(Set(net.namedParameters.map(\.0)) == Set(reference.parameters.keys))
        #expect(Set(net.namedBuffers.map(\.0)) == Set(reference.buffers_after.keys))
        for (name, p) in net.namedParameters {
            let stored = try #require(reference.parameters[name])
            #expect(p.value.shape == stored.shape, "\(name)")
            p.value = stored.tensor
        }

        let logits = net.forward(reference.input.tensor, mode: .training)
        #expect(relativeError(logits, reference.logits) <= 1e-4)
        let (loss, grad) = softmaxCrossEntropy(logits: logits, labels: reference.labels)
        #expect(abs(Double(loss) - reference.loss) <= 1e-4 * abs(reference.loss))
        let dx = net.backward(grad)
        #expect(relativeError(dx, reference.input_grad) <= 1e-4)
        for (name, p) in net.namedParameters {
            #expect(relativeError(p.grad, try #require(reference.parameter_grads[name])) <= 1e-4, "\(name)")
        }
        for (name, b) in net.namedBuffers {
            #expect(relativeError(b.value, try #require(reference.buffers_after[name])) <= 1e-4, "\(name)")
        }
    }

    @Test func lossesMatchPyTorch() throws {
        let reference = try Self.load()
        let kd = reference.distillation
        let (kdLoss, kdGrad) = distillationLoss(student: kd.student.tensor, teacher: kd.teacher.tensor,
                                                temperature: kd.temperature)
        #expect(abs(Double(kdLoss) - kd.loss) <= 1e-4 * abs(kd.loss))
        #expect(relativeError(kdGrad, kd.grad) <= 1e-4)
        let mse = reference.mse
        let (mseLoss, mseGrad) = meanSquaredError(prediction: mse.prediction.tensor, target: mse.target.tensor)
        #expect(abs(Double(mseLoss) - mse.loss) <= 1e-4 * abs(mse.loss))
        #expect(relativeError(mseGrad, mse.grad) <= 1e-4)
    }

    struct DistillationReference: Decodable {
        struct Case: Decodable {
            var temperature: Float
            var alpha: Float?
            var loss: Double
            var grad: Stored
        }
        var student: Stored, teacher: Stored, labels: [Int]
        var temperatures: [Case], alphas: [Case]
    }

    /// Hinton's term at several temperatures, and (1 − α)·CE + α·KD for several α, equal
    /// PyTorch's `T² · kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")` and its
    /// combination with `cross_entropy` (Fixtures/make_distillation_reference.py).
    @Test func distillationMatchesPyTorchAtEveryTemperatureAndWeight() throws {
        let url = try #require(Bundle.module.url(forResource: "distillation_reference", withExtension: "json",
                                                 subdirectory: "Fixtures"))
        let reference = try JSONDecoder().decode(DistillationReference.self, from: Data(contentsOf: url))
        let student = reference.student.tensor, teacher = reference.teacher.tensor
        for c in reference.temperatures {
            let (loss, grad) = distillationLoss(student: student, teacher: teacher, temperature: c.temperature)
            #expect(abs(Double(loss) - c.loss) <= 1e-4 * abs(c.loss), "T = \(c.temperature)")
            #expect(relativeError(grad, c.grad) <= 1e-4, "T = \(c.temperature)")
        }
        for c in reference.alphas {
            let alpha = try #require(c.alpha)
            let kd = distillationLoss(student: student, teacher: teacher, temperature: c.temperature)
            let ce = softmaxCrossEntropy(logits: student, labels: reference.labels)
            let loss = (1 - alpha) * ce.loss + alpha * kd.loss
            let grad = Tensor(shape: student.shape, data: zip(ce.grad.data, kd.grad.data).map { (1 - alpha) * $0 + alpha * $1 })
            #expect(abs(Double(loss) - c.loss) <= 1e-4 * abs(c.loss), "α = \(alpha)")
            #expect(relativeError(grad, c.grad) <= 1e-4, "α = \(alpha)")
        }
    }

    struct AttentionReference: Decodable {
        var student: Stored, teacher: Stored, student_map: Stored, teacher_map: Stored
        var loss: Double, grad: Stored
    }

    /// a(x) and the attention-transfer loss with its gradient equal the AT authors' definitions
    /// in PyTorch (Fixtures/make_attention_reference.py).
    @Test func attentionTransferMatchesPyTorch() throws {
        let url = try #require(Bundle.module.url(forResource: "attention_reference", withExtension: "json",
                                                 subdirectory: "Fixtures"))
        let reference = try JSONDecoder().decode(AttentionReference.self, from: Data(contentsOf: url))
        #expect(relativeError(AttentionTransfer.maps(reference.student.tensor), reference.student_map) <= 1e-5)
        let teacherMap = AttentionTransfer.maps(reference.teacher.tensor)
        #expect(relativeError(teacherMap, reference.teacher_map) <= 1e-5)
        let (loss, grad) = AttentionTransfer.loss(activations: reference.student.tensor, target: teacherMap)
        #expect(abs(Double(loss) - reference.loss) <= 1e-4 * abs(reference.loss))
        #expect(relativeError(grad, reference.grad) <= 1e-4)
    }
}
