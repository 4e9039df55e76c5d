import NeuralNet
import Testing

@Suite struct InitializationTests {
    private func parameter(_ model: Model, _ name: String) -> Tensor {
        model.stateDict.first { $0.0 == name }!.1.value
    }

    @Test func convAndLinearAreUniformWithinOneOverRootFanIn() throws {
        let model = try Model(Architecture.vgg("net", "64 M", head: 10)!, seed: 7)
        for (name, fanIn) in [("features.0", 3 * 3 * 3), ("classifier", 64)] {
            let bound = 1 / Float(fanIn).squareRoot()
            let weight = parameter(model, name + ".weight").data
            let bias = parameter(model, name + ".bias").data
            #expect(weight.allSatisfy { abs($0) <= bound })
            #expect(bias.allSatisfy { abs($0) <= bound })
            // A uniform over (−b, b) has mean 0 and variance b²/3; its extremes come near ±b.
            let mean = weight.reduce(0, +) / Float(weight.count)
            let variance = weight.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(weight.count)
            #expect(abs(mean) < 0.1 * bound)
            #expect(abs(variance / (bound * bound / 3) - 1) < 0.15)
            #expect(weight.max()! > 0.9 * bound && weight.min()! < -0.9 * bound)
        }
    }

    @Test func batchNormStartsAsTheIdentity() throws {
        let model = try Model(Architecture.vgg("net", "8", head: nil)!, seed: 1)
        #expect(parameter(model, "features.1.weight").data == [Float](repeating: 1, count: 8))
        #expect(parameter(model, "features.1.bias").data == [Float](repeating: 0, count: 8))
        #expect(parameter(model, "features.1.running_mean").data == [Float](repeating: 0, count: 8))
        #expect(parameter(model, "features.1.running_var").data == [Float](repeating: 1, count: 8))
    }

    @Test func theSeedFixesEveryWeight() throws {
        let architecture = Architecture.vgg("net", "8 M 16", head: 10)!
        let a = try Model(architecture, seed: 42), b = try Model(architecture, seed: 42)
        let c = try Model(architecture, seed: 43)
        #expect(a.stateDict.map(\.1.value) == b.stateDict.map(\.1.value))
        #expect(a.stateDict.map(\.1.value) != c.stateDict.map(\.1.value))
    }

    @Test func drawsFollowStateDictOrder() throws {
        // The first conv's weights are the generator's first draws, its bias the next ones.
        let model = try Model(Architecture.vgg("net", "4", head: nil)!, seed: 3)
        var rng = RandomState(seed: 3)
        let bound = 1 / Float(27).squareRoot()
        let expected = (0..<(4 * 27 + 4)).map { _ in rng.uniform(-bound, bound) }
        #expect(parameter(model, "features.0.weight").data + parameter(model, "features.0.bias").data == expected)
    }
}
