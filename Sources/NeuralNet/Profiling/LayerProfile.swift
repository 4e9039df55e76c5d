import Foundation
import KDCore

/// Where a training step's time goes, layer by layer: the benchmark's training step (random
/// inputs, the twin's loss and SGD update) run whole, with every leaf layer's calls timed as
/// its containers make them (`LayerHooks`), forward and backward, and the arithmetic rate of the convolutions and linear layers — the figures
/// that say whether a layer is bound by its matrix products or by the copies around them.
/// Cost: `steps` training steps plus two warm-up steps, and a clock read around every layer.
public enum LayerProfile {
    public struct Row: Sendable {
        /// state_dict-style path (`features.3`).
        public var path: String
        public var label: String
        /// Per-image output shape.
        public var outputShape: [Int]
        /// Seconds per step.
        public var forward: Double, backward: Double
        /// Forward floating-point operations per image (2 per multiply-add); 0 for layers
        /// without matrix products. Backward does twice as many.
        public var forwardFlops: Double
    }

    /// Profiles `steps` training steps of `architecture` on batches of `batch`.
    /// Throws `StageError` 64 for counts that are not positive, 65 for an architecture that
    /// does not build.
    public static func measure(_ architecture: Architecture, batch: Int, steps: Int, threads: Int) throws -> [Row] {
        guard steps >= 1, steps <= 1_000_000 else { throw StageError.usage("--steps must be in 1…1000000, got \(steps)") }
        let work = try Benchmark.Workload(architecture, batch: batch, threads: threads, training: true)
        let model = work.model
        let layers = model.leaves
        let timer = LayerTimer(leaves: layers.map(\.layer))
        model.hooks?.timer = timer
        defer { model.hooks?.timer = nil }
        for step in 0..<(steps + 2) {
            timer.counting = step >= 2   // two warm-up steps, as the benchmark
            work.trainingStep { model.forward($0, mode: .training) } backward: { _ = model.backward($0, taps: [:], inputGradient: false) }
        }
        return layers.map { path, layer in
            let shape = model.outputShapes[path] ?? []
            return Row(path: path, label: layer.label, outputShape: shape,
                       forward: timer.forward[ObjectIdentifier(layer), default: .zero].seconds / Double(steps),
                       backward: timer.backward[ObjectIdentifier(layer), default: .zero].seconds / Double(steps),
                       forwardFlops: flops(layer, output: shape))
        }
    }

    /// The profile as a table: per layer, milliseconds per step forward and backward, the share
    /// of the step, and GFLOP/s where the layer multiplies matrices; then the total and, given
    /// the machine's `SgemmPeak`, the step's rate as a share of it. The rates count the flops of
    /// a direct convolution, so a Winograd layer can pass the peak.
    public static func table(_ rows: [Row], batch: Int, sgemmPeak: Double? = nil) -> String {
        let total = rows.reduce(0) { $0 + $1.forward + $1.backward }
        func rate(_ flops: Double, _ seconds: Double) -> String {
            flops > 0 && seconds > 0 ? String(format: "%.1f", flops * Double(batch) / seconds / 1e9) : "-"
        }
        let header = ["layer", "kind", "output", "fwd ms", "bwd ms", "share", "fwd GFLOP/s", "bwd GFLOP/s"]
        let body = rows.map { r in
            [r.path, r.label, r.outputShape.map(String.init).joined(separator: "×"),
             String(format: "%.2f", 1e3 * r.forward), String(format: "%.2f", 1e3 * r.backward),
             String(format: "%.1f%%", 100 * (r.forward + r.backward) / max(total, 1e-12)),
             rate(r.forwardFlops, r.forward), rate(2 * r.forwardFlops, r.backward)]
        }
        let flops = rows.reduce(0) { $0 + 3 * $1.forwardFlops } * Double(batch)
        let footer = ["total", "", "", String(format: "%.2f", 1e3 * rows.reduce(0) { $0 + $1.forward }),
                      String(format: "%.2f", 1e3 * rows.reduce(0) { $0 + $1.backward }), "100%",
                      "", String(format: "%.1f all", flops / max(total, 1e-12) / 1e9)]
        let all = [header] + body + [footer]
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        let table = all.map { line in
            line.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - line[c].count)
                return c < 3 ? line[c] + pad : pad + line[c]
            }.joined(separator: "  ")
        }.joined(separator: "\n")
        guard let peak = sgemmPeak, peak > 0 else { return table }
        let rate = flops / max(total, 1e-12)
        return table + String(format: "\nsgemm peak measured now: %.1f GFLOP/s; the step runs at %.1f GFLOP/s, %.0f%% of it",
                              peak / 1e9, rate / 1e9, 100 * rate / peak)
    }

    private static func flops(_ layer: any Layer, output: [Int]) -> Double {
        switch layer {
        case let c as Conv2d:
            2 * Double(c.inChannels * c.kernel * c.kernel) * Double(output.reduce(1, *))
        case let l as Linear:
            2 * Double(l.inFeatures * l.outFeatures)
        default:
            0
        }
    }
}
