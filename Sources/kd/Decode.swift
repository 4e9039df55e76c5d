import ArgumentParser
import KDCore

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(being built)")
    func run() throws {
        try runStage("decode") { throw StageError(.software, "not built yet") }
    }
}
