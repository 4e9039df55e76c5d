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

    /// The CIFAR ResNets and WRNs: RepDistiller's counts for 10 and 100 classes, and their taps.
    @Test(arguments: [("resnet8", "78,042", "83,892"), ("resnet14", "175,258", nil), ("resnet20", "272,474", "278,324"),
                      ("resnet26", "369,690", nil), ("resnet32", "466,906", nil), ("resnet44", "661,338", nil),
                      ("resnet56", "855,770", "861,620"), ("resnet110", "1,730,714", "1,736,564"),
                      ("resnet8x4", "1,210,410", nil), ("resnet32x4", "7,410,730", "7,433,860"),
                      ("wrn-16-1", "175,066", nil), ("wrn-16-2", "691,674", "703,284"), ("wrn-40-1", "563,930", nil),
                      ("wrn-40-2", "2,243,546", "2,255,156")] as [(String, String, String?)])
    func residualPresetsPrintTheReferenceCounts(name: String, total: String, total100: String?) throws {
        let r = try KDProcess.run(["summary", "--arch", name])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Total params: \(total)\n"))
        let group = name.hasPrefix("wrn") ? "block" : "layer"
        #expect(r.stdout.contains("  group1    \(group)1    [-1, "), "\(r.stdout)")
        #expect(r.stdout.contains("  logits    fc        [-1, 10]"), "\(r.stdout)")
        if let total100 {
            let r100 = try KDProcess.run(["summary", "--arch", name, "--classes", "100"])
            #expect(r100.stdout.contains("Total params: \(total100)\n"), "\(name)")
        }
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
