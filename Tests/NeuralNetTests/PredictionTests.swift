import NeuralNet
import Testing

/// The prediction mode (evaluation, extraction): a convolution followed by a batch norm (and a
/// ReLU) runs as one layer with the batch norm folded in. Its outputs and taps equal those of
/// the layers run one by one in inference mode, up to rounding, for every family of network;
/// a watched layer (a tap on the batch norm) is not folded away.
@Suite struct PredictionTests {
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        #expect(a.shape == b.shape)
        let scale = b.data.map { abs(Double($0)) }.max() ?? 0
        let worst = zip(a.data, b.data).map { abs(Double($0) - Double($1)) }.max() ?? 0
        return worst / max(scale, 1e-6)
    }

    @Test(arguments: ["s8", "small", "resnet8", "wrn-16-1"])
    func foldedNetworksPredictAsTheLayersOneByOne(_ name: String) throws {
        var rng = RandomState(seed: 11)
        let side = name == "s8" ? 32 : 16   // the VGG presets pool five times
        let model = try Model(try ArchitectureCatalog.resolve(name, input: "3x\(side)x\(side)", classes: nil), seed: 1)
        randomizeParameters(model, &rng, scale: 0.2)
        let x = randomTensor([3, 3, side, side], &rng)
        let taps = model.architecture.taps.keys.sorted()
        let expected = model.forward(x, mode: .inference, taps: taps)
        let predicted = model.forward(x, mode: .prediction, taps: taps)
        #expect(Self.relativeError(predicted.output, expected.output) < 1e-5, "\(name) output")
        for tap in taps {
            #expect(Self.relativeError(predicted.taps[tap]!, expected.taps[tap]!) < 1e-5, "\(name) tap \(tap)")
        }
    }

    @Test func aConvolutionWithAndWithoutBiasFoldsItsBatchNorm() {
        var rng = RandomState(seed: 12)
        for (bias, kernel, side) in [(true, 3, 8), (false, 3, 8), (false, 1, 5), (true, 3, 2)] {
            let conv = Conv2d(inChannels: 4, outChannels: 6, kernel: kernel, padding: kernel / 2, bias: bias)
            let bn = BatchNorm2d(channels: 6)
            randomizeParameters(conv, &rng)
            randomizeParameters(bn, &rng)
            let x = randomTensor([2, 4, side, side], &rng)
            let separate = ReLU().forward(bn.forward(conv.forward(x, mode: .inference), mode: .inference), mode: .inference)
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, relu: true), separate) < 1e-5, "\(bias) \(kernel) \(side)")
            let withoutReLU = bn.forward(conv.forward(x, mode: .inference), mode: .inference)
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, relu: false), withoutReLU) < 1e-5)
        }
    }

    /// A tap on a batch norm keeps it a layer of its own: the tap is its real output.
    @Test func aTappedBatchNormIsNotFoldedAway() throws {
        var rng = RandomState(seed: 13)
        let model = try Model(try Architecture(jsonText: """
            {"name": "tapped-bn", "input": [3, 8, 8], "taps": {"normed": "features.1"},
             "layers": [{"type": "sequential", "name": "features", "layers": [
                          {"type": "conv", "out": 5, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"}]},
                        {"type": "globalavgpool"}, {"type": "flatten"}],
             "head": {"out": 3, "name": "fc"}}
            """), seed: 2)
        randomizeParameters(model, &rng)
        let x = randomTensor([2, 3, 8, 8], &rng)
        let normed = try #require(model.forward(x, mode: .prediction, taps: ["normed"]).taps["normed"])
        #expect(normed.data.contains { $0 < 0 }, "the batch norm's output, before the ReLU")
        #expect(Self.relativeError(normed, model.forward(x, mode: .inference, taps: ["normed"]).taps["normed"]!) < 1e-6)
    }
}
