import ArgumentParser
import KDCore

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(being built)")
    func run() throws {
        try runStage("summary") { throw StageError(.software, "not built yet") }
    }
}
