import Testing

@Suite struct CLITests {
    @Test func helpListsTheStages() throws {
        let r = try KDProcess.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("decode"))
        #expect(r.stdout.contains("inspect"))
    }

    @Test func unknownSubcommandIsAUsageError() throws {
        let r = try KDProcess.run(["no-such-stage"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("no-such-stage"))
    }

    /// The helper that runs kd drains standard error while reading standard output: a child
    /// writing far more than a pipe holds (64 KiB) to standard error must not deadlock it.
    @Test func aChildFillingStandardErrorDoesNotBlock() throws {
        let name = String(repeating: "x", count: 100_000)
        let r = try KDProcess.run(["summary", "--arch", name])
        #expect(r.status == 64)
        #expect(r.stderr.utf8.count > 100_000 && r.stderr.contains(name))
    }
}
