import NeuralNet
import Testing

@Suite struct BatchNormStatisticsTests {
    /// After one training step, running_mean = 0.9·old + 0.1·batch mean and
    /// running_var = 0.9·old + 0.1·unbiased batch variance (PyTorch's rule), computed here in Double.
    /// Planes of 16 values, of 49 (past the 16-lane loop into the tail), of one value each, and
    /// values far from zero (mean 1000, spread 3), where summing squares would lose the spread.
    @Test(arguments: [(side: 4, offset: Float(0)), (side: 7, offset: 0), (side: 1, offset: 0), (side: 7, offset: 1000)])
    func runningStatisticsFollowPyTorchsUpdate(side: Int, offset: Float) {
        var rng = RandomState(seed: 20)
        let bn = BatchNorm2d(channels: 3)
        randomizeParameters(bn, &rng)
        let oldMean = bn.runningMean.value.data, oldVar = bn.runningVar.value.data
        var x = randomTensor([5, 3, side, side], &rng, scale: 3)
        x.data = x.data.map { $0 + offset }
        let y = bn.forward(x, mode: .training)
        let plane = side * side
        for c in 0..<3 {
            let values = (0..<5).flatMap { n in (0..<plane).map { Double(x.data[(n * 3 + c) * plane + $0]) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            let expectedMean = 0.9 * Double(oldMean[c]) + 0.1 * mean
            let expectedVar = 0.9 * Double(oldVar[c]) + 0.1 * squares / Double(values.count - 1)
            #expect(abs(Double(bn.runningMean.value.data[c]) - expectedMean) <= 1e-5 * max(1, abs(expectedMean)))
            #expect(abs(Double(bn.runningVar.value.data[c]) - expectedVar) <= 1e-5 * max(1, expectedVar))
            // The output is normalized with the biased variance, then scaled and shifted.
            let gamma = Double(bn.weight.value.data[c]), beta = Double(bn.bias.value.data[c])
            let invStd = 1 / (squares / Double(values.count) + 1e-5).squareRoot()
            let first = Double(y.data[c * plane])
            #expect(abs(first - (gamma * (values[0] - mean) * invStd + beta)) <= 1e-4)
        }
    }

    @Test func inferenceUsesTheRunningStatisticsAndLeavesThemAlone() {
        let bn = BatchNorm2d(channels: 1)
        bn.runningMean.value.data = [2]
        bn.runningVar.value.data = [4]
        bn.weight.value.data = [3]
        bn.bias.value.data = [1]
        let y = bn.forward(Tensor(shape: [2, 1, 1, 1], data: [2, 6]), mode: .inference)
        let expected: [Float] = [1, 3 * 4 / (4 + 1e-5).squareRoot() + 1]
        #expect(zip(y.data, expected).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(bn.runningMean.value.data == [2] && bn.runningVar.value.data == [4])
    }

    @Test func namesMatchPyTorch() {
        let bn = BatchNorm2d(channels: 2)
        #expect(bn.namedParameters.map(\.0) == ["weight", "bias"])
        #expect(bn.namedBuffers.map(\.0) == ["running_mean", "running_var"])
        #expect(bn.weight.value.data == [1, 1] && bn.bias.value.data == [0, 0])
        #expect(bn.runningMean.value.data == [0, 0] && bn.runningVar.value.data == [1, 1])
    }
}
