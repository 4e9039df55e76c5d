import Foundation
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

    /// Negative, infinite and NaN numbers given to options reach the option's own check — not the
    /// argument parser's "Missing value" — and are refused with exit 64 naming the option; no run
    /// folder content is written.
    @Test func numbersOutOfRangeNameTheOption() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        let cases: [([String], String)] = [
            (["--lr", "-0.1"], "learning rate (--lr) must be a positive number, got -0.1"),
            (["--lr", "inf"], "learning rate (--lr) must be a positive number, got inf"),
            (["--momentum", "nan"], "momentum must be in [0, 1), got nan"),
            (["--weight-decay", "-1e-4"], "weight decay must be a number ≥ 0, got -0.0001"),
            (["--epochs", "-3"], "epochs must be at least 1, got -3"),
            (["--epochs", "1000000000000"], "epochs must be at most 1,000,000"),
            (["--batch-size", "1000000000"], "batch size must be at most 65,536"),
            (["--threads", "-2"], "--threads must be in 1…1024, got -2"),
            (["--step-size", "4611686018427387904"], "step size must be in 1…1,000,000 epochs"),
            (["--limit", "1"], "limit must be in 2…2³² images, got 1"),
        ]
        for (flags, message) in cases {
            let out = dir.file("run")
            let r = try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", out] + flags)
            #expect(r.status == 64, "\(flags): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(flags): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/model.h5"))
        }
        let targets = dir.file("none.h5")
        let kd = try KDProcess.run(["distill", "--method", "kd", "--arch", "small", "--data", store, "--targets", targets,
                                    "--temperature", "-4", "--out", dir.file("kd")])
        #expect(kd.status == 64 && kd.stderr.contains("--temperature must be a positive number, got -4.0"), "\(kd.stderr)")
    }
}
