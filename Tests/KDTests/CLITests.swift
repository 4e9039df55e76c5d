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
            (["--batch-size", "1000000000"], "batch size must be at most 65536"),
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

    /// The numeric options of every other command: out of range, NaN, infinite or absurdly large
    /// → 64 naming the option and its range, nothing created, the inputs byte-identical.
    @Test func everyCommandsNumbersOutOfRangeNameTheOption() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        let model = dir.file("t/model.h5"), targets = dir.file("t.h5")
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        #expect(try KDProcess.run(["extract", "--model", model, "--data", store, "--out", targets]).status == 0)
        let inputs = try [store, model, targets].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let out = dir.file("out")
        let kd = ["distill", "--method", "kd", "--arch", "small", "--data", store, "--targets", targets, "--out", out]
        let ctkd = ["distill", "--method", "ctkd", "--arch", "small", "--scratch", "small", "--data", store,
                    "--targets", targets, "--out", out]
        let extract = ["extract", "--model", model, "--data", store, "--out", out]
        let cases: [([String], String)] = [
            (kd + ["--temperature", "0"], "--temperature must be a positive number, got 0.0"),
            (kd + ["--temperature", "nan"], "--temperature must be a positive number, got nan"),
            (kd + ["--alpha", "1.5"], "--alpha must be in [0, 1], got 1.5"),
            (kd + ["--alpha", "-inf"], "--alpha must be in [0, 1], got -inf"),
            (kd + ["--drop", "-1"], "--drop must be at least 0 and less than the number of --targets (1), got -1"),
            (ctkd + ["--beta", "nan"], "--beta must be a number ≥ 0, got nan"),
            (ctkd + ["--l2-weight", "inf"], "--l2-weight (γ) must be a number ≥ 0, got inf"),
            (kd + ["--warmup", "1e300"], "warm-up must be at least 0 and less than the 10 epochs, got 1e+300"),
            (kd + ["--keep-checkpoints", "0"], "--keep-checkpoints must be at least 1"),
            (["ensemble", "--students", model, "--head", model, "--data", store, "--out", out, "--finetune-epochs", "-1"],
             "--finetune-epochs must not be negative"),
            (["ensemble", "--students", model, "--head", model, "--data", store, "--out", out,
              "--finetune-epochs", "99999999999"], "epochs must be at most 1,000,000, got 99999999999"),
            (["eval", "--model", model, "--data", store, "--batch", "0"], "--batch must be in 1…65536, got 0"),
            (["eval", "--model", model, "--data", store, "--batch", "99999999999"], "--batch must be in 1…65536"),
            (["eval", "--model", model, "--data", store, "--threads", "-1"], "--threads must be in 1…1024, got -1"),
            (extract + ["--batch", "-1"], "--batch must be in 1…65536, got -1"),
            (extract + ["--batch", "99999999999"], "--batch must be in 1…65536, got 99999999999"),
            (extract + ["--views", "0"], "--views must be in 1 (the plain image alone)…1024, got 0"),
            (extract + ["--views", "100000"], "--views must be in 1 (the plain image alone)…1024, got 100000"),
            (extract + ["--deflate", "10"], "--deflate must be 0 (none) to 9, got 10"),
            (extract + ["--threads", "0"], "--threads must be in 1…1024, got 0"),
            (["decode", dir.file("idx"), "--out", out, "--pad", "-1"], "--pad -1 is out of range; expected 0…64 pixels"),
            (["decode", dir.file("idx"), "--out", out, "--limit-train", "0"],
             "--limit-train 0 is out of range; expected at least 1 image"),
            (["decode", dir.file("idx"), "--out", out, "--limit-test", "-1"],
             "--limit-test -1 is out of range; expected at least 1 image"),
            (["bench", "--arch", "small", "--batch", "0"], "--batch must be in 2…65536 to train, got 0"),
            (["bench", "--arch", "small", "--seconds", "nan"], "--seconds must be in (0, 86400], got nan"),
            (["bench", "--arch", "small", "--layers", "--steps", "0"], "--steps must be in 1…1000000, got 0"),
            (["bench", "--arch", "small", "--threads", "5000"], "--threads must be in 1…1024, got 5000"),
            (["summary", "--arch", "small", "--classes", "-1"], "--classes must be at least 1, got -1"),
        ]
        for (arguments, message) in cases {
            let r = try KDProcess.run(arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".partial"),
                    "\(arguments) created its output")
        }
        #expect(try [store, model, targets].map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == inputs)
    }

    /// An output that is one of the stage's inputs — by its own name or another (a symbolic
    /// link) — is refused with 64 before anything is written: the input stays byte-identical.
    @Test func anOutputThatIsAnInputIsRefused() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 60, test: 20)
        let model = dir.file("t/model.h5")
        #expect(try KDProcess.run(["train", "--arch", "small", "--data", store, "--out", dir.file("t"), "--epochs", "1",
                                   "--batch-size", "20", "--threads", "1"]).status == 0)
        try FileManager.default.createSymbolicLink(atPath: dir.file("alias.h5"), withDestinationPath: model)
        let inputs = try [store, model].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        for (arguments, input) in [
            (["export", model, "--onnx", model], model),
            (["export", model, "--onnx", dir.file("alias.h5")], model),
            (["convert", model, model], model),
            (["extract", "--model", model, "--data", store, "--out", store], store),
            (["extract", "--model", model, "--data", store, "--out", dir.file("alias.h5")], model),
        ] {
            let r = try KDProcess.run(arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains("is the input \(input)") && r.stderr.contains("never writes over its input"),
                    "\(arguments): \(r.stderr)")
        }
        #expect(try [store, model].map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == inputs)
        #expect(!FileManager.default.fileExists(atPath: model + ".partial") && !FileManager.default.fileExists(atPath: store + ".partial"))
    }
}
