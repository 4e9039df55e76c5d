import ArgumentParser
import Datasets
import Distillation
import KDCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a kd file: kind, provenance, datasets and their layout, class counts.",
        discussion: """
            Works on any HDF5 file. Shows every root attribute (kd_kind, kd_version, command \
            line, source SHA-256, ...), every dataset in every group with its shape, element \
            type, chunk shape, filters (compression, the Fletcher-32 chunk checksum) and size on \
            disk against its raw size, and what the \
            file's kind adds: for a data store (kd_kind "dataset") the number of images of each \
            class in each split. The file is only read.
            Exit codes: 65 not an HDF5 file, 66 missing file.
            """)

    @Argument(help: ArgumentHelp("The HDF5 file to look into.", valueName: "file.h5"))
    var file: String

    @Flag(name: .long, help: "Print one JSON object with the same information, for scripts (sizes in bytes, lists in full).")
    var json = false

    func run() throws {
        try runStage("inspect") {
            let inspection = try FileInspection(path: file, inspectors: KindInspector.builtIn.merging(
                [FeatureStore.kind: FeatureStatistics.inspector]) { $1 })
            print(json ? try InspectionReport.json(inspection) : InspectionReport.text(inspection), terminator: "")
        }
    }
}
