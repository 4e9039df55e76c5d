import Foundation
import ONNXSchema

/// An ONNX graph being written: its nodes in execution order and its constants (initializers).
/// Values flow between nodes by name; the translation of kd's layers (`LayerTranslation`)
/// names each layer's output after its state_dict path and each constant after its state_dict
/// key, so the graph reads like the model file. Constants are float32 `raw_data`, little-endian
/// as the format requires on any host.
/// Cost: one copy of every constant's values (4 bytes each).
struct ONNXGraph {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []

    /// Appends a node running `op` (an operator of the default domain) on `inputs`; its output
    /// and the node are named `output`.
    mutating func add(_ op: String, _ inputs: [String], output: String, attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = output
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        nodes.append(node)
    }

    /// Adds a float32 constant of shape `dims` named `name`, and returns the name.
    @discardableResult
    mutating func constant(_ name: String, _ values: [Float], dims: [Int]) -> String {
        precondition(dims.reduce(1, *) == values.count, "ONNXGraph: \(name) has \(values.count) values, not \(dims)")
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = dims.map(Int64.init)
        tensor.rawData = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        initializers.append(tensor)
        return name
    }

    /// Gives the value `old` (the output of the last node) the name `new`: a graph's output
    /// then carries a stable name (`logits`) whatever layer computes it.
    mutating func renameLastOutput(_ old: String, to new: String) {
        precondition(nodes.last?.output == [old], "ONNXGraph: \(old) is not the output of the last node")
        nodes[nodes.count - 1].output = [new]
        nodes[nodes.count - 1].name = new
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }
}
