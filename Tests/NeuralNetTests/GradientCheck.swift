import NeuralNet

// Finite-difference gradient checking for layers and losses, shared by the tests.
//
// A layer is checked through a scalar loss of its output: by default L = Σ y·r for a fixed random
// r (so the output gradient handed to `backward` is r), accumulated in Double so that rounding
// of the sum does not swamp the difference quotient. Each checked entry is perturbed by ±step
// and (L(+) − L(−)) / 2·step is compared with the analytic gradient.

/// A tensor of standard normal values times `scale`, drawn from `rng`.
func randomTensor(_ shape: [Int], _ rng: inout RandomState, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.normal() * scale })
}

/// Fills every parameter and buffer of `layer` with random values (weights around `scale`);
/// BatchNorm's running variance stays positive.
func randomizeParameters(_ layer: any Layer, _ rng: inout RandomState, scale: Float = 0.5) {
    for (_, p) in layer.namedParameters {
        p.value = randomTensor(p.value.shape, &rng, scale: scale)
    }
    for (name, b) in layer.namedBuffers {
        b.value = randomTensor(b.value.shape, &rng, scale: 0.3)
        if name.hasSuffix("running_var") { b.value.data = b.value.data.map { 0.5 + abs($0) } }
    }
}

/// The entries of a tensor to perturb: all of them for small tensors, else `limit` drawn at random.
private func entriesToCheck(count: Int, limit: Int, _ rng: inout RandomState) -> [Int] {
    count <= limit ? Array(0..<count) : (0..<limit).map { _ in rng.nextInt(below: count) }
}

/// Compares analytic gradients with difference quotients (one list per entry, one quotient per
/// step size). An entry agrees when some quotient is within 1% of the analytic value plus 0.2%
/// of the largest analytic value of its tensor. Returns a line per entry that disagrees.
private func disagreements(_ what: String, analytic: [Float], numeric: [(Int, [Double])]) -> [String] {
    let scale = Double(max(1e-3, analytic.map { abs($0) }.max() ?? 0))
    return numeric.compactMap { index, quotients in
        let a = Double(analytic[index])
        let allowed = 1e-2 * abs(a) + 2e-3 * scale
        return quotients.contains { abs(a - $0) <= allowed } ? nil
            : "\(what)[\(index)]: analytic \(a), numeric \(quotients)"
    }
}

/// Checks the input gradient and every parameter gradient of `layer` at input `x` in `mode`.
///
/// Inputs are perturbed by each of `steps`, parameters by each of `parameterSteps` (default:
/// `steps`). One step suffices for a single layer. A deep chain needs several: a large step can
/// straddle a ReLU or max-pool kink and a small one drowns in Float rounding, but a wrong
/// backward disagrees at every step. `prepare` runs before every forward (a dropout layer resets
/// its generator there, so every forward draws the same mask). `loss` maps the output to a loss
/// and its gradient. Returns the disagreements, empty when the layer's backward is right.
func gradientDisagreements(
    of layer: any Layer, at x: Tensor, mode: Mode, steps: [Float] = [1e-2], parameterSteps: [Float]? = nil,
    entries: Int = 48, prepare: () -> Void = {}, loss: ((Tensor) -> (Double, Tensor))? = nil
) -> [String] {
    var rng = RandomState(seed: 99)
    prepare()
    let y = layer.forward(x, mode: mode)
    let projection = randomTensor(y.shape, &rng)
    let lossOf: (Tensor) -> (Double, Tensor) = loss ?? { y in
        (zip(y.data, projection.data).reduce(0) { $0 + Double($1.0) * Double($1.1) }, projection)
    }
    for (_, p) in layer.namedParameters { p.zeroGrad() }
    let dx = layer.backward(lossOf(y).1)
    let parameterGrads = layer.namedParameters.map { $0.1.grad.data }

    func lossAt(_ x: Tensor) -> Double {
        prepare()
        return lossOf(layer.forward(x, mode: mode)).0
    }
    /// The central difference quotient of the loss as `set` moves one value by ±step.
    func quotient(_ step: Float, _ set: (Float) -> Float) -> Double {
        let plus = set(step), up = lossAt(x)
        let minus = set(-step), down = lossAt(x)
        _ = set(0)
        return (up - down) / Double(plus - minus)
    }
    var problems: [String] = []
    var numeric: [(Int, [Double])] = []
    for i in entriesToCheck(count: x.count, limit: entries, &rng) {
        numeric.append((i, steps.map { step in
            var plus = x, minus = x
            plus.data[i] += step
            minus.data[i] -= step
            return (lossAt(plus) - lossAt(minus)) / Double(plus.data[i] - minus.data[i])
        }))
    }
    problems += disagreements("input", analytic: dx.data, numeric: numeric)
    for ((name, p), analytic) in zip(layer.namedParameters, parameterGrads) {
        numeric = []
        for i in entriesToCheck(count: p.value.count, limit: entries, &rng) {
            let original = p.value.data[i]
            numeric.append((i, (parameterSteps ?? steps).map { step in
                quotient(step) { offset in
                    p.value.data[i] = original + offset
                    return p.value.data[i]
                }
            }))
        }
        problems += disagreements(name, analytic: analytic, numeric: numeric)
    }
    return problems
}

/// Checks a loss's gradient with respect to its first argument by central differences.
func lossGradientDisagreements(at x: Tensor, step: Float = 1e-2,
                               _ loss: (Tensor) -> (loss: Float, grad: Tensor)) -> [String] {
    let analytic = loss(x).grad
    var numeric: [(Int, [Double])] = []
    for i in 0..<x.count {
        var plus = x, minus = x
        plus.data[i] += step
        minus.data[i] -= step
        numeric.append((i, [Double(loss(plus).loss - loss(minus).loss) / Double(plus.data[i] - minus.data[i])]))
    }
    return disagreements("input", analytic: analytic.data, numeric: numeric)
}
