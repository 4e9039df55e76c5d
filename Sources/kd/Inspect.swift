import ArgumentParser
import KDCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(being built)")
    func run() throws {
        try runStage("inspect") { throw StageError(.software, "not built yet") }
    }
}
