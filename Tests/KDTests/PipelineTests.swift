import Foundation
import HDF5
import Testing

/// Pipelines/Makefile run for real on a tiny 32×32 synthetic store with one-epoch recipes: the
/// lineage layout (a student learns its parent folder's features), shared ensembles, and a make
/// killed with SIGKILL mid-way that, run again, finishes without redoing what was finished.
@Suite(.serialized) struct PipelineTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Pipelines").path

    /// A tiny store and recipes, and the make command line over them.
    struct Setup {
        let dir: TempDir
        let store: String
        var runs: String { dir.file("Runs/tiny") }

        init() throws {
            dir = try TempDir()
            store = try SyntheticStore.make(in: dir, train: 64, test: 32, side: 28)
            let recipes = [
                "teacher": #"{"epochs": 1, "batchSize": 16, "learningRate": 0.01}"#,
                "student": #"{"epochs": 2, "batchSize": 16, "optimizer": "adam", "learningRate": 0.001, "weightDecay": 0}"#,
                "ensemble": #"{"batchSize": 16, "optimizer": "adam", "learningRate": 0.001, "weightDecay": 0}"#,
            ]
            for (name, text) in recipes { try text.write(toFile: dir.file("\(name).json"), atomically: true, encoding: .utf8) }
        }

        var variables: [String] {
            ["KD=\(KDProcess.binary.path)", "WORK=\(dir.path)", "SET=tiny", "SCALE=tiny", "STORE=\(store)",
             "TEACHER_RECIPE=\(dir.file("teacher.json"))", "STUDENT_RECIPE=\(dir.file("student.json"))",
             "ENSEMBLE_RECIPE=\(dir.file("ensemble.json"))", "FINETUNE_EPOCHS=1", "THREADS=1", "TEACHER_THREADS=1"]
        }

        /// `make -C Pipelines -j2 VARIABLES… targets`, with output to `log`. Foundation starts a
        /// child in a process group of its own, so make and its kd children can be killed together.
        /// `variables` replaces the usual ones; `environment` adds to this process's.
        func start(_ targets: [String], log: String, question: Bool = false, variables: [String]? = nil,
                   environment: [String: String] = [:]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/make")
            p.arguments = ["-C", PipelineTests.pipelines, "-j2"] + (question ? ["-q"] : []) + (variables ?? self.variables)
                + targets
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            return p
        }

        func make(_ targets: [String], log: String, question: Bool = false, variables: [String]? = nil,
                  environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
            let p = try start(targets, log: log, question: question, variables: variables, environment: environment)
            p.waitUntilExit()
            return (p.terminationStatus, try String(contentsOfFile: log, encoding: .utf8))
        }
    }

    /// Inode and modification time: unchanged means the file was neither rewritten nor replaced.
    static func identity(_ path: String) throws -> [String] {
        let a = try FileManager.default.attributesOfItem(atPath: path)
        return ["\(a[.systemFileNumber] ?? "")", "\((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"]
    }

    static func waitFor(_ path: String, while p: Process) {
        while !FileManager.default.fileExists(atPath: path) && p.isRunning { usleep(5_000) }
    }

    @Test func killedMidwayThenCompletesWithoutRedoingFinishedWork() throws {
        let s = try Setup()
        let target = s.runs + "/direct/ensemble-2/model.h5"
        let teacher = s.runs + "/teacher"

        // Killed (make and every kd under it) while the first student trains.
        let first = try s.start([target], log: s.dir.file("first.log"))
        #expect(getpgid(first.processIdentifier) == first.processIdentifier, "make leads its own process group")
        Self.waitFor(teacher + "/s2-1of2/run.json", while: first)
        kill(-first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal, "make should have been killed mid-way, not finished")
        #expect(!FileManager.default.fileExists(atPath: target))
        let finished = [teacher + "/model.h5", teacher + "/features.h5"]
        let before = try finished.map(Self.identity)

        let second = try s.make([target], log: s.dir.file("second.log"))
        #expect(second.status == 0, "\(second.output)")
        #expect(FileManager.default.fileExists(atPath: target))
        #expect(try finished.map(Self.identity) == before, "the finished teacher files were not rewritten")
        #expect(!second.output.contains("\(KDProcess.binary.path) train "), "the teacher was not trained again")
        #expect(!second.output.contains("extract --model \(teacher)/model.h5"), "its features were not extracted again")
        #expect(second.output.contains("distill --arch s2 --chunk 1/2"), "the killed student was run again")

        let ensemble = try H5File.open(target)
        #expect(try ensemble.stringArrayAttribute("ensemble_members")
                == ["\(teacher)/s2-1of2/model.h5", "\(teacher)/s2-2of2/model.h5"])
        #expect(try ensemble.doubleAttribute("test_accuracy_before_finetune") != nil)
        #expect(FileManager.default.fileExists(atPath: s.runs + "/direct/ensemble-2/metrics.csv"))

        // Nothing left to do: make -q says everything is up to date.
        #expect(try s.make([target], log: s.dir.file("third.log"), question: true).status == 0)
    }

    @Test func hierarchyLearnsFromParentsAndSharesEnsembles() throws {
        let s = try Setup()
        let hierarchical4 = s.runs + "/hierarchical/ensemble-4/model.h5"
        let singleTA2 = s.runs + "/single-ta/ensemble-2/model.h5"
        let r = try s.make([hierarchical4, singleTA2], log: s.dir.file("make.log"))
        #expect(r.status == 0, "\(r.output)")

        // The 4 of the hierarchy learn halves of their parent of the 2, who learn halves of S1.
        let s1 = s.runs + "/teacher/s1-1of1"
        let members = [s1 + "/s2-1of2/s4-1of2", s1 + "/s2-1of2/s4-2of2", s1 + "/s2-2of2/s4-1of2", s1 + "/s2-2of2/s4-2of2"]
        #expect(try H5File.open(hierarchical4).stringArrayAttribute("ensemble_members") == members.map { $0 + "/model.h5" })
        for (i, member) in members.enumerated() {
            let model = try H5File.open(member + "/model.h5")
            let parent = (member as NSString).deletingLastPathComponent
            #expect(try model.stringAttribute("targets") == parent + "/features.h5")
            #expect(try model.intArrayAttribute("root_range") == [128 * i, 128 * (i + 1)], "\(member)")
        }
        #expect(r.output.components(separatedBy: "distill --arch s1 ").count == 2, "S1 is trained once")

        // single-TA's 2 are hierarchical's 2: the very ensemble, shared through a link.
        let link = s.runs + "/single-ta/ensemble-2"
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "../hierarchical/ensemble-2")
        #expect(try H5File.open(singleTA2).stringArrayAttribute("ensemble_members")
                == [s1 + "/s2-1of2/model.h5", s1 + "/s2-2of2/model.h5"])
        #expect(try s.make([hierarchical4, singleTA2], log: s.dir.file("again.log"), question: true).status == 0)
    }

    /// Pipelines/logits.mk: baseline, KD, TAKD and DGKD over two seeds on the resnet ladder —
    /// each teacher trained and extracted once, each student taught by the right stored logits
    /// (DGKD's by every larger network, one dropped per step), then kd report --methods.
    @Test func logitMethodsOverSeeds() throws {
        let s = try Setup()
        let methods = ["baseline", "kd", "takd", "dgkd"]
        let logits = ["LOGIT_TEACHER_RECIPE=\(s.dir.file("teacher.json"))", "LOGIT_STUDENT_RECIPE=\(s.dir.file("student.json"))",
                      "SEEDS=0 1"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        p.arguments = ["-C", PipelineTests.pipelines, "-j2"] + s.variables + logits + ["methods"]
        let log = s.dir.file("methods.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        let output = try String(contentsOfFile: log, encoding: .utf8)
        #expect(p.terminationStatus == 0, "\(output)")
        #expect(output.components(separatedBy: "train --arch resnet26 ").count == 2, "the teacher is trained once")
        let l = s.runs + "/logits"
        func targets(_ model: String) throws -> [String] { try H5File.open(model).stringArrayAttribute("targets") ?? [] }
        let teacher = l + "/teacher/features.h5", ta20 = l + "/dgkd/resnet20/features.h5", ta14 = l + "/dgkd/resnet14/features.h5"
        for seed in [0, 1] {
            for method in methods {
                #expect(FileManager.default.fileExists(atPath: "\(l)/\(method)/student-seed\(seed)/model.h5"), "\(method) \(seed)")
            }
            #expect(try targets("\(l)/kd/student-seed\(seed)/model.h5") == [teacher])
            #expect(try targets("\(l)/takd/student-seed\(seed)/model.h5") == [l + "/takd/resnet14/features.h5"])
            let dgkd = try H5File.open("\(l)/dgkd/student-seed\(seed)/model.h5")
            #expect(try dgkd.stringArrayAttribute("targets") == [teacher, ta20, ta14])
            #expect(try dgkd.intAttribute("drop") == 1)
        }
        #expect(try targets(l + "/takd/resnet14/model.h5") == [teacher])
        #expect(try targets(l + "/dgkd/resnet14/model.h5") == [teacher, ta20])
        #expect(try H5File.open(l + "/dgkd/resnet14/model.h5").intAttribute("drop") == 1)
        #expect(try H5File.open(l + "/dgkd/resnet20/model.h5").intAttribute("drop") == 0)

        let report = s.dir.file("report")
        let r = try KDProcess.run(["report", "--methods"] + methods.map { "\(l)/\($0)" } + ["--out", report])
        #expect(r.status == 0, "\(r.stderr)")
        let markdown = try String(contentsOfFile: report + "/report.md", encoding: .utf8)
        for method in methods { #expect(markdown.contains("| \(method) | resnet8 |"), "\(markdown)") }
        #expect(markdown.contains("| dgkd | resnet8 | teacher, resnet20, resnet14 | 2 |"))
    }
}
