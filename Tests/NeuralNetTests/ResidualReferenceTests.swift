import Foundation
import HDF5
import NeuralNet
import Testing

/// Pins resnet8 and wrn-16-1 to what their PyTorch twins (Benchmarks/torch_twin.py, the
/// reference CIFAR implementations) compute with the same weights and input:
/// Fixtures/residual_reference.h5, made by Fixtures/make_residual_reference.py.
@Suite struct ResidualReferenceTests {
    static func fixture() throws -> H5File {
        let url = try #require(Bundle.module.url(forResource: "residual_reference", withExtension: "h5",
                                                 subdirectory: "Fixtures"))
        return try H5File.open(url.path)
    }

    static func tensor(_ group: H5Group, _ name: String) throws -> Tensor {
        let dataset = try group.openDataset(name)
        return Tensor(shape: dataset.shape, data: try dataset.read(as: Float.self))
    }

    /// Largest difference relative to the largest reference magnitude (at least 1e-3: a conv
    /// weight's gradient under BatchNorm can be zero up to rounding).
    static func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
        #expect(actual.shape == expected.shape)
        let scale = expected.data.map { abs(Double($0)) }.max() ?? 0
        let worst = zip(actual.data, expected.data).map { abs(Double($0) - Double($1)) }.max() ?? 0
        return worst / max(scale, 1e-3)
    }

    /// A model of `name` on the fixture's 3×16×16 inputs with the fixture's weights and buffers.
    static func model(_ name: String, from group: H5Group) throws -> Model {
        let model = try Model(try ArchitectureCatalog.resolve(name).with(input: [3, 16, 16]))
        let params = try group.openGroup("params")
        #expect(Set(try params.memberNames()) == Set(model.stateDict.map(\.0)), "\(name): names differ")
        for (key, p) in model.stateDict {
            let stored = try tensor(params, key)
            #expect(stored.shape == p.value.shape, "\(name): \(key)")
            p.value = stored
        }
        return model
    }

    @Test(arguments: ["resnet8", "wrn-16-1"])
    func logitsTapsAndGradientsMatchPyTorch(name: String) throws {
        let file = try Self.fixture()
        let group = try file.root.openGroup(name)
        let input = try Self.tensor(group, "input")
        let labels = try group.openDataset("labels").read(as: Int64.self).map(Int.init)
        for mode in [Mode.training, .inference] {
            let model = try Self.model(name, from: group)
            let expected = try group.openGroup(mode == .training ? "train" : "inference")
            let (logits, taps) = model.forward(input, mode: mode, taps: ["group1", "group2", "group3"])
            #expect(Self.relativeError(logits, try Self.tensor(expected, "logits")) <= 1e-4, "\(name) \(mode) logits")
            for tap in ["group1", "group2", "group3"] {
                #expect(Self.relativeError(taps[tap]!, try Self.tensor(expected, tap)) <= 1e-4, "\(name) \(mode) \(tap)")
            }
            let (loss, grad) = softmaxCrossEntropy(logits: logits, labels: labels)
            let reference = try expected.openDataset("loss").read(as: Float.self)[0]
            #expect(abs(loss - reference) <= 1e-4 * abs(reference), "\(name) \(mode) loss")
            // Backward needs the caches of a training-mode forward; in inference mode BatchNorm
            // is an affine map, whose backward the engine also takes from its last forward.
            for (_, p) in model.namedParameters { p.zeroGrad() }
            let dx = model.backward(grad)
            #expect(Self.relativeError(dx, try Self.tensor(expected, "input_grad")) <= 1e-4, "\(name) \(mode) input gradient")
            guard mode == .training else { continue }
            let grads = try expected.openGroup("param_grads")
            for (key, p) in model.namedParameters {
                #expect(Self.relativeError(p.grad, try Self.tensor(grads, key)) <= 1e-4, "\(name) gradient of \(key)")
            }
            let buffers = try expected.openGroup("buffers_after")
            for (key, b) in model.namedBuffers {
                #expect(Self.relativeError(b.value, try Self.tensor(buffers, key)) <= 1e-4, "\(name) \(key) after the step")
            }
        }
    }
}
