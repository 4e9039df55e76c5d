import Foundation

/// Distillation methods side by side (baseline, KD, TAKD, DGKD; or baseline, KD, AT, CTKD):
/// each method's student accuracy as mean ± standard deviation over its seeds and seed by seed,
/// with the teacher it learned from and the accuracy of any network trained alongside it (CTKD's
/// scratch teacher) — as Markdown, as CSV (one row per trained network) and as a plot of test
/// accuracy per epoch (mean over seeds; networks trained alongside dashed). Cost: linear in the
/// number of students.
struct MethodTables {
    /// One report section of methods: its heading, what it compares, and its files' stem.
    struct Section {
        var title: String
        var intro: String
        /// `<stem>.csv` and `<stem>.svg`.
        var stem: String

        static let logits = Section(
            title: "Logit distillation: the student's test accuracy (%)",
            intro: "Each student learns from the stored logits of the teachers named (kd distill --method kd), or from "
                + "the labels alone (no teacher).",
            stem: "methods")
        static let collaborative = Section(
            title: "Collaborative teaching (CTKD): the student's test accuracy (%)",
            intro: "Each student learns from the labels alone (baseline), an expert teacher's stored logits (kd) or "
                + "attention maps (at), or — CTKD — from a scratch teacher trained alongside it (its logits every step) "
                + "plus the expert's attention maps (kd distill --method ctkd).",
            stem: "ctkd")
    }

    let methods: [MethodResults]
    let section: Section
    /// Paths are written relative to the report.
    let paths: ReportPaths

    /// The section of report.md, with its plot embedded at its end.
    var markdown: String {
        var out = "\n## \(section.title)\n\n\(section.intro) Mean ± standard deviation over the seeds; then each seed.\n\n"
        let seeds = Array(Set(methods.flatMap { $0.seeds.map(\.seed) })).sorted()
        let companions = methods.reduce(into: [String]()) { names, m in
            for name in m.companionNames where !names.contains(name) { names.append(name) }
        }
        out += "| method | student | learns from | seeds | mean ± std |" + companions.map { " \($0) teacher |" }.joined()
            + seeds.map { " seed \($0) |" }.joined() + "\n"
        out += "|---|---|---|--:|--:|" + companions.map { _ in "--:|" }.joined() + seeds.map { _ in "--:|" }.joined() + "\n"
        for m in methods {
            let teachers = m.targets.map { ($0 as NSString).deletingLastPathComponent.split(separator: "/").last.map(String.init) ?? $0 }
                + m.companionNames.map { name in
                    let arch = m.seeds.lazy.compactMap { $0.companions[name]?.arch }.first
                    return "\(name) \(arch ?? "teacher") (trained alongside)"
                }
            let alongside = companions.map { name in Self.summary(m.companionAccuracy(name)) }
            let bySeed = seeds.map { s in ReportTables.percent(m.seeds.first { $0.seed == s }?.accuracy) }
            out += "| \(m.name) | \(m.studentArch ?? "–") | \(teachers.isEmpty ? "labels only" : teachers.joined(separator: ", ")) "
                + "| \(m.seeds.count) | \(Self.summary(m.accuracy)) |" + alongside.map { " \($0) |" }.joined()
                + bySeed.map { " \($0) |" }.joined() + "\n"
        }
        var teachers: [String] = []
        for m in methods {
            guard let t = m.teacher, !teachers.contains(t.path) else { continue }
            teachers.append(t.path)
            let taught = methods.filter { $0.teacher?.path == t.path }.map(\.name).joined(separator: ", ")
            out += "\nTeacher of \(taught): \(t.arch ?? "?") at \(ReportTables.percent(t.accuracy)) % (`\(paths.relative(t.path))`).\n"
        }
        out += "\n![test accuracy per epoch, mean over seeds](\(section.stem).svg)\n\nThe same numbers: `\(section.stem).csv`.\n"
        return out
    }

    /// "mean ± std" in percent, "–" when nothing was measured.
    static func summary(_ accuracy: (mean: Double, std: Double?)?) -> String {
        accuracy.map { a in String(format: "%.2f", 100 * a.mean) + (a.std.map { String(format: " ± %.2f", 100 * $0) } ?? "") }
            ?? "–"
    }

    var csv: String {
        var lines = ["method,network,arch,seed,test_accuracy,targets,path"]
        for m in methods {
            for s in m.seeds {
                let targets = m.targets.map(paths.relative).joined(separator: " ")
                lines.append(ReportTables.csv([m.name, "student", m.studentArch, String(s.seed), s.accuracy.map { String($0) },
                                               targets, paths.relative(s.path)]))
                for (name, companion) in s.companions.sorted(by: { $0.key < $1.key }) {
                    let path = (s.path as NSString).deletingLastPathComponent + "/\(name)/model.h5"
                    lines.append(ReportTables.csv([m.name, name, companion.arch, String(s.seed),
                                                   companion.accuracy.map { String($0) }, targets, paths.relative(path)]))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Test accuracy per epoch of each method's student, the mean over its seeds; each network
    /// trained alongside dashed in its method's colour.
    var chart: LineChart {
        let palette = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"]
        func mean(_ curves: [[Double]]) -> [(x: Double, y: Double)] {
            let epochs = curves.map(\.count).min() ?? 0
            return (0..<epochs).map { e in (Double(e + 1), 100 * curves.reduce(0) { $0 + $1[e] } / Double(curves.count)) }
        }
        let series = methods.enumerated().flatMap { i, m -> [LineChart.Series] in
            let color = palette[i % palette.count]
            return [LineChart.Series(name: m.name, points: mean(m.seeds.map(\.curve)), color: color)]
                + m.companionNames.map { name in
                    LineChart.Series(name: "\(m.name): \(name) teacher",
                                     points: mean(m.seeds.compactMap { $0.companions[name]?.curve }), color: color, dashed: true)
                }
        }
        return LineChart(title: "Test accuracy per epoch, mean over seeds", xLabel: "epoch",
                         yLabel: "test accuracy (%)", series: series, integerX: true)
    }
}
