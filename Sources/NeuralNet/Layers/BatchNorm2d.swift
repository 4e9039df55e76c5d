/// Batch normalization over the channels of NCHW tensors, with PyTorch's `nn.BatchNorm2d`
/// semantics: in training, each channel is normalized by its batch mean and biased variance, and
/// the running statistics move by `momentum` towards the batch mean and the unbiased variance;
/// in inference, the running statistics normalize. Then y = weight · x̂ + bias.
///
/// A ReLU right after it can run inside it (`forward(_:mode:rectify:)`, chosen by
/// `LayerHooks`): the normalizing pass rectifies, and the backward gates its gradient by the
/// sign of the normalized value, so the ReLU costs neither a pass each way nor a tensor.
/// Work is split over channels. Cost: two passes over the input forward in training (the batch
/// statistics as `PlaneMoments`, then normalize; one when the convolution before measured
/// them), one in inference; two passes backward.
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let momentum: Float
    public let eps: Float
    /// γ, [channels], initially 1.
    public let weight: Parameter
    /// β, [channels], initially 0.
    public let bias: Parameter
    /// [channels], initially 0.
    public let runningMean: Parameter
    /// [channels], initially 1.
    public let runningVar: Parameter

    private var input = Tensor(shape: [0])
    /// The per-channel center and 1/√(variance + eps) the last forward normalized with.
    private var center: [Float] = []
    private var inverseStd: [Float] = []
    private var lastMode = Mode.training
    /// Whether the last forward applied the ReLU that follows (its backward then gates).
    public private(set) var rectified = false

    public init(channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        precondition(channels > 0, "BatchNorm2d: channels must be positive")
        self.channels = channels; self.momentum = momentum; self.eps = eps
        weight = Parameter(Tensor(shape: [channels], repeating: 1))
        bias = Parameter(Tensor(shape: [channels]))
        runningMean = Parameter(Tensor(shape: [channels]))
        runningVar = Parameter(Tensor(shape: [channels], repeating: 1))
    }

    public var label: String { "BatchNorm2d(\(channels))" }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[0] == channels else {
            throw ShapeError("\(label) needs an input of [\(channels), H, W], got \(shape)")
        }
        return shape
    }

    public var ownParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }
    public var ownBuffers: [(String, Parameter)] {
        [("running_mean", runningMean), ("running_var", runningVar)]
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        forward(x, mode: mode, rectify: false)
    }

    /// The batch norm of `x`, then, with `rectify`, the ReLU that follows it, in the same pass.
    /// In training, `moments` (`PlaneMoments` of `x`, measured by the convolution that made it)
    /// spare the norm its pass for the batch statistics.
    public func forward(_ x: Tensor, mode: Mode, rectify: Bool, moments: [Double]? = nil) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == channels,
                     "\(label): input shape \(x.shape) is not [N, \(channels), H, W]")
        input = mode.keepsCaches ? x : Tensor(shape: [0])
        lastMode = mode
        rectified = rectify
        let batch = x.shape[0], spatial = x.shape[2] * x.shape[3], channels = channels
        let perChannel = batch * spatial
        if mode == .training {
            precondition(perChannel > 1, "\(label): training needs more than one value per channel")
        }
        center = [Float](repeating: 0, count: channels)
        inverseStd = [Float](repeating: 0, count: channels)
        let eps = eps, momentum = momentum
        let measured = moments == nil && mode == .training
        var moments = moments ?? (measured ? [Double](repeating: 0, count: PlaneMoments.size(batch: batch, channels: channels)) : [])
        precondition(mode != .training || moments.count == PlaneMoments.size(batch: batch, channels: channels),
                     "\(label): \(moments.count) plane moments for an input of \(x.shape)")
        return Tensor(shape: x.shape) { out in
            moments.withUnsafeMutableBufferPointer { mb in
            x.data.withUnsafeBufferPointer { xb in
            center.withUnsafeMutableBufferPointer { cb in
            inverseStd.withUnsafeMutableBufferPointer { ib in
            weight.value.data.withUnsafeBufferPointer { gamma in
            bias.value.data.withUnsafeBufferPointer { beta in
            runningMean.value.data.withUnsafeMutableBufferPointer { rm in
            runningVar.value.data.withUnsafeMutableBufferPointer { rv in
                let x = xb.baseAddress!, y = out.baseAddress!
                ComputeThreads.parallelFor(channels, grain: max(1, 16384 / perChannel)) { range in
                    for c in range {
                        if mode == .training {
                            if measured {
                                for n in 0..<batch {
                                    PlaneMoments.measure(x + (n * channels + c) * spatial, first: n * channels + c, count: 1,
                                                         spatial: spatial, into: mb.baseAddress!)
                                }
                            }
                            let (mean, squares) = PlaneMoments.channel(c, of: mb.baseAddress!, batch: batch,
                                                                       channels: channels, spatial: spatial)
                            let variance = squares / Float(perChannel)
                            cb[c] = mean
                            ib[c] = 1 / (variance + eps).squareRoot()
                            rm[c] = (1 - momentum) * rm[c] + momentum * mean
                            rv[c] = (1 - momentum) * rv[c]
                                + momentum * squares / Float(perChannel - 1)
                        } else {
                            cb[c] = rm[c]
                            ib[c] = 1 / (rv[c] + eps).squareRoot()
                        }
                        // y = scale · x + shift, with scale = γ/σ and shift = β − scale · μ
                        let scale = gamma[c] * ib[c], shift = beta[c] - scale * cb[c]
                        for n in 0..<batch {
                            let offset = (n * channels + c) * spatial
                            scaleShift(x + offset, y + offset, spatial, scale: scale, shift: shift, rectify: rectify)
                        }
                    }
                }
            }}}}}}}}
        }
    }

    /// The affine map the running statistics make of this layer, y = scale · x + shift per
    /// channel, with scale = γ/√(σ² + ε) and shift = β − scale · μ (what a convolution before it
    /// folds in for prediction).
    public func inferenceScaleShift() -> (scale: [Float], shift: [Float]) {
        let gamma = weight.value.data, beta = bias.value.data
        let mean = runningMean.value.data, variance = runningVar.value.data
        let scale = (0..<channels).map { gamma[$0] * (1 / (variance[$0] + eps).squareRoot()) }
        return (scale, (0..<channels).map { beta[$0] - scale[$0] * mean[$0] })
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        precondition(dy.shape == x.shape, "\(label): output gradient shape \(dy.shape) is not \(x.shape)")
        let batch = x.shape[0], spatial = x.shape[2] * x.shape[3], channels = channels
        let perChannel = batch * spatial
        let training = lastMode == .training, rectified = rectified
        return Tensor(shape: x.shape) { dxBuffer in
            x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
            center.withUnsafeBufferPointer { cb in
            inverseStd.withUnsafeBufferPointer { ib in
            weight.value.data.withUnsafeBufferPointer { gamma in
            bias.value.data.withUnsafeBufferPointer { beta in
            weight.grad.data.withUnsafeMutableBufferPointer { dgamma in
            bias.grad.data.withUnsafeMutableBufferPointer { dbeta in
                let x = xb.baseAddress!, dy = dyb.baseAddress!, dx = dxBuffer.baseAddress!
                ComputeThreads.parallelFor(channels, grain: max(1, 16384 / perChannel)) { range in
                    for c in range {
                        let mean = cb[c], invStd = ib[c], scale = gamma[c] * invStd
                        let gate = rectified ? RectifierGate(scale: scale, shift: beta[c] - scale * mean) : nil
                        // Σ dy and Σ dy·(x − μ), per channel
                        var sumDy: Float = 0, sumDyCentered: Float = 0
                        for n in 0..<batch {
                            let offset = (n * channels + c) * spatial
                            let sums = gradientSums(dy + offset, x + offset, spatial, center: mean, gate: gate)
                            sumDy += sums.0
                            sumDyCentered += sums.1
                        }
                        let sumDyXhat = sumDyCentered * invStd
                        dgamma[c] += sumDyXhat
                        dbeta[c] += sumDy
                        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)) in training, the batch
                        // statistics' own dependence on x included; γ/σ · dy in inference.
                        let meanDy = training ? sumDy / Float(perChannel) : 0
                        let k = training ? sumDyXhat / Float(perChannel) * invStd : 0   // multiplies (x − μ)
                        for n in 0..<batch {
                            let offset = (n * channels + c) * spatial
                            batchNormGradient(dy + offset, x + offset, dx + offset, spatial,
                                              scale: scale, meanDy: meanDy, mean: mean, k: k, gate: gate)
                        }
                    }
                }
            }}}}}}}}
        }
    }
}
