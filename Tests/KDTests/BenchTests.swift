import Foundation
import NeuralNet
import Testing

/// `kd bench` through the real binary: the line Benchmarks/compare.py reads, in the PyTorch twin's format.
@Suite struct BenchTests {
    /// "small    params=    24,458 train batch=  16     123.4 img/s"
    private func expectAnchorLine(_ line: String, name: String, mode: String, batch: Int) throws {
        let params = try Model(ArchitectureCatalog.preset(name)!).parameterCount
        let prefix = name.padding(toLength: 8, withPad: " ", startingAt: 0)
            + " params=" + String(repeating: " ", count: 10 - ModelSummary.grouped(params).count)
            + ModelSummary.grouped(params) + " " + mode.padding(toLength: 5, withPad: " ", startingAt: 0)
            + " batch=" + String(format: "%4d", batch) + " "
        #expect(line.hasPrefix(prefix), "\(line)")
        let rate = line.dropFirst(prefix.count)
        #expect(rate.hasSuffix(" img/s"))
        let number = rate.dropLast(" img/s".count)
        #expect(number.count == 9 || number.trimmingCharacters(in: .whitespaces).count > 9)
        #expect(Double(number.trimmingCharacters(in: .whitespaces)).map { $0 > 0 } == true, "\(line)")
        #expect(number.trimmingCharacters(in: .whitespaces).split(separator: ".").last?.count == 1)
    }

    @Test(arguments: ["train", "infer"])
    func printsOneLineInTheAnchorsForm(mode: String) throws {
        let r = try KDProcess.run(["bench", "--arch", "small", "--mode", mode, "--batch", "16",
                                   "--seconds", "0.2", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        try expectAnchorLine(String(lines.first ?? ""), name: "small", mode: mode, batch: 16)
    }

    @Test func defaultsRunTheBriefsCommand() throws {
        let r = try KDProcess.run(["bench", "--arch", "small", "--seconds", "0.2"])
        #expect(r.status == 0, "\(r.stderr)")
        try expectAnchorLine(r.stdout.trimmingCharacters(in: .newlines), name: "small", mode: "train", batch: 128)
    }

    @Test func layersProfilesEveryLayerOfATrainingStep() throws {
        let r = try KDProcess.run(["bench", "--arch", "small", "--layers", "--steps", "1", "--batch", "8", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let summary = try Model(ArchitectureCatalog.preset("small")!)
        // header, one row per leaf layer (the summary's rows), total, the sgemm peak
        #expect(lines.count == summary.rows.count + 3, "\(r.stdout)")
        #expect(lines.first?.hasPrefix("layer") == true)
        for (line, row) in zip(lines.dropFirst(), summary.rows) {
            #expect(line.hasPrefix(row.path + " "), "\(line) should profile \(row.path)")
            let shares = line.split(separator: " ").filter { $0.hasSuffix("%") }
            #expect(shares.count == 1)
        }
        let convolution = try #require(lines.first { $0.contains("Conv2d") })
        let rates = convolution.split(separator: " ").suffix(2).compactMap { Double($0) }
        #expect(rates.count == 2 && rates.allSatisfy { $0 > 0 }, "a convolution reports its GFLOP/s: \(convolution)")
        let total = try #require(lines.dropLast().last)
        #expect(total.hasPrefix("total"))
        // The peak measured on the spot, and the step's rate as the total row gives it.
        let peak = try #require(lines.last)
        let numbers = peak.split(whereSeparator: { " :;,%".contains($0) }).compactMap { Double($0) }
        #expect(peak.hasPrefix("sgemm peak measured now: ") && numbers.count == 3 && numbers[0] > 0, "\(peak)")
        if numbers.count == 3, let all = total.split(separator: " ").dropLast().last.flatMap({ Double($0) }) {
            #expect(abs(numbers[1] - all) <= 0.05 + 1e-3 * all, "\(peak) against \(total)")
            #expect(abs(numbers[2] - 100 * numbers[1] / numbers[0]) <= 1, "\(peak)")
        }

        let infer = try KDProcess.run(["bench", "--arch", "small", "--layers", "--mode", "infer"])
        #expect(infer.status == 64)
        #expect(infer.stderr.contains("--layers profiles training steps"))
    }

    @Test func badSettingsAreUsageErrors() throws {
        for (args, message) in [(["--mode", "fit"], "--mode must be train or infer"),
                                (["--batch", "0"], "--batch must be in 2…65536 to train, got 0"),
                                (["--batch", "1", "--mode", "infer", "--threads", "0"], "--threads must be in 1…1024, got 0"),
                                (["--threads", "5000"], "--threads must be in 1…1024, got 5000"),
                                (["--seconds", "inf"], "--seconds must be in (0, 86400], got inf")] {
            let r = try KDProcess.run(["bench", "--arch", "small"] + (args.contains("--seconds") ? [] : ["--seconds", "0.1"])
                                      + args)
            #expect(r.status == 64)
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
        let unknown = try KDProcess.run(["bench", "--arch", "nope"])
        #expect(unknown.status == 64)
    }

    /// An OpenBLAS kernel family this processor cannot run (OpenBLAS would die with SIGILL at
    /// the first product) is refused with 78 before any work: no output is started.
    @Test func aKernelFamilyTheProcessorCannotRunIsRefusedBeforeAnyWork() throws {
        let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let family = ["SkylakeX", "Bulldozer"].first {
            BLASKernelFamily.problem(environment: ["OPENBLAS_CORETYPE": $0], flags: flags) != nil
        }
        guard let family else {
            print("skipped: this processor runs every OpenBLAS family kd checks (it has AVX-512 and FMA4)")
            return
        }
        let dir = try TempDir()
        let r = try KDProcess.run(["bench", "--arch", "small", "--seconds", "0.1"], environment: ["OPENBLAS_CORETYPE": family])
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr.contains("kd bench: error: OPENBLAS_CORETYPE=\(family) makes OpenBLAS use kernels that need"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let train = try KDProcess.run(["train", "--arch", "small", "--data", dir.file("missing.h5"), "--out", dir.file("run")],
                                      environment: ["OPENBLAS_CORETYPE": family])
        #expect(train.status == 78, "\(train.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("run")))
    }
}
