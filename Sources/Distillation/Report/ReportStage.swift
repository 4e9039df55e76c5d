#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KDCore

/// `kd report`: the seed paper's tables and plots over experiment run folders, written to one
/// report folder — `report.md` (the tables side by side, the plots embedded), `accuracy.csv`
/// and `students.csv` (the same numbers, one row each), `accuracy.svg` and one
/// `loss-<experiment>.svg` per experiment; with method folders, a section per family of methods
/// (`methods.*` for logit distillation, `ctkd.*` for the CTKD experiment). The folder is built beside its final name and moved
/// into place whole, replacing an earlier report. Cost: reading each model's attributes and
/// each student's metrics.csv; the output is a few kilobytes.
public struct ExperimentReport {
    public var runPaths: [String]
    /// Logit-distillation method folders (`student-seed<S>/model.h5` each).
    public var methodPaths: [String]
    /// The CTKD experiment's method folders (baseline, kd, at, ctkd), the same way.
    public var collaborativePaths: [String]
    public var outPath: String

    public init(runPaths: [String], methodPaths: [String] = [], collaborativePaths: [String] = [], outPath: String) {
        self.runPaths = runPaths
        self.methodPaths = methodPaths
        self.collaborativePaths = collaborativePaths
        self.outPath = outPath
    }

    public struct Outcome {
        public var folder: String
        public var files: [String]
        public var experiments: [ExperimentResults]
        public var methods: [MethodResults]
        public var collaborative: [MethodResults]
    }

    public func run() throws -> Outcome {
        guard !runPaths.isEmpty || !methodPaths.isEmpty || !collaborativePaths.isEmpty else {
            throw StageError.usage("give at least one experiment folder, --methods or --ctkd folder")
        }
        let out = (outPath as NSString).standardizingPath
        try checkReplaceable(out)
        let lock = try OutputLock.claim(out)
        defer { lock.release() }
        let runFolders = runPaths.map { ($0 as NSString).standardizingPath }
        let experiments = try zip(runFolders, Self.names(runFolders)).map { try ExperimentResults.load(path: $0, name: $1) }
        func methodResults(_ paths: [String]) throws -> [MethodResults] {
            let folders = paths.map { ($0 as NSString).standardizingPath }
            return try zip(folders, Self.names(folders)).map { try MethodResults.load(path: $0, name: $1) }
        }
        let methods = try methodResults(methodPaths), collaborative = try methodResults(collaborativePaths)

        let relative = ReportPaths(folder: out)
        let tables = ReportTables(experiments: experiments, paths: relative)
        let provenance = "Made by kd \(Provenance.kdVersion) at \(Provenance.timestamp): `\(Provenance.commandLine)`"
        let title = "Distillation experiments: \((out as NSString).lastPathComponent)"
        var files: [(name: String, text: String)] = []
        var markdown = "# \(title)\n\n\(provenance)\n"
        if !experiments.isEmpty {
            var plots: [(file: String, caption: String)] = [("accuracy.svg", "test accuracy per ensemble size and experiment")]
            files.append(("accuracy.svg", tables.accuracyChart.svg))
            for e in experiments {
                let name = "loss-\(e.name.replacingOccurrences(of: "/", with: "-")).svg"
                files.append((name, tables.lossChart(e).svg))
                plots.append((name, "training loss of the students, \(e.name)"))
            }
            markdown += tables.markdown(plots: plots)
            files.append(("accuracy.csv", tables.accuracyCSV))
            files.append(("students.csv", tables.studentsCSV))
        }
        for (results, section) in [(methods, MethodTables.Section.logits), (collaborative, .collaborative)]
            where !results.isEmpty {
            let methodTables = MethodTables(methods: results, section: section, paths: relative)
            markdown += methodTables.markdown
            files.append(("\(section.stem).svg", methodTables.chart.svg))
            files.append(("\(section.stem).csv", methodTables.csv))
        }
        files.insert(("report.md", markdown), at: 0)
        try writeFolder(out, files)
        return Outcome(folder: out, files: files.map { "\(out)/\($0.name)" }, experiments: experiments, methods: methods,
                       collaborative: collaborative)
    }

    /// Experiment names: the folders' names, or their last two path parts where two share one.
    static func names(_ paths: [String]) -> [String] {
        let last = paths.map { ($0 as NSString).lastPathComponent }
        return zip(paths, last).map { path, name in
            last.filter { $0 == name }.count == 1
                ? name
                : (((path as NSString).deletingLastPathComponent as NSString).lastPathComponent + "/" + name)
        }
    }

    /// 73 unless the report folder can be made: its parent exists (it is created when missing)
    /// and whatever sits at its name is an earlier report.
    private func checkReplaceable(_ out: String) throws {
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isFolder) {
            guard isFolder.boolValue, fm.fileExists(atPath: out + "/report.md") else {
                throw StageError.cantCreate("\(out) exists and is not a kd report folder (no report.md); "
                                            + "not replacing it — choose another --out")
            }
        }
        let parent = (out as NSString).deletingLastPathComponent
        try Folder.create(parent.isEmpty ? "." : parent, for: "the folder for the report")
    }

    /// Writes the files into `<out>.partial/`, then moves it to `out` (an earlier report there
    /// is moved aside first and removed after).
    private func writeFolder(_ out: String, _ files: [(name: String, text: String)]) throws {
        let fm = FileManager.default
        let partial = out + ".partial", old = out + ".old"
        try? fm.removeItem(atPath: partial)
        try? fm.removeItem(atPath: old)
        do {
            try fm.createDirectory(atPath: partial, withIntermediateDirectories: false)
            for (name, text) in files {
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(partial)/\(name)"))
            }
        } catch {
            try? fm.removeItem(atPath: partial)
            throw StageError.cantCreate("cannot write the report into \(partial): \(error.localizedDescription)")
        }
        let replacing = fm.fileExists(atPath: out)
        if replacing && rename(out, old) != 0 {
            throw StageError.cantCreate("cannot move the earlier report \(out) aside: \(String(cString: strerror(errno)))")
        }
        guard rename(partial, out) == 0 else {
            let reason = String(cString: strerror(errno))
            if replacing { rename(old, out) }
            throw StageError.cantCreate("cannot move \(partial) to \(out): \(reason)")
        }
        if replacing { try? fm.removeItem(atPath: old) }
    }
}
