import KDCore
import NeuralNet

/// kd's layers as ONNX operators (opset 17), written into an `ONNXGraph` as inference runs
/// them: one node per layer that computes, named after its state_dict path, its weights as
/// constants under their state_dict keys.
///
/// | kd layer | ONNX |
/// |---|---|
/// | Conv2d | Conv (kernel_shape, strides, pads; bias when the layer has one) |
/// | BatchNorm2d | BatchNormalization with the running statistics and the layer's epsilon |
/// | ReLU | Relu |
/// | MaxPool2d, AvgPool2d | MaxPool, AveragePool (no padding, floor rounding: kd's only mode) |
/// | GlobalAvgPool | GlobalAveragePool ([N, C, 1, 1] in both) |
/// | Flatten | Flatten(axis 1) |
/// | Linear | Gemm(transB 1): y = x·Wᵀ + b |
/// | Dropout | nothing: the identity at inference |
/// | Sequential | its layers in order |
/// | Residual | pre, body and shortcut (or the identity), Add, post |
/// | Concat | its branches on the same input, Concat(axis 1) |
///
/// BatchNorm stays a node of its own rather than being folded into the convolution before it:
/// in the pre-activation WRNs it follows a residual sum or opens a block, where there is no
/// convolution to fold it into; one node per layer keeps every constant equal to its entry in
/// the model file; and ONNX runtimes fold Conv + BatchNormalization themselves when they load
/// a model. Cost: that of copying the weights.
enum LayerTranslation {
    /// Writes `layer` (at state_dict path `path`) applied to the value `input`, and returns
    /// the name of its output value.
    static func emit(_ layer: any Layer, path: String, input: String, into graph: inout ONNXGraph) throws -> String {
        switch layer {
        case let conv as Conv2d:
            let k = conv.kernel, s = conv.stride, p = conv.padding
            graph.add("Conv", [input] + constants(of: conv, path: path, into: &graph), output: path, attributes: [
                ONNXGraph.ints("kernel_shape", [k, k]), ONNXGraph.ints("strides", [s, s]),
                ONNXGraph.ints("pads", [p, p, p, p]),
            ])
        case let norm as BatchNorm2d:
            // Constants in ONNX's order: scale (γ), B (β), input_mean, input_var.
            graph.add("BatchNormalization", [input] + constants(of: norm, path: path, into: &graph), output: path,
                      attributes: [ONNXGraph.float("epsilon", norm.eps)])
        case is ReLU:
            graph.add("Relu", [input], output: path)
        case let pool as MaxPool2d:
            graph.add("MaxPool", [input], output: path, attributes: [
                ONNXGraph.ints("kernel_shape", [pool.kernel, pool.kernel]), ONNXGraph.ints("strides", [pool.stride, pool.stride]),
            ])
        case let pool as AvgPool2d:
            graph.add("AveragePool", [input], output: path, attributes: [
                ONNXGraph.ints("kernel_shape", [pool.kernel, pool.kernel]), ONNXGraph.ints("strides", [pool.stride, pool.stride]),
            ])
        case is GlobalAvgPool:
            graph.add("GlobalAveragePool", [input], output: path)
        case is Flatten:
            graph.add("Flatten", [input], output: path, attributes: [ONNXGraph.int("axis", 1)])
        case let linear as Linear:
            graph.add("Gemm", [input] + constants(of: linear, path: path, into: &graph), output: path,
                      attributes: [ONNXGraph.int("transB", 1)])
        case is Dropout:
            return input
        case let sequence as Sequential:
            return try chain(sequence.layers, prefix: path, input: input, into: &graph)
        case let block as Residual:
            let inner = try chain(block.pre, prefix: path, input: input, into: &graph)
            let body = try chain(block.body, prefix: path, input: inner, into: &graph)
            let skip = try block.shortcut.map {
                try emit($0.layer, path: LayerTree.join(path, $0.name), input: inner, into: &graph)
            } ?? inner
            // "/" cannot occur in a layer's name, so this never meets a child's path.
            let sum = path + "/add"
            graph.add("Add", [body, skip], output: sum)
            return try chain(block.post, prefix: path, input: sum, into: &graph)
        case let concat as Concat:
            let branches = try concat.branches.map {
                try emit($0.layer, path: LayerTree.join(path, $0.name), input: input, into: &graph)
            }
            graph.add("Concat", branches, output: path, attributes: [ONNXGraph.int("axis", 1)])
        default:
            throw StageError.badData("layer \(path) (\(layer.label)) has no ONNX translation")
        }
        return path
    }

    /// The layers of a list one after another, named `prefix.<name>`; returns the last output.
    static func chain(_ layers: [(name: String, layer: any Layer)], prefix: String, input: String,
                      into graph: inout ONNXGraph) throws -> String {
        try layers.reduce(input) { value, child in
            try emit(child.layer, path: LayerTree.join(prefix, child.name), input: value, into: &graph)
        }
    }

    /// A layer's parameters then buffers as constants named by their state_dict keys, in the
    /// layer's order (weight, bias, running_mean, running_var), which is the order of the
    /// inputs of Conv, Gemm and BatchNormalization after the data.
    private static func constants(of layer: any Layer, path: String, into graph: inout ONNXGraph) -> [String] {
        (layer.ownParameters + layer.ownBuffers).map { name, parameter in
            graph.constant(LayerTree.join(path, name), parameter.value.data, dims: parameter.value.shape)
        }
    }
}
