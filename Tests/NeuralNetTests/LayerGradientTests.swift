import Foundation
import NeuralNet
import Testing

/// One convolution setting to check, with a batch, image size and width that select its code
/// path: planes under 256 outputs go in groups of images (a last group smaller than the others
/// with batch 3), larger ones image by image in bands of output rows (several bands when the
/// input has 64 channels).
struct ConvCase: Sendable, CustomTestStringConvertible {
    var kernel: Int, stride: Int, padding: Int, bias: Bool
    var batch: Int, size: Int, inChannels = 2, outChannels = 3
    var testDescription: String {
        "\(kernel)×\(kernel) s\(stride) p\(padding)\(bias ? "" : " no bias") batch \(batch) \(size)×\(size)"
    }
}

@Suite struct LayerGradientTests {
    static let convCases: [ConvCase] = [
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 6),
        ConvCase(kernel: 3, stride: 1, padding: 0, bias: false, batch: 2, size: 6),
        ConvCase(kernel: 3, stride: 2, padding: 1, bias: true, batch: 2, size: 7),
        ConvCase(kernel: 3, stride: 2, padding: 0, bias: false, batch: 2, size: 8),
        ConvCase(kernel: 1, stride: 1, padding: 0, bias: true, batch: 2, size: 5),
        ConvCase(kernel: 1, stride: 2, padding: 0, bias: false, batch: 2, size: 6),
        ConvCase(kernel: 1, stride: 1, padding: 1, bias: true, batch: 2, size: 4),
        // 14×14 planes: three images per product; batch 7 leaves a smaller last group.
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 7, size: 14),
        // 32×32 planes: image by image, in one band.
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 3, size: 32),
        ConvCase(kernel: 1, stride: 1, padding: 0, bias: true, batch: 2, size: 32),
        // 64 input channels: bands of 14 and 2 rows (16×16), of 13 and 4 rows (34×34, stride 2).
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 16, inChannels: 64),
        ConvCase(kernel: 3, stride: 2, padding: 1, bias: false, batch: 2, size: 34, inChannels: 64),
        // Stride-2 rows moved eight at a time (`gatherEven`, `addToEven`): rows of 16, 15, 20 and
        // 17 values, which end in a run overlapping the one before or in a few one by one.
        ConvCase(kernel: 3, stride: 2, padding: 1, bias: true, batch: 2, size: 32),
        ConvCase(kernel: 3, stride: 2, padding: 0, bias: false, batch: 3, size: 41),
        ConvCase(kernel: 1, stride: 2, padding: 0, bias: true, batch: 2, size: 33),
        // Phase-split (stride 2 halving an even plane): 3×3 with padding 1 above (32×32, and 34×34
        // in two bands), 1×1 here, and odd outputs with rows of fewer than eight phase values.
        ConvCase(kernel: 1, stride: 2, padding: 0, bias: false, batch: 3, size: 32),
        ConvCase(kernel: 3, stride: 2, padding: 1, bias: true, batch: 2, size: 38, inChannels: 3),
        // Winograd F(2×2, 3×3), forward and input gradient (weight gradient: every case below):
        // 16×16 planes are one group of eight tiles per row (weight gradient only: forward and
        // input gradient go F(4×4)); 17×17 planes leave a ninth tile (overlapping groups) and clipped edges;
        // 8×8 planes go two rows of four tiles at a time (7×7 too, with clipped outputs); 4×4 and
        // 5×5 planes gather eight tiles across images (batch 3 of 4×4: 12 tiles, 4 spare lanes).
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 3, size: 8, inChannels: 24, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 7, inChannels: 16, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 3, size: 4, inChannels: 16, outChannels: 20),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: false, batch: 2, size: 5, inChannels: 16, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 16, inChannels: 16, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: false, batch: 3, size: 17, inChannels: 16, outChannels: 24),
        // 24×24 planes: rows of twelve tiles, in two overlapping groups of eight.
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: false, batch: 2, size: 24, inChannels: 16, outChannels: 16),
        // Winograd F(4×4, 3×3) for forward and input gradient (the weight gradient stays F(2×2)):
        // 16×16 planes (the case above too) are two rows of four tiles, 15×15 the same with
        // clipped edge tiles; 32×32 planes one group of eight tiles per row, 36×36 nine tiles
        // (overlapping groups), 30×30 eight with clipped edges. Channels 16→24 and 20→16 give
        // the adjoint other channel counts.
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 3, size: 15, inChannels: 20, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 32, inChannels: 16, outChannels: 16),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: false, batch: 1, size: 36, inChannels: 16, outChannels: 24),
        ConvCase(kernel: 3, stride: 1, padding: 1, bias: true, batch: 2, size: 30, inChannels: 16, outChannels: 16),
    ]

    /// The layer of case `c` with random weights, and a random input batch.
    private func convolutionAndInput(_ c: ConvCase, seed: UInt64) -> (Conv2d, Tensor) {
        var rng = RandomState(seed: seed)
        let conv = Conv2d(inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel,
                          stride: c.stride, padding: c.padding, bias: c.bias)
        randomizeParameters(conv, &rng)
        return (conv, randomTensor([c.batch, c.inChannels, c.size, c.size], &rng))
    }

    /// `convolutionAndInput(c, seed:)`, its output and a random output gradient.
    private func convolutionWithGradient(_ c: ConvCase, seed: UInt64) -> (conv: Conv2d, x: Tensor, y: Tensor, dy: Tensor) {
        let (conv, x) = convolutionAndInput(c, seed: seed)
        var rng = RandomState(seed: seed + 1)
        let y = conv.forward(x, mode: .training)
        return (conv, x, y, randomTensor(y.shape, &rng))
    }

    /// The forward pass of every path against the convolution's definition, summed directly.
    @Test(arguments: convCases)
    func convolutionMatchesTheDirectSum(_ c: ConvCase) {
        let (conv, x) = convolutionAndInput(c, seed: 7)
        let y = conv.forward(x, mode: .training)
        let out = (c.size + 2 * c.padding - c.kernel) / c.stride + 1
        #expect(y.shape == [c.batch, c.outChannels, out, out])
        let w = conv.weight.value.data, k = c.kernel
        var worst: Float = 0
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for oh in 0..<out {
                    for ow in 0..<out {
                        var sum = Double(conv.bias?.value.data[o] ?? 0), magnitude = abs(sum)
                        for ch in 0..<c.inChannels {
                            for kh in 0..<k {
                                for kw in 0..<k {
                                    let ih = oh * c.stride - c.padding + kh, iw = ow * c.stride - c.padding + kw
                                    guard ih >= 0 && ih < c.size && iw >= 0 && iw < c.size else { continue }
                                    let term = Double(w[((o * c.inChannels + ch) * k + kh) * k + kw])
                                        * Double(x.data[((n * c.inChannels + ch) * c.size + ih) * c.size + iw])
                                    sum += term; magnitude += abs(term)
                                }
                            }
                        }
                        let got = Double(y.data[((n * c.outChannels + o) * out + oh) * out + ow])
                        worst = max(worst, Float(abs(got - sum) / max(magnitude, 1e-6)))
                    }
                }
            }
        }
        #expect(worst < 1e-5, "largest error relative to the sum of magnitudes: \(worst)")
    }

    /// The input gradient against the forward pass on every entry, not just the sampled ones: the
    /// convolution less its bias is linear, so ⟨conv(x) − b, dy⟩ = ⟨x, dx⟩ for any dy.
    @Test(arguments: convCases)
    func inputGradientIsTheAdjoint(_ c: ConvCase) {
        let (conv, x, y, dy) = convolutionWithGradient(c, seed: 3)
        let dx = conv.backward(dy)
        let spatial = y.shape[2] * y.shape[3]
        var forward = 0.0, adjoint = 0.0, magnitude = 0.0
        for (i, (value, gradient)) in zip(y.data, dy.data).enumerated() {
            let term = Double(value - (conv.bias?.value.data[i / spatial % c.outChannels] ?? 0)) * Double(gradient)
            forward += term; magnitude += abs(term)
        }
        for (value, gradient) in zip(x.data, dx.data) { adjoint += Double(value) * Double(gradient) }
        #expect(abs(forward - adjoint) < 1e-5 * magnitude, "⟨y − b, dy⟩ = \(forward), ⟨x, dx⟩ = \(adjoint)")
    }

    @Test(arguments: convCases)
    func convolution(_ c: ConvCase) {
        let (conv, x) = convolutionAndInput(c, seed: 1)
        #expect(conv.namedParameters.map(\.0) == (c.bias ? ["weight", "bias"] : ["weight"]))
        #expect(gradientDisagreements(of: conv, at: x, mode: .training) == [])
    }

    /// With `computesInputGradient` off (a network's first layer in training) every path gives
    /// the same parameter gradients as a full backward, and an empty input gradient.
    @Test(arguments: convCases)
    func convolutionWithoutInputGradient(_ c: ConvCase) {
        let (conv, x, _, dy) = convolutionWithGradient(c, seed: 5)
        func parameterGradients(inputGradient: Bool) -> (Tensor, [Tensor]) {
            for (_, p) in conv.namedParameters { p.zeroGrad() }
            conv.computesInputGradient = inputGradient
            return (conv.backward(dy), conv.namedParameters.map(\.1.grad))
        }
        let full = parameterGradients(inputGradient: true), skipped = parameterGradients(inputGradient: false)
        #expect(full.0.shape == x.shape && skipped.0.count == 0)
        #expect(skipped.1 == full.1)
    }

    @Test(arguments: [Mode.training, Mode.inference])
    func batchNorm(_ mode: Mode) {
        var rng = RandomState(seed: 2)
        let bn = BatchNorm2d(channels: 3)
        randomizeParameters(bn, &rng)
        let x = randomTensor([4, 3, 3, 3], &rng, scale: 2)
        #expect(gradientDisagreements(of: bn, at: x, mode: mode) == [])
    }

    @Test func relu() {
        var rng = RandomState(seed: 3)
        // Values at least 0.1 away from the kink, so ±step never crosses it.
        var x = randomTensor([2, 3, 4, 4], &rng)
        x.data = x.data.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
        #expect(gradientDisagreements(of: ReLU(), at: x, mode: .training) == [])
    }

    /// The rectifier of a sum (a residual block's paths meeting) is bit for bit the sum, then
    /// the rectifier, forward and backward; 1,000 values reach past the 16-lane loop into the tail.
    @Test func reluOfASum() {
        var rng = RandomState(seed: 16)
        let x = randomTensor([2, 500], &rng), r = randomTensor([2, 500], &rng), dy = randomTensor([2, 500], &rng)
        var sum = x
        sum.add(r)
        let fused = ReLU(), separate = ReLU()
        #expect(fused.forward(x, adding: r, mode: .training) == separate.forward(sum, mode: .training))
        #expect(fused.backward(dy) == separate.backward(dy))
    }

    /// Distinct values 0.05 apart, shuffled: ±step never changes which value is a window's maximum.
    /// A batch norm with its ReLU inside (as containers run the pair): gradients by finite
    /// differences, and bit for bit what the two layers give one by one.
    @Test(arguments: [Mode.training, Mode.inference])
    func batchNormWithReLU(_ mode: Mode) {
        var rng = RandomState(seed: 15)
        let fused = BatchNorm2d(channels: 3), pair = Sequential([fused, ReLU()])
        randomizeParameters(pair, &rng)
        let x = randomTensor([4, 3, 3, 3], &rng, scale: 2)
        #expect(gradientDisagreements(of: pair, at: x, mode: mode, steps: [1e-2, 3e-3, 1e-3]) == [])

        let bn = BatchNorm2d(channels: 3), relu = ReLU()
        for ((_, a), (_, b)) in zip(bn.namedParameters + bn.namedBuffers, fused.namedParameters + fused.namedBuffers) {
            a.value = b.value
        }
        for (_, p) in pair.namedParameters + bn.namedParameters { p.zeroGrad() }
        let dy = randomTensor(x.shape, &rng)
        #expect(pair.forward(x, mode: mode) == relu.forward(bn.forward(x, mode: mode), mode: mode))
        #expect(fused.rectified)
        #expect(pair.backward(dy) == bn.backward(relu.backward(dy)))
        #expect(fused.weight.grad == bn.weight.grad && fused.bias.grad == bn.bias.grad)
        #expect(fused.runningMean.value == bn.runningMean.value && fused.runningVar.value == bn.runningVar.value)
    }

    /// In training a convolution measures the batch statistics of the norm after it as its
    /// output lands (`PlaneMoments`): bit for bit the layers one by one — output, running
    /// statistics, gradients — on every path of the convolution: grouped small planes (5×5),
    /// image by image (16×16), Winograd (16 channels, 8×8), with and without the ReLU.
    @Test(arguments: [(4, 5, true), (3, 16, true), (16, 8, true), (16, 8, false)])
    func convolutionMeasuresTheBatchStatisticsOfItsNorm(channels: Int, side: Int, relu: Bool) {
        var rng = RandomState(seed: 17)
        func layers() -> [any Layer] {
            [Conv2d(inChannels: channels, outChannels: 16, kernel: 3, padding: 1, bias: false), BatchNorm2d(channels: 16)]
                + (relu ? [ReLU()] : [])
        }
        let fused = Sequential(layers()), separate = layers()
        randomizeParameters(fused, &rng)
        for ((_, a), (_, b)) in zip(separate.flatMap { $0.namedParameters + $0.namedBuffers },
                                    fused.namedParameters + fused.namedBuffers) {
            a.value = b.value
        }
        let x = randomTensor([3, channels, side, side], &rng), dy = randomTensor([3, 16, side, side], &rng)
        let y = fused.forward(x, mode: .training)
        #expect(y == separate.reduce(x) { $1.forward($0, mode: .training) })
        #expect(fused.backward(dy) == separate.reversed().reduce(dy) { $1.backward($0) })
        for ((name, a), (_, b)) in zip(separate.flatMap { $0.namedParameters + $0.namedBuffers },
                                       fused.namedParameters + fused.namedBuffers) {
            #expect(a.value == b.value && a.grad == b.grad, "\(name)")
        }
    }

    private func distinctValues(_ shape: [Int], _ rng: inout RandomState) -> Tensor {
        var values = (0..<shape.reduce(1, *)).map { Float($0) * 0.05 }
        for i in values.indices.reversed() { values.swapAt(i, rng.nextInt(below: i + 1)) }
        return Tensor(shape: shape, data: values)
    }

    /// 7×7 planes take the eight-planes-at-a-time path for planes 0–7 and the general loop for
    /// planes 8–11; 2×2 pooling of 18×18 planes takes the eight-wide row path for the first
    /// eight outputs of a row and the general loop for the ninth.
    @Test(arguments: [(2, 2, 7), (3, 2, 7), (3, 1, 7), (2, 2, 18)])
    func maxPool(kernel: Int, stride: Int, size: Int) {
        var rng = RandomState(seed: 4)
        let x = distinctValues([3, 4, size, size], &rng)
        #expect(gradientDisagreements(of: MaxPool2d(kernel: kernel, stride: stride), at: x, mode: .training) == [])
    }

    /// Nine planes: the first eight side by side when planes are small, the ninth alone.
    @Test(arguments: [2, 18])
    func maxPoolRoutesTiesToTheFirstMaximumAndPropagatesNaN(size: Int) {
        let pool = MaxPool2d(kernel: 2)
        let plane = size * size, nanPlanes: Set = [0, 8]
        var x = Tensor(shape: [1, 9, size, size], repeating: 5)
        for p in nanPlanes { x.data[p * plane + size + 1] = .nan }   // the bottom-right of the first window
        let y = pool.forward(x, mode: .training)
        let outPlane = y.count / 9
        for (i, v) in y.data.enumerated() {
            let firstWindowOfNaNPlane = i % outPlane == 0 && nanPlanes.contains(i / outPlane)
            #expect(firstWindowOfNaNPlane ? v.isNaN : v == 5, "y[\(i)]")
        }
        let dx = pool.backward(Tensor(shape: y.shape, repeating: 1))
        // Each window sends its gradient to its top-left value, the first of equal maxima,
        // except the first window of a plane with a NaN, whose maximum is the NaN.
        for (i, g) in dx.data.enumerated() {
            let (p, within) = i.quotientAndRemainder(dividingBy: plane)
            let (row, column) = within.quotientAndRemainder(dividingBy: size)
            let topLeft: Float = row % 2 == 0 && column % 2 == 0 ? 1 : 0
            let expected: Float = nanPlanes.contains(p) ? (within == size + 1 ? 1 : (within == 0 ? 0 : topLeft)) : topLeft
            #expect(g == expected, "dx[\(i)]")
        }
    }

    @Test(arguments: [(2, 2), (3, 2), (3, 1)])
    func averagePool(kernel: Int, stride: Int) {
        var rng = RandomState(seed: 5)
        let x = randomTensor([2, 2, 7, 7], &rng)
        #expect(gradientDisagreements(of: AvgPool2d(kernel: kernel, stride: stride), at: x, mode: .training) == [])
    }

    @Test func globalAveragePool() {
        var rng = RandomState(seed: 6)
        let pool = GlobalAvgPool()
        let x = randomTensor([2, 3, 5, 5], &rng)
        #expect(pool.forward(x, mode: .training).shape == [2, 3, 1, 1])
        #expect(gradientDisagreements(of: pool, at: x, mode: .training) == [])
    }

    @Test func flatten() {
        var rng = RandomState(seed: 7)
        let x = randomTensor([2, 3, 2, 2], &rng)
        let flatten = Flatten()
        #expect(flatten.forward(x, mode: .training).shape == [2, 12])
        #expect(gradientDisagreements(of: flatten, at: x, mode: .training) == [])
    }

    @Test(arguments: [true, false])
    func linear(bias: Bool) {
        var rng = RandomState(seed: 8)
        let linear = Linear(inFeatures: 6, outFeatures: 4, bias: bias)
        randomizeParameters(linear, &rng)
        #expect(gradientDisagreements(of: linear, at: randomTensor([3, 6], &rng), mode: .training) == [])
    }

    @Test func dropoutWithAFixedMask() {
        var rng = RandomState(seed: 9)
        let dropout = Dropout(p: 0.3, seed: 11)
        let start = dropout.rng
        let x = randomTensor([4, 50], &rng)
        // Every forward starts from the same generator state, so every forward draws the same mask.
        #expect(gradientDisagreements(of: dropout, at: x, mode: .training, prepare: { dropout.rng = start }) == [])
        dropout.rng = start
        let y = dropout.forward(x, mode: .training)
        let kept = zip(x.data, y.data).filter { $0.1 != 0 }
        #expect(kept.allSatisfy { abs($0.1 - $0.0 / 0.7) <= 1e-6 * abs($0.0) })
        #expect((100...180).contains(kept.count), "about 70% of 200 values survive, got \(kept.count)")
        #expect(dropout.forward(x, mode: .inference) == x)
    }

    @Test func dropoutMasksFollowTheGeneratorState() {
        let dropout = Dropout(p: 0.5, seed: 3)
        let x = Tensor(shape: [1, 64], repeating: 1)
        let saved = dropout.rng
        let first = dropout.forward(x, mode: .training)
        let second = dropout.forward(x, mode: .training)
        #expect(first != second)
        dropout.rng = saved
        #expect(dropout.forward(x, mode: .training) == first)
    }

    /// A CIFAR ResNet basic block without downsampling: conv-BN-ReLU-conv-BN, identity
    /// shortcut, ReLU after the sum.
    @Test func residualBasicBlockWithIdentityShortcut() {
        var rng = RandomState(seed: 10)
        let block = Residual(
            body: [("conv1", Conv2d(inChannels: 3, outChannels: 3, kernel: 3, padding: 1, bias: false)),
                   ("bn1", BatchNorm2d(channels: 3)), ("relu", ReLU()),
                   ("conv2", Conv2d(inChannels: 3, outChannels: 3, kernel: 3, padding: 1, bias: false)),
                   ("bn2", BatchNorm2d(channels: 3))],
            post: [("relu_out", ReLU())])
        randomizeParameters(block, &rng)
        #expect(block.namedParameters.map(\.0)
                == ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"])
        #expect(gradientDisagreements(of: block, at: randomTensor([2, 3, 5, 5], &rng), mode: .training,
                                      steps: [1e-2, 3e-3, 1e-3], parameterSteps: [1e-3, 3e-4]) == [])
    }

    /// A ResNet block that halves the plane and doubles the channels: its `downsample`
    /// shortcut (1×1 conv, stride 2, + BN) carries the input to the sum.
    @Test func residualBlockWithDownsamplingShortcut() throws {
        var rng = RandomState(seed: 11)
        let block = Residual(
            body: [("conv1", Conv2d(inChannels: 2, outChannels: 4, kernel: 3, stride: 2, padding: 1, bias: false)),
                   ("bn1", BatchNorm2d(channels: 4))],
            shortcut: ("downsample", Sequential([Conv2d(inChannels: 2, outChannels: 4, kernel: 1, stride: 2, bias: false),
                                                 BatchNorm2d(channels: 4)])),
            post: [("relu_out", ReLU())])
        randomizeParameters(block, &rng)
        #expect(block.namedParameters.map(\.0)
                == ["conv1.weight", "bn1.weight", "bn1.bias", "downsample.0.weight", "downsample.1.weight",
                    "downsample.1.bias"])
        #expect(block.namedBuffers.map(\.0)
                == ["bn1.running_mean", "bn1.running_var", "downsample.1.running_mean", "downsample.1.running_var"])
        #expect(try block.outputShape(for: [2, 6, 6]) == [4, 3, 3])
        #expect(gradientDisagreements(of: block, at: randomTensor([2, 2, 6, 6], &rng), mode: .training,
                                      steps: [1e-2, 3e-3, 1e-3], parameterSteps: [1e-3, 3e-4]) == [])
    }

    /// A pre-activation WRN block where the shape changes: BN-ReLU shared by the body and the
    /// 1×1 `convShortcut`, whose input gradients meet inside the shared pre-activation.
    @Test func preActivationWRNBlock() throws {
        var rng = RandomState(seed: 14)
        let block = Residual(
            pre: [("bn1", BatchNorm2d(channels: 2)), ("relu1", ReLU())],
            body: [("conv1", Conv2d(inChannels: 2, outChannels: 4, kernel: 3, stride: 2, padding: 1, bias: false)),
                   ("bn2", BatchNorm2d(channels: 4)), ("relu2", ReLU()),
                   ("conv2", Conv2d(inChannels: 4, outChannels: 4, kernel: 3, padding: 1, bias: false))],
            shortcut: ("convShortcut", Conv2d(inChannels: 2, outChannels: 4, kernel: 1, stride: 2, bias: false)))
        randomizeParameters(block, &rng)
        #expect(block.namedParameters.map(\.0)
                == ["bn1.weight", "bn1.bias", "conv1.weight", "bn2.weight", "bn2.bias", "conv2.weight",
                    "convShortcut.weight"])
        #expect(try block.outputShape(for: [2, 6, 6]) == [4, 3, 3])
        #expect(gradientDisagreements(of: block, at: randomTensor([3, 2, 6, 6], &rng), mode: .training,
                                      steps: [1e-2, 3e-3, 1e-3], parameterSteps: [1e-3, 3e-4]) == [])
    }

    /// conv-BN-ReLU-pool twice, global pool, linear, softmax cross-entropy: the whole chain.
    @Test func smallNetworkEndToEnd() {
        var rng = RandomState(seed: 12)
        let net = Sequential([
            ("features", Sequential([
                // No conv bias before BatchNorm: its true gradient is zero, which leaves a
                // difference quotient nothing but rounding to compare.
                Conv2d(inChannels: 3, outChannels: 4, kernel: 3, padding: 1, bias: false), BatchNorm2d(channels: 4), ReLU(),
                MaxPool2d(kernel: 2),
                Conv2d(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: 1, bias: false),
                BatchNorm2d(channels: 6), ReLU(),
                GlobalAvgPool(), Flatten(),
            ])),
            ("classifier", Linear(inFeatures: 6, outFeatures: 5)),
        ])
        randomizeParameters(net, &rng)
        #expect(net.namedParameters.first?.0 == "features.0.weight")
        #expect(net.namedParameters.last?.0 == "classifier.bias")
        let labels = [0, 3, 1, 4]
        // The loss is recomputed in Double for the difference quotients, since a Float loss
        // would round small changes away; the gradient checked is the engine's own.
        func crossEntropyInDouble(_ y: Tensor) -> Double {
            labels.indices.reduce(0) { total, n in
                let row = y.data[n * 5 ..< (n + 1) * 5].map(Double.init)
                return total + log(row.map { exp($0) }.reduce(0, +)) - row[labels[n]]
            } / Double(labels.count)
        }
        let problems = gradientDisagreements(
            of: net, at: randomTensor([4, 3, 8, 8], &rng), mode: .training,
            steps: [1e-2, 3e-3, 1e-3], parameterSteps: [1e-3, 3e-4],
            loss: { y in (crossEntropyInDouble(y), softmaxCrossEntropy(logits: y, labels: labels).grad) })
        #expect(problems == [])
    }

    @Test func shapesAreCheckedWithClearMessages() throws {
        let conv = Conv2d(inChannels: 3, outChannels: 8, kernel: 3)
        #expect(try conv.outputShape(for: [3, 32, 32]) == [8, 30, 30])
        #expect(try Conv2d(inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: 1).outputShape(for: [3, 32, 32]) == [8, 16, 16])
        let error = #expect(throws: ShapeError.self) { try conv.outputShape(for: [4, 32, 32]) }
        #expect(error?.description.contains("[3, H, W]") == true)
        #expect(throws: ShapeError.self) { try MaxPool2d(kernel: 2).outputShape(for: [3, 1, 1]) }
        #expect(throws: ShapeError.self) { try Linear(inFeatures: 4, outFeatures: 2).outputShape(for: [5]) }
        #expect(try Sequential([Conv2d(inChannels: 3, outChannels: 8, kernel: 3, padding: 1), MaxPool2d(kernel: 2),
                                GlobalAvgPool(), Flatten(), Linear(inFeatures: 8, outFeatures: 10)])
            .outputShape(for: [3, 32, 32]) == [10])
    }

    /// The same work twice on the same thread count gives the same bits.
    @Test func resultsAreDeterministic() {
        func run() -> [Float] {
            var rng = RandomState(seed: 13)
            let net = Sequential([Conv2d(inChannels: 3, outChannels: 16, kernel: 3, padding: 1), BatchNorm2d(channels: 16),
                                  ReLU(), MaxPool2d(kernel: 2), GlobalAvgPool(), Flatten(), Linear(inFeatures: 16, outFeatures: 10)])
            randomizeParameters(net, &rng)
            let y = net.forward(randomTensor([8, 3, 32, 32], &rng), mode: .training)
            let dx = net.backward(softmaxCrossEntropy(logits: y, labels: Array(0..<8)).grad)
            return y.data + dx.data + net.namedParameters.flatMap { $0.1.grad.data }
        }
        #expect(run() == run())
    }
}
