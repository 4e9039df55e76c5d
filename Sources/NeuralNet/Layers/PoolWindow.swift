/// The shape rule both pooling layers share: square `kernel` windows moved by `stride` over
/// each plane, no padding, floor division (PyTorch's default). Cost: none.
func pooledShape(_ shape: [Int], kernel: Int, stride: Int, label: String) throws -> [Int] {
    guard shape.count == 3, shape[1] >= kernel, shape[2] >= kernel else {
        throw ShapeError("\(label) needs an input of [C, H, W] with H, W ≥ \(kernel), got \(shape)")
    }
    return [shape[0], (shape[1] - kernel) / stride + 1, (shape[2] - kernel) / stride + 1]
}
