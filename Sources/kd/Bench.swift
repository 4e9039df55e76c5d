import ArgumentParser
import KDCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(being built)")
    func run() throws {
        try runStage("bench") { throw StageError(.software, "not built yet") }
    }
}
