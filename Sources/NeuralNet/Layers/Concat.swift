/// Several branches run on the same input side by side, their flat outputs [N, Dᵢ] joined
/// into one [N, ΣDᵢ] in branch order: the members of a Teacher-Class ensemble, whose
/// concatenated outputs feed the teacher's output layer. Backward hands each branch its
/// columns of the gradient and sums the branches' input gradients.
/// Cost: that of the branches plus one copy of their outputs and of the gradient.
public final class Concat: LayerContainer {
    public let branches: [(name: String, layer: any Layer)]
    public var hooks: LayerHooks?
    private var widths: [Int] = []

    public init(_ branches: [(String, any Layer)]) {
        self.branches = branches.map { (name: $0.0, layer: $0.1) }
    }

    public var label: String { "Concat(\(branches.count) branches)" }

    public var children: [(name: String, layer: any Layer)] { branches }

    public func outputShape(for shape: [Int]) throws -> [Int] {
        var total = 0
        for (name, layer) in branches {
            let out = try layer.outputShape(for: shape)
            guard out.count == 1 else {
                throw ShapeError("Concat: branch \(name) gives \(out), not a flat vector [D]")
            }
            total += out[0]
        }
        return [total]
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let outputs = branches.map { hooks.forward($0.layer, x, mode: mode) }
        widths = outputs.map(\.sampleSize)
        let n = x.batch, total = widths.reduce(0, +)
        var y = Tensor(shape: [n, total])
        var column = 0
        for (output, width) in zip(outputs, widths) {
            for row in 0..<n {
                y.data.replaceSubrange(row * total + column ..< row * total + column + width,
                                       with: output.data[row * width ..< (row + 1) * width])
            }
            column += width
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let n = dy.batch, total = dy.sampleSize
        var dx: Tensor?
        var column = 0
        for ((_, layer), width) in zip(branches, widths) {
            var part = Tensor(shape: [n, width])
            for row in 0..<n {
                part.data.replaceSubrange(row * width ..< (row + 1) * width,
                                          with: dy.data[row * total + column ..< row * total + column + width])
            }
            let branchDx = hooks.backward(layer, part)
            if dx == nil { dx = branchDx } else { dx!.add(branchDx) }
            column += width
        }
        return dx!
    }
}
