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
        // Untapped, residual blocks make their sum inside their last convolution.
        let untapped = model.forward(x, mode: .prediction, taps: []).output
        #expect(Self.relativeError(untapped, expected.output) < 1e-5, "\(name) output without taps")
    }

    /// With and without bias, a residual added or not, rectified or not, on every path of the
    /// convolution: grouped small planes (8×8, 5×5, 2×2), image by image (16×16) and Winograd
    /// (16 channels, 8×8 and 16×16).
    @Test func aConvolutionWithAndWithoutBiasFoldsItsBatchNorm() {
        var rng = RandomState(seed: 12)
        for (bias, kernel, side, channels) in [(true, 3, 8, 4), (false, 3, 8, 4), (false, 1, 5, 4), (true, 3, 2, 4),
                                               (false, 3, 16, 4), (true, 3, 8, 16), (false, 3, 16, 16)] {
            let conv = Conv2d(inChannels: channels, outChannels: 6 + channels, kernel: kernel, padding: kernel / 2, bias: bias)
            let bn = BatchNorm2d(channels: 6 + channels)
            randomizeParameters(conv, &rng)
            randomizeParameters(bn, &rng)
            let x = randomTensor([3, channels, side, side], &rng)
            let residual = randomTensor([3, 6 + channels, side, side], &rng)
            let normed = bn.forward(conv.forward(x, mode: .inference), mode: .inference)
            var sum = normed
            sum.add(residual)
            let label = "bias \(bias), \(kernel)×\(kernel), \(side)×\(side), \(channels) channels"
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, relu: false), normed) < 1e-5, "\(label)")
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, relu: true), ReLU().forward(normed, mode: .inference)) < 1e-5,
                    "\(label), ReLU")
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, adding: residual, relu: false), sum) < 1e-5,
                    "\(label), residual")
            #expect(Self.relativeError(conv.predict(x, foldingIn: bn, adding: residual, relu: true),
                                       ReLU().forward(sum, mode: .inference)) < 1e-5, "\(label), residual, ReLU")
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
