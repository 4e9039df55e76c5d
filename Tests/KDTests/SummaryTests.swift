import Foundation
import Testing

/// `kd summary` through the real binary: the seed paper's parameter counts, and its errors.
@Suite struct SummaryTests {
    @Test(arguments: [("teacher", "14,728,266"), ("s1", "2,618,016"), ("s2", "1,239,968"),
                      ("s4", "600,096"), ("s8", "242,112")])
    func presetsPrintTheSeedCounts(name: String, total: String) throws {
        let r = try KDProcess.run(["summary", "--arch", name])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Total params: \(total)\n"))
        #expect(r.stdout.contains("Trainable params: \(total)\n"))
        #expect(r.stdout.contains("Forward/backward pass size (MB): "))
        #expect(r.stdout.contains("features.0    Conv2d(3→32, 3×3, s1, p1)") || name == "teacher")
    }

    @Test func inputChangesTheFirstLayer() throws {
        let r = try KDProcess.run(["summary", "--arch", "teacher", "--input", "1x32x32"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Conv2d(1→64, 3×3, s1, p1)"))
        #expect(r.stdout.contains("Total params: 14,727,114\n"))   // 64·2·9 fewer weights
    }

    @Test func unknownNameIsAUsageErrorListingThePresets() throws {
        let r = try KDProcess.run(["summary", "--arch", "resnet"])
        #expect(r.status == 64)
        #expect(r.stderr.contains(#"unknown architecture "resnet""#))
        #expect(r.stderr.contains("teacher, s1, s2, s4, s8, small"))
    }

    @Test func missingFileIsMissingInput() throws {
        let dir = try TempDir()
        let r = try KDProcess.run(["summary", "--arch", dir.file("none.json")])
        #expect(r.status == 66)
        #expect(r.stderr.contains(dir.file("none.json")))
    }

    @Test func badFileNamesFileAndField() throws {
        let dir = try TempDir()
        let path = dir.file("net.json")
        try #"{"name": "net", "vgg": "64 M", "head": {"out": -3}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try KDProcess.run(["summary", "--arch", path])
        #expect(r.status == 65)
        #expect(r.stderr.contains("\(path): field head.out: must be positive, got -3"))
    }

    @Test func aFileArchitectureIsSummarized() throws {
        let dir = try TempDir()
        let path = dir.file("mini.json")
        try #"{"name": "mini", "input": [1, 8, 8], "vgg": [4, "M"], "head": {"out": 3}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let r = try KDProcess.run(["summary", "--arch", path])
        #expect(r.status == 0)
        // conv 1→4: 4·9 + 4; BatchNorm: 8; Linear 4→3: 15
        #expect(r.stdout.contains("Total params: 63\n"))
    }
}
