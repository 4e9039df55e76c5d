/// A learnable array and the gradient that `backward` adds into, shared by reference between
/// the layer that owns it and the optimizer that updates it. BatchNorm's running statistics are
/// held in the same type (as buffers: they get no gradient and no optimizer step).
public final class Parameter: @unchecked Sendable {
    public var value: Tensor
    public var grad: Tensor

    public init(_ value: Tensor) {
        self.value = value
        self.grad = Tensor(shape: value.shape)
    }

    /// Sets the gradient to zero before the next backward pass.
    public func zeroGrad() {
        for i in grad.data.indices { grad.data[i] = 0 }
    }
}
