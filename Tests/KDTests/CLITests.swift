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
}
