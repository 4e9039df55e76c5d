import Foundation

/// The seed paper's tables over some experiments, side by side: the accuracy of the teacher
/// and of every ensemble (as assembled and fine-tuned), and every student's final training
/// and test loss — as Markdown, as CSV (one row per number, with its experiment and model) and
/// as the plots' data. Cost: linear in the number of students.
struct ReportTables {
    let experiments: [ExperimentResults]
    /// Paths are written relative to the report.
    let paths: ReportPaths

    /// Every ensemble size any experiment has, ascending.
    var sizes: [Int] {
        Set(experiments.flatMap { $0.ensembles.map(\.size) }).sorted()
    }

    /// The student rows, in table order: by ensemble size, then chunk order.
    var studentRows: [(size: Int, index: Int, name: String)] {
        sizes.flatMap { size in StudentResult.names(count: size).enumerated().map { (size, $0, $1) } }
    }

    // MARK: Markdown

    /// The Teacher-Class sections of report.md, with `plots` embedded at the end.
    func markdown(plots: [(file: String, caption: String)]) -> String {
        var out = "\n## Teacher-Class experiments\n\n"
        out += "| experiment | folder | teacher |\n|---|---|---|\n"
        for e in experiments {
            out += "| \(e.name) | `\(paths.relative(e.path))` | `\(paths.relative(e.teacher.path))` |\n"
        }

        out += "\n### Test accuracy (%)\n\n"
        out += "Each ensemble is its students' outputs, concatenated in chunk order, on the teacher's output layer: "
            + "first as assembled, then after fine-tuning.\n\n"
        out += row(["model", "parameters"] + experiments.map(\.name))
        out += row(["---", "--:"] + experiments.map { _ in "--:" })
        let teacherParams = experiments.lazy.compactMap(\.teacher.parameterCount).first
        out += row(["teacher", Self.count(teacherParams)] + experiments.map { Self.percent($0.teacher.accuracy) })
        for size in sizes {
            let label = size == 1 ? "S1 + teacher's output layer" : "\(size) students"
            let params = experiments.lazy.compactMap { $0.ensemble(size: size)?.parameterCount }.first
            out += row(["\(label), assembled", Self.count(params)]
                       + experiments.map { Self.percent($0.ensemble(size: size)?.accuracyBeforeFinetune) })
            out += row(["\(label), fine-tuned", Self.count(params)]
                       + experiments.map { Self.percent($0.ensemble(size: size)?.accuracy) })
        }

        out += "\n### Students: training loss and test loss (MSE)\n\n"
        out += "Training loss: the mean squared error between a student's output and its targets over its last "
            + "training epoch; test: on the test split. The targets are the teacher's features (direct), or "
            + "those of the student one level up (hierarchical, single-TA), so losses compare within a "
            + "column. \"Stands for\" is the slice of the teacher's feature vector the student replaces.\n\n"
        out += row(["student", "stands for"] + experiments.flatMap { ["\($0.name) train", "\($0.name) test"] })
        out += row(["---", "---"] + experiments.flatMap { _ in ["--:", "--:"] })
        for (size, index, name) in studentRows {
            let students = experiments.map { $0.ensemble(size: size)?.students[index] }
            let range = students.lazy.compactMap { $0?.rootRange }.first
            out += row([name, range.map { "[\($0.lowerBound), \($0.upperBound))" } ?? "–"]
                       + students.flatMap { [Self.loss($0?.trainLoss), Self.loss($0?.testLoss)] })
        }

        out += "\n### Plots\n\n"
        for plot in plots { out += "![\(plot.caption)](\(plot.file))\n\n" }
        out += "The same numbers: `accuracy.csv`, `students.csv`.\n"
        return out
    }

    private func row(_ cells: [String]) -> String {
        "| " + cells.joined(separator: " | ") + " |\n"
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.2f", 100 * $0) } ?? "–" }
    static func loss(_ v: Double?) -> String { v.map { String(format: "%.4g", $0) } ?? "–" }
    static func count(_ v: Int?) -> String {
        guard let v else { return "–" }
        let digits = Array(String(v))
        return stride(from: digits.count, to: 0, by: -3).reversed().map { end in
            String(digits[max(0, end - 3) ..< end])
        }.joined(separator: ",")
    }

    // MARK: CSV

    /// experiment, model, students, parameters, test accuracy as assembled and final (fractions).
    var accuracyCSV: String {
        var lines = ["experiment,model,students,parameters,test_accuracy_before_finetune,test_accuracy,path"]
        for e in experiments {
            lines.append(Self.csv([e.name, "teacher", "0", e.teacher.parameterCount.map(String.init), nil,
                                   e.teacher.accuracy.map { "\($0)" }, paths.relative(e.teacher.path)]))
            for ensemble in e.ensembles {
                lines.append(Self.csv([e.name, "ensemble-\(ensemble.size)", "\(ensemble.size)",
                                       ensemble.parameterCount.map(String.init),
                                       ensemble.accuracyBeforeFinetune.map { "\($0)" }, ensemble.accuracy.map { "\($0)" },
                                       paths.relative(ensemble.path)]))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// experiment, student, ensemble size, chunk, slice of the teacher's feature, final losses.
    var studentsCSV: String {
        var lines = ["experiment,student,ensemble_size,chunk,root_start,root_end,train_loss,test_loss,epochs,path"]
        for e in experiments {
            for ensemble in e.ensembles {
                for s in ensemble.students {
                    lines.append(Self.csv([e.name, s.name, "\(ensemble.size)", s.chunk,
                                           s.rootRange.map { "\($0.lowerBound)" }, s.rootRange.map { "\($0.upperBound)" },
                                           s.trainLoss.map { "\($0)" }, s.testLoss.map { "\($0)" }, "\(s.curve.count)", paths.relative(s.path)]))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One CSV line; a missing value is an empty field, a field with a comma or quote is quoted.
    static func csv(_ fields: [String?]) -> String {
        fields.map { field in
            let f = field ?? ""
            return f.contains(where: { ",\"\n".contains($0) }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
        }.joined(separator: ",")
    }

    // MARK: Plots

    /// Training loss per epoch of every student of one experiment, coloured by ensemble size.
    func lossChart(_ e: ExperimentResults) -> LineChart {
        let hues: [Int: Double] = [1: 0, 2: 215, 4: 130, 8: 28]
        let series = e.ensembles.flatMap { ensemble in
            ensemble.students.enumerated().map { index, s in
                let lightness = ensemble.size == 1 ? 0.15 : 0.30 + 0.35 * Double(index) / Double(max(ensemble.size - 1, 1))
                return LineChart.Series(
                    name: s.name, points: s.curve.enumerated().map { (Double($0 + 1), $1) },
                    color: LineChart.color(hue: hues[ensemble.size] ?? 280, saturation: ensemble.size == 1 ? 0 : 0.75,
                                           lightness: lightness))
            }
        }
        return LineChart(title: "Training loss of the students: \(e.name)", xLabel: "epoch",
                         yLabel: "training loss (MSE)", series: series, yFromZero: true, integerX: true)
    }

    /// Test accuracy per ensemble size and experiment (solid: fine-tuned, dashed: assembled),
    /// with the teacher's as a grey line.
    var accuracyChart: LineChart {
        let positions = Dictionary(uniqueKeysWithValues: sizes.enumerated().map { ($1, Double($0)) })
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var series: [LineChart.Series] = []
        for (i, e) in experiments.enumerated() {
            let color = palette[i % palette.count]
            series.append(.init(name: "\(e.name), fine-tuned",
                                points: e.ensembles.compactMap { en in en.accuracy.map { (positions[en.size]!, 100 * $0) } },
                                color: color))
            series.append(.init(name: "\(e.name), assembled",
                                points: e.ensembles.compactMap { en in
                                    en.accuracyBeforeFinetune.map { (positions[en.size]!, 100 * $0) } },
                                color: color, dashed: true))
        }
        let teachers = Set(experiments.map(\.teacher.path))
        for (i, path) in teachers.sorted().enumerated() {
            guard let accuracy = experiments.first(where: { $0.teacher.path == path })?.teacher.accuracy else { continue }
            let name = teachers.count == 1 ? "teacher" : "teacher \(i + 1)"
            series.append(.init(name: name, points: [(0, 100 * accuracy), (Double(max(sizes.count - 1, 0)), 100 * accuracy)],
                                color: "#888888", dashed: true))
        }
        return LineChart(title: "Test accuracy of the ensembles", xLabel: "students in the ensemble",
                         yLabel: "test accuracy (%)", series: series,
                         xTicks: sizes.map { (positions[$0]!, $0 == 1 ? "1 (S1)" : "\($0)") })
    }
}
