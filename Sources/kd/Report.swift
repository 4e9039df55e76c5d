import ArgumentParser
import Distillation
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tables and plots of the Teacher-Class experiments and the distillation methods, side by side.",
        discussion: """
            Each RUN_DIR is an experiment folder holding ensemble-<N>/model.h5 (made by kd \
            ensemble, e.g. Runs/fashion-mnist-demo/direct from Pipelines/Makefile); its students \
            are found through each ensemble's ensemble_members, their loss curves in the \
            metrics.csv beside them. Writes the folder OUT with report.md (the accuracy of the \
            teacher and of every ensemble as assembled and fine-tuned; the training and test loss \
            of every student, named as the seed paper does: S1; S01, S2; S11…S44; SS11…SS88), \
            accuracy.csv and students.csv (the same numbers), accuracy.svg and \
            loss-<experiment>.svg. With --methods, each METHOD_DIR holds one logit-distillation \
            method's students, one per seed (student-seed<S>/model.h5, e.g. \
            Runs/fashion-mnist-demo/logits/dgkd from Pipelines/logits.mk): report.md gains their \
            test accuracy, mean ± standard deviation over the seeds and seed by seed, with the \
            teacher each learned from; methods.csv and methods.svg (test accuracy per epoch). \
            --ctkd does the same for the CTKD experiment's method folders (Pipelines/ctkd.mk: \
            baseline, kd, at, ctkd) in a section of its own, with the accuracy of the scratch \
            teacher each CTKD student was trained alongside (student-seed<S>/scratch/model.h5); \
            ctkd.csv and ctkd.svg (the scratch teachers' curves dashed). An earlier report in OUT \
            is replaced whole.
            Exit codes: 65 a folder that is not an experiment or a model without what the \
            report needs, 66 a missing folder or model, 73 cannot create OUT.
            """)

    @Argument(help: ArgumentHelp("Experiment folders, shown side by side in this order.", valueName: "run-dir"))
    var runDirs: [String] = []

    @Option(name: .customLong("methods"), parsing: .upToNextOption,
            help: ArgumentHelp("Logit-distillation method folders (student-seed<S>/model.h5 each), in this order.",
                               valueName: "method-dir"))
    var methodDirs: [String] = []

    @Option(name: .customLong("ctkd"), parsing: .upToNextOption,
            help: ArgumentHelp("The CTKD experiment's method folders (student-seed<S>/model.h5 each), in this order.",
                               valueName: "method-dir"))
    var collaborativeDirs: [String] = []

    @Option(help: ArgumentHelp("The report folder to write (e.g. Reports/fashion-mnist-demo).", valueName: "folder"))
    var out: String

    func run() throws {
        try runStage("report") {
            let outcome = try ExperimentReport(runPaths: runDirs, methodPaths: methodDirs, collaborativePaths: collaborativeDirs,
                                           outPath: out).run()
            for file in outcome.files { print(file) }
        }
    }
}
