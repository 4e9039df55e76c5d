import NeuralNet
import Testing

@Suite struct ConcatTests {
    /// Two small conv branches of different widths: outputs side by side, gradients checked.
    func branches() -> Concat {
        Concat([
            ("0", Sequential([("conv", Conv2d(inChannels: 2, outChannels: 3, kernel: 3, padding: 1)),
                              ("pool", GlobalAvgPool()), ("flat", Flatten())])),
            ("1", Sequential([("conv", Conv2d(inChannels: 2, outChannels: 2, kernel: 1)),
                              ("pool", GlobalAvgPool()), ("flat", Flatten()),
                              ("classifier", Linear(inFeatures: 2, outFeatures: 4))])),
        ])
    }

    @Test func joinsBranchOutputsInOrder() throws {
        var rng = RandomState(seed: 21)
        let concat = branches()
        randomizeParameters(concat, &rng)
        let x = randomTensor([3, 2, 4, 4], &rng)
        let y = concat.forward(x, mode: .inference)
        #expect(y.shape == [3, 7])
        #expect(try concat.outputShape(for: [2, 4, 4]) == [7])
        let first = concat.branches[0].layer.forward(x, mode: .inference)
        let second = concat.branches[1].layer.forward(x, mode: .inference)
        for row in 0..<3 {
            #expect(Array(y.data[row * 7 ..< row * 7 + 3]) == Array(first.data[row * 3 ..< row * 3 + 3]))
            #expect(Array(y.data[row * 7 + 3 ..< row * 7 + 7]) == Array(second.data[row * 4 ..< row * 4 + 4]))
        }
        #expect(concat.namedParameters.map(\.0)
                == ["0.conv.weight", "0.conv.bias", "1.conv.weight", "1.conv.bias", "1.classifier.weight", "1.classifier.bias"])
    }

    @Test func gradientsMatchDifferenceQuotients() {
        var rng = RandomState(seed: 22)
        let concat = branches()
        randomizeParameters(concat, &rng)
        #expect(gradientDisagreements(of: concat, at: randomTensor([2, 2, 4, 4], &rng), mode: .training) == [])
    }

    @Test func refusesABranchThatIsNotFlat() {
        let concat = Concat([("0", Conv2d(inChannels: 1, outChannels: 1, kernel: 1))])
        #expect(throws: ShapeError.self) { try concat.outputShape(for: [1, 2, 2]) }
    }
}
