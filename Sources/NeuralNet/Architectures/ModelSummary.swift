import Foundation

/// torchsummary's table for a model: one row per computing layer (state_dict path, layer,
/// output shape, parameters), then the totals and the memory estimate the seed paper quotes.
///
/// Sizes are per sample, in MB of float32, as torchsummary computes them: input; forward and
/// backward pass (every layer output twice, value and gradient); parameters; and their sum.
/// Cost: formatting only.
public struct ModelSummary: Sendable {
    public let architecture: Architecture
    public let rows: [LayerRow]
    public let totalParameters: Int
    /// Values that are state but not trained (BatchNorm running statistics).
    public let bufferValues: Int
    /// The model's taps: name, layer path and per-sample shape.
    public let taps: [(name: String, path: String, shape: [Int])]

    public init(_ model: Model) {
        architecture = model.architecture
        rows = model.rows
        totalParameters = model.parameterCount
        bufferValues = model.namedBuffers.reduce(0) { $0 + $1.1.value.count }
        taps = model.tapNames.map { name in
            let path = model.tapPaths[name] ?? name
            return (name, path, model.outputShapes[path] ?? [])
        }
    }

    public var inputMegabytes: Double { megabytes(architecture.input.reduce(1, *)) }
    public var forwardBackwardMegabytes: Double {
        2 * megabytes(rows.reduce(0) { $0 + $1.outputShape.reduce(1, *) })
    }
    public var parameterMegabytes: Double { megabytes(totalParameters) }

    private func megabytes(_ floats: Int) -> Double { Double(floats) * 4 / (1024 * 1024) }

    /// The table as printed by `kd summary`.
    public var text: String {
        let header = ["Layer", "Type", "Output Shape", "Param #"]
        let cells = rows.map { row in
            [row.path, row.label, "[-1, " + row.outputShape.map(String.init).joined(separator: ", ") + "]",
             Self.grouped(row.parameterCount)]
        }
        let widths = (0..<4).map { column in (cells + [header]).map { $0[column].count }.max()! }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).enumerated().map { column, item in
                let padding = String(repeating: " ", count: item.1 - item.0.count)
                return column == 3 ? padding + item.0 : item.0 + padding   // numbers right-aligned
            }.joined(separator: "   ")
        }
        let width = widths.reduce(0, +) + 3 * (widths.count - 1)
        let rule = String(repeating: "-", count: width), double = String(repeating: "=", count: width)
        let input = architecture.input.map(String.init).joined(separator: "×")
        var out = ["Architecture \(architecture.name), input \(input)", rule, line(header), double]
        out += cells.map(line)
        out += [double,
                "Total params: \(Self.grouped(totalParameters))",
                "Trainable params: \(Self.grouped(totalParameters))",
                "Non-trainable params: 0",
                "Buffers (BatchNorm running statistics): \(Self.grouped(bufferValues))",
                rule,
                "Input size (MB): " + String(format: "%.2f", inputMegabytes),
                "Forward/backward pass size (MB): " + String(format: "%.2f", forwardBackwardMegabytes),
                "Params size (MB): " + String(format: "%.2f", parameterMegabytes),
                "Estimated Total Size (MB): "
                    + String(format: "%.2f", inputMegabytes + forwardBackwardMegabytes + parameterMegabytes),
                rule]
        let nameWidth = taps.map(\.name.count).max() ?? 0, pathWidth = taps.map(\.path.count).max() ?? 0
        out.append("Taps (kd extract --layer NAME; outputs a training step can supervise):")
        out += taps.map { tap in
            "  " + tap.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "   "
                + tap.path.padding(toLength: pathWidth, withPad: " ", startingAt: 0)
                + "   [-1, " + tap.shape.map(String.init).joined(separator: ", ") + "]"
        }
        return out.joined(separator: "\n")
    }

    /// 14728266 → "14,728,266", as Python's `{:,d}`.
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
