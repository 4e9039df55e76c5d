import Distillation
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HDF5
import Testing

/// `kd report` through the real binary over small fake run folders: model files written with
/// the HDF5 API carrying the attributes kd distill, kd train and kd ensemble write, and
/// students' metrics.csv. Checks the tables' names and numbers, the CSV and the SVG plots.
@Suite struct ReportTests {
    /// A fake set of runs: a teacher, the students of `direct` (1, 2, 4 and 8) and of
    /// `hierarchical` (1 and 2, the 2 learning S1's halves), with distinct numbers everywhere.
    struct FakeRuns {
        let dir: TempDir
        var runs: String { dir.file("Runs") }
        var teacher: String { runs + "/teacher/model.h5" }
        /// experiment → size → (before, after) accuracy.
        var accuracies: [String: [Int: (Double, Double)]] = [:]
        /// student model path → (train MSE, test MSE, per-epoch curve).
        var losses: [String: (Double, Double, [Double])] = [:]
        /// experiment → size → member paths.
        var members: [String: [Int: [String]]] = [:]
        let teacherAccuracy = 0.9137

        init() throws {
            dir = try TempDir()
            try Self.model(teacher, ["test_accuracy": .double(teacherAccuracy), "param_count": .int(14_728_266)])
            var serial = 0
            func student(_ folder: String, arch: String, k: Int, n: Int, range: Range<Int>) throws -> String {
                serial += 1
                let path = "\(folder)/\(arch)-\(k)of\(n)/model.h5"
                let train = 0.001 * Double(serial) + 0.0001234, test = train * 1.5
                let curve = [train * 4, train * 2, train]
                try Self.model(path, ["train_loss": .double(train), "test_loss": .double(test), "chunk": .string("\(k)/\(n)"),
                                      "root_range": .ints([range.lowerBound, range.upperBound]),
                                      "root_sha256": .string("abc"), "targets": .string(folder + "/features.h5")])
                let rows = curve.enumerated().map { "\($0 + 1),\($1),,,,\(test),,0.001,100.0,1.00" }
                try (["epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,learning_rate,"
                      + "images_per_second,seconds"] + rows).joined(separator: "\n")
                    .write(toFile: (path as NSString).deletingLastPathComponent + "/metrics.csv", atomically: true, encoding: .utf8)
                losses[path] = (train, test, curve)
                return path
            }
            let t = runs + "/teacher"
            let s1 = try student(t, arch: "s1", k: 1, n: 1, range: 0 ..< 512)
            var direct: [Int: [String]] = [1: [s1]]
            for (arch, n) in [("s2", 2), ("s4", 4), ("s8", 8)] {
                let w = 512 / n
                direct[n] = try (1...n).map { try student(t, arch: arch, k: $0, n: n, range: ($0 - 1) * w ..< $0 * w) }
            }
            let s1Folder = (s1 as NSString).deletingLastPathComponent
            let hierarchical: [Int: [String]] = [
                1: [s1],
                2: try (1...2).map { try student(s1Folder, arch: "s2", k: $0, n: 2, range: ($0 - 1) * 256 ..< $0 * 256) },
            ]
            members = ["direct": direct, "hierarchical": hierarchical]
            let params = [1: 2_623_146, 2: 2_485_066, 4: 2_405_514, 8: 1_942_026]
            for (experiment, sizes) in members {
                for (n, paths) in sizes {
                    let before = 0.5 + 0.01 * Double(n) + (experiment == "direct" ? 0 : 0.003)
                    let after = before + 0.1234
                    accuracies[experiment, default: [:]][n] = (before, after)
                    try Self.model("\(runs)/\(experiment)/ensemble-\(n)/model.h5", [
                        "ensemble_members": .strings(paths), "ensemble_head": .string(teacher),
                        "test_accuracy_before_finetune": .double(before), "test_accuracy": .double(after),
                        "param_count": .int(params[n]!)])
                }
            }
        }

        enum Value {
            case double(Double), int(Int), ints([Int]), string(String), strings([String])
        }

        /// A model file holding just `kd_kind` "model" and `attributes`.
        static func model(_ path: String, _ attributes: [String: Value]) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let file = try H5File.create(path)
            try file.setAttribute("kd_kind", "model")
            for (name, value) in attributes {
                switch value {
                case .double(let v): try file.setAttribute(name, v)
                case .int(let v): try file.setAttribute(name, v)
                case .ints(let v): try file.setAttribute(name, v)
                case .string(let v): try file.setAttribute(name, v)
                case .strings(let v): try file.setAttribute(name, v)
                }
            }
            try file.close()
        }

        func report(_ experiments: [String], out: String) throws -> KDRun {
            try KDProcess.run(["report"] + experiments.map { "\(runs)/\($0)" } + ["--out", out])
        }
    }

    /// The cells of the Markdown table whose header row starts with `firstHeader`, as
    /// [row's first cell: [column header: cell]].
    static func table(_ markdown: String, firstHeader: String) -> [String: [String: String]] {
        func cells(_ line: Substring) -> [String] {
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let lines = markdown.split(separator: "\n")
        guard let start = lines.firstIndex(where: { $0.hasPrefix("| \(firstHeader) |") }) else { return [:] }
        let header = cells(lines[start])
        var out: [String: [String: String]] = [:]
        for line in lines[(start + 2)...] {
            guard line.hasPrefix("|") else { break }
            let row = cells(line)
            out[row[0]] = Dictionary(uniqueKeysWithValues: zip(header, row).map { ($0, $1) })
        }
        return out
    }

    static func csvRows(_ path: String) throws -> [[String: String]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { line in
            Dictionary(uniqueKeysWithValues: zip(header, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    /// Parses an SVG as XML; returns the `<title>` texts of its `polyline class="series"` elements.
    final class SeriesCollector: NSObject, XMLParserDelegate {
        var titles: [String] = []
        private var inSeries = false, inTitle = false, text = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if name == "polyline" && attributes["class"] == "series" { inSeries = true }
            if name == "title" && inSeries { inTitle = true; text = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inTitle { text += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "title" && inTitle { titles.append(text); inTitle = false }
            if name == "polyline" { inSeries = false }
        }
    }

    static func seriesTitles(_ path: String) throws -> [String] {
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        let collector = SeriesCollector()
        parser.delegate = collector
        #expect(parser.parse(), "\(path) is not well-formed XML: \(String(describing: parser.parserError))")
        return collector.titles
    }

    @Test func tablesCSVAndPlots() throws {
        let fake = try FakeRuns()
        let out = fake.dir.file("Reports/demo")
        let r = try fake.report(["direct", "hierarchical"], out: out)
        #expect(r.status == 0, "\(r.stderr)")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        func pct(_ v: Double) -> String { String(format: "%.2f", 100 * v) }

        // Accuracy: the teacher and each ensemble, assembled and fine-tuned, per experiment.
        let accuracy = Self.table(markdown, firstHeader: "model")
        #expect(accuracy["teacher"]?["direct"] == pct(fake.teacherAccuracy))
        #expect(accuracy["teacher"]?["parameters"] == "14,728,266")
        for (experiment, sizes) in fake.accuracies {
            for (n, (before, after)) in sizes {
                let label = n == 1 ? "S1 + teacher's output layer" : "\(n) students"
                #expect(accuracy["\(label), assembled"]?[experiment] == pct(before), "\(experiment) \(n)")
                #expect(accuracy["\(label), fine-tuned"]?[experiment] == pct(after), "\(experiment) \(n)")
            }
        }
        #expect(accuracy["2 students, fine-tuned"]?["parameters"] == "2,485,066")
        #expect(accuracy["8 students, assembled"]?["hierarchical"] == "–", "hierarchical has no ensemble of 8 here")

        // Students, named as the seed paper does, with their losses per experiment.
        let students = Self.table(markdown, firstHeader: "student")
        let expectedNames = ["S1", "S01", "S2", "S11", "S22", "S33", "S44"] + (1...8).map { "SS\($0)\($0)" }
        #expect(Set(students.keys) == Set(expectedNames))
        for (experiment, sizes) in fake.members {
            for (n, paths) in sizes {
                for (name, path) in zip(expectedNames.dropFirst(n - 1).prefix(n), paths) {
                    let (train, test, _) = fake.losses[path]!
                    #expect(students[name]?["\(experiment) train"] == String(format: "%.4g", train), "\(name) \(experiment)")
                    #expect(students[name]?["\(experiment) test"] == String(format: "%.4g", test), "\(name) \(experiment)")
                }
            }
        }
        #expect(students["S22"]?["stands for"] == "[128, 256)")
        #expect(students["SS88"]?["hierarchical train"] == "–")
        #expect(students["S01"]?["direct train"] != students["S01"]?["hierarchical train"],
                "direct's S01 learns the teacher, hierarchical's learns S1: different students")

        // The CSVs carry the same numbers, exactly.
        let accuracyRows = try Self.csvRows(out + "/accuracy.csv")
        #expect(accuracyRows.count == 1 + 4 + 1 + 2)
        for (experiment, sizes) in fake.accuracies {
            for (n, (before, after)) in sizes {
                let row = try #require(accuracyRows.first { $0["experiment"] == experiment && $0["students"] == "\(n)" })
                #expect(Double(row["test_accuracy_before_finetune"] ?? "") == before)
                #expect(Double(row["test_accuracy"] ?? "") == after)
            }
        }
        #expect(accuracyRows.first { $0["model"] == "teacher" }.flatMap { Double($0["test_accuracy"] ?? "") } == fake.teacherAccuracy)
        let studentRows = try Self.csvRows(out + "/students.csv")
        #expect(studentRows.count == 15 + 3)
        for row in studentRows {
            // Paths are relative to the report folder.
            let path = (out + "/" + (row["path"] ?? "") as NSString).standardizingPath
            #expect(row["path"]?.hasPrefix("../../Runs/") == true, "\(row["path"] ?? "")")
            let (train, test, curve) = try #require(fake.losses[path], "\(path) from \(row["path"] ?? "")")
            #expect(Double(row["train_loss"] ?? "") == train)
            #expect(Double(row["test_loss"] ?? "") == test)
            #expect(row["epochs"] == "\(curve.count)")
        }

        // The plots: well-formed SVG, one curve per student, one line per experiment and measure.
        #expect(try Self.seriesTitles(out + "/loss-direct.svg") == expectedNames)
        #expect(try Self.seriesTitles(out + "/loss-hierarchical.svg") == ["S1", "S01", "S2"])
        #expect(try Self.seriesTitles(out + "/accuracy.svg")
                == ["direct, fine-tuned", "direct, assembled", "hierarchical, fine-tuned", "hierarchical, assembled", "teacher"])
        #expect(markdown.contains("](loss-direct.svg)") && markdown.contains("](accuracy.svg)"))
    }

    @Test func replacesAnEarlierReportWhole() throws {
        let fake = try FakeRuns()
        let out = fake.dir.file("report")
        #expect(try fake.report(["direct", "hierarchical"], out: out).status == 0)
        #expect(FileManager.default.fileExists(atPath: out + "/loss-hierarchical.svg"))
        let again = try fake.report(["direct"], out: out)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/loss-hierarchical.svg"), "nothing of the old report is left")
        #expect(try String(contentsOfFile: out + "/report.md", encoding: .utf8).contains("| direct |"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.dir.path).filter { $0.hasPrefix("report.") }.isEmpty)
    }

    @Test func missingFolderIs66() throws {
        let fake = try FakeRuns()
        let r = try fake.report(["direct", "nowhere"], out: fake.dir.file("report"))
        #expect(r.status == 66)
        #expect(r.stderr.contains("nowhere: no such experiment folder"))
        #expect(!FileManager.default.fileExists(atPath: fake.dir.file("report")))
    }

    @Test func folderThatIsNotAnExperimentIs65() throws {
        let fake = try FakeRuns()
        let r = try fake.report(["teacher"], out: fake.dir.file("report"))
        #expect(r.status == 65)
        #expect(r.stderr.contains("is not an experiment folder: it holds no ensemble-<N>/model.h5"))
    }

    @Test func missingStudentIs66() throws {
        let fake = try FakeRuns()
        let gone = fake.members["direct"]![4]![2]
        try FileManager.default.removeItem(atPath: gone)
        let r = try fake.report(["direct"], out: fake.dir.file("report"))
        #expect(r.status == 66)
        #expect(r.stderr.contains("\(gone), a student of \(fake.runs)/direct/ensemble-4/model.h5, does not exist"))
    }

    @Test func ensembleWithoutMembersIs65() throws {
        let fake = try FakeRuns()
        try FakeRuns.model(fake.runs + "/broken/ensemble-2/model.h5", ["test_accuracy": .double(0.5)])
        let r = try fake.report(["broken"], out: fake.dir.file("report"))
        #expect(r.status == 65)
        #expect(r.stderr.contains("is not an ensemble: it lacks the ensemble_members"))
    }

    @Test func refusesToReplaceSomethingElse() throws {
        let fake = try FakeRuns()
        let out = fake.dir.file("precious")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "keep me".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        let r = try fake.report(["direct"], out: out)
        #expect(r.status == 73)
        #expect(r.stderr.contains("is not a kd report folder"))
        #expect(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8) == "keep me")
    }

    /// Logit-distillation methods: per method, the student's accuracy as mean ± std over its
    /// seeds and seed by seed, the teacher it learned from, methods.csv and methods.svg.
    @Test func methodsMeanAndSpreadOverSeeds() throws {
        let dir = try TempDir()
        let teacher = dir.file("logits/teacher/model.h5"), features = dir.file("logits/teacher/features.h5")
        try FakeRuns.model(teacher, ["test_accuracy": .double(0.875)])
        try FakeRuns.model(features, ["model": .string(teacher), "model_arch": .string("resnet26")])
        let accuracies = ["baseline": [0.70, 0.74], "kd": [0.78, 0.80, 0.82]]
        for (method, values) in accuracies {
            for (seed, accuracy) in values.enumerated() {
                let folder = dir.file("logits/\(method)/student-seed\(seed)")
                var attributes: [String: FakeRuns.Value] = ["test_accuracy": .double(accuracy),
                                                            "arch": .string(#"{"name": "resnet8", "vgg": "8 M"}"#)]
                if method == "kd" { attributes["targets"] = .strings([features]) }
                try FakeRuns.model(folder + "/model.h5", attributes)
                let rows = (1...3).map { "\($0),1.0,,,,0.5,\(accuracy - 0.01 * Double(3 - $0)),0.001,100.0,1.00" }
                try (["epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,learning_rate,"
                      + "images_per_second,seconds"] + rows).joined(separator: "\n")
                    .write(toFile: folder + "/metrics.csv", atomically: true, encoding: .utf8)
            }
        }
        let out = dir.file("report")
        let r = try KDProcess.run(["report", "--methods", dir.file("logits/baseline"), dir.file("logits/kd"), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("| baseline | resnet8 | labels only | 2 | 72.00 ± 2.83 | 70.00 | 74.00 | – |"), "\(markdown)")
        #expect(markdown.contains("| kd | resnet8 | teacher | 3 | 80.00 ± 2.00 | 78.00 | 80.00 | 82.00 |"), "\(markdown)")
        #expect(markdown.contains("Teacher of kd: resnet26 at 87.50 %"))
        #expect(!markdown.contains("Teacher-Class experiments\n"), "no ensembles, no Teacher-Class section")
        let csv = try String(contentsOfFile: out + "/methods.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 6 && csv[0] == "method,network,arch,seed,test_accuracy,targets,path")
        let svg = try String(contentsOfFile: out + "/methods.svg", encoding: .utf8)
        #expect(svg.components(separatedBy: "class=\"series\"").count - 1 == 2)
        let none = try KDProcess.run(["report", "--methods", dir.file("logits"), "--out", dir.file("bad")])
        #expect(none.status == 65 && none.stderr.contains("student-seed"))
    }

    /// The CTKD section: the students of each method and, for CTKD, the scratch teacher trained
    /// alongside each — its accuracy as mean ± std, its row in ctkd.csv, and its per-epoch
    /// curve (from the student's metrics.csv) dashed in ctkd.svg.
    @Test func collaborativeSectionShowsTheScratchTeacher() throws {
        let dir = try TempDir()
        let arch = #"{"name": "wrn-16-1", "vgg": "8 M"}"#, scratchArch = #"{"name": "wrn-40-1", "vgg": "8 M"}"#
        let header = EpochMetrics.header(columns: ["ce/student", "ce/scratch", "accuracy/scratch"])
        for (method, values) in ["baseline": [0.70, 0.72], "ctkd": [0.80, 0.84]] {
            for (seed, accuracy) in values.enumerated() {
                let folder = dir.file("ctkd/\(method)/student-seed\(seed)")
                try FakeRuns.model(folder + "/model.h5", ["test_accuracy": .double(accuracy), "arch": .string(arch)])
                var rows = (1...2).map { "\($0),1.0,,,,0.5,\(accuracy),0.001,100.0,1.00" }
                if method == "ctkd" {
                    try FakeRuns.model(folder + "/scratch/model.h5", ["test_accuracy": .double(0.9 + 0.02 * Double(seed)),
                                                                      "arch": .string(scratchArch)])
                    rows = rows.map { $0 + ",1,1,1,1,0.5,0.\(88 + 2 * seed)" }
                }
                try ([method == "ctkd" ? header : EpochMetrics.header] + rows).joined(separator: "\n")
                    .write(toFile: folder + "/metrics.csv", atomically: true, encoding: .utf8)
            }
        }
        let out = dir.file("report")
        let r = try KDProcess.run(["report", "--ctkd", dir.file("ctkd/baseline"), dir.file("ctkd/ctkd"), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("## Collaborative teaching (CTKD)"), "\(markdown)")
        #expect(markdown.contains("| method | student | learns from | seeds | mean ± std | scratch teacher | seed 0 | seed 1 |"),
                "\(markdown)")
        #expect(markdown.contains("| baseline | wrn-16-1 | labels only | 2 | 71.00 ± 1.41 | – | 70.00 | 72.00 |"), "\(markdown)")
        #expect(markdown.contains("| ctkd | wrn-16-1 | scratch wrn-40-1 (trained alongside) | 2 | 82.00 ± 2.83 | 91.00 ± 1.41 |"),
                "\(markdown)")
        let csv = try String(contentsOfFile: out + "/ctkd.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 7 && csv.contains { $0.hasPrefix("ctkd,scratch,wrn-40-1,1,0.92,") }, "\(csv)")
        let svg = try String(contentsOfFile: out + "/ctkd.svg", encoding: .utf8)
        #expect(svg.components(separatedBy: "class=\"series\"").count - 1 == 3)
        #expect(svg.contains("ctkd: scratch teacher") && svg.contains("stroke-dasharray"))
    }
}
