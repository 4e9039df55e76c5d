import Foundation

/// The logit-distillation methods side by side (baseline, KD, TAKD, DGKD, …): each method's
/// student accuracy as mean ± standard deviation over its seeds and seed by seed, with the
/// teacher it learned from — as Markdown, as CSV (one row per student) and as a plot of test
/// accuracy per epoch (mean over seeds). Cost: linear in the number of students.
struct MethodTables {
    let methods: [MethodResults]
    /// Paths are written relative to the report.
    let paths: ReportPaths

    /// The section of report.md, with the plot file embedded at its end.
    func markdown(plot: String) -> String {
        var out = "\n## Logit distillation: the student's test accuracy (%)\n\n"
        out += "Each student learns from the stored logits of the teachers named (kd distill --method kd), or from "
            + "the labels alone (no teacher). Mean ± standard deviation over the seeds; then each seed.\n\n"
        let seeds = Array(Set(methods.flatMap { $0.seeds.map(\.seed) })).sorted()
        out += "| method | student | learns from | seeds | mean ± std |" + seeds.map { " seed \($0) |" }.joined() + "\n"
        out += "|---|---|---|--:|--:|" + seeds.map { _ in "--:|" }.joined() + "\n"
        for m in methods {
            let teachers = m.targets.isEmpty ? "labels only"
                : m.targets.map { ($0 as NSString).deletingLastPathComponent.split(separator: "/").last.map(String.init) ?? $0 }
                    .joined(separator: ", ")
            let summary = m.accuracy.map { a in
                String(format: "%.2f", 100 * a.mean) + (a.std.map { String(format: " ± %.2f", 100 * $0) } ?? "")
            } ?? "–"
            let bySeed = seeds.map { s in ReportTables.percent(m.seeds.first { $0.seed == s }?.accuracy) }
            out += "| \(m.name) | \(m.studentArch ?? "–") | \(teachers) | \(m.seeds.count) | \(summary) |"
                + bySeed.map { " \($0) |" }.joined() + "\n"
        }
        var teachers: [String] = []
        for m in methods {
            guard let t = m.teacher, !teachers.contains(t.path) else { continue }
            teachers.append(t.path)
            out += "\nTeacher of \(m.name): \(t.arch ?? "?") at \(ReportTables.percent(t.accuracy)) % (`\(paths.relative(t.path))`).\n"
        }
        out += "\n![test accuracy of the students per epoch, mean over seeds](\(plot))\n\nThe same numbers: `methods.csv`.\n"
        return out
    }

    var csv: String {
        var lines = ["method,student,seed,test_accuracy,targets,path"]
        for m in methods {
            for s in m.seeds {
                lines.append(ReportTables.csv([m.name, m.studentArch, String(s.seed), s.accuracy.map { String($0) },
                                               m.targets.map(paths.relative).joined(separator: " "),
                                               paths.relative(s.path)]))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Test accuracy per epoch of each method's student, the mean over its seeds.
    var chart: LineChart {
        let palette = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"]
        let series = methods.enumerated().map { i, m -> LineChart.Series in
            let epochs = m.seeds.map(\.curve.count).min() ?? 0
            let points = (0..<epochs).map { e -> (x: Double, y: Double) in
                let sum: Double = m.seeds.reduce(0) { $0 + $1.curve[e] }
                return (Double(e + 1), 100 * sum / Double(m.seeds.count))
            }
            return LineChart.Series(name: m.name, points: points, color: palette[i % palette.count])
        }
        return LineChart(title: "Test accuracy of the students, mean over seeds", xLabel: "epoch",
                         yLabel: "test accuracy (%)", series: series, integerX: true)
    }
}
