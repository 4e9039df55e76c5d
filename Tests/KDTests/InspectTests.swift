import Foundation
import HDF5
import Testing

/// `kd inspect` run as a user would, on small files made with the HDF5 module.
@Suite struct InspectTests {
    static let classes = ["cat", "dog", "bird"]
    /// Uneven labels, so each class has its own count.
    static let trainLabels: [UInt8] = (0..<20).map { UInt8($0 * $0 % 3) }
    static let testLabels: [UInt8] = [2, 2, 0, 1, 2, 0, 2]

    static func counts(_ labels: [UInt8]) -> [Int] {
        classes.indices.map { c in labels.filter { Int($0) == c }.count }
    }

    /// A data store laid out as `kd decode` writes one.
    static func makeStore(_ path: String, testLabels: [UInt8] = testLabels) throws {
        let file = try H5File.create(path)
        try file.setAttribute("kd_kind", "dataset")
        try file.setAttribute("kd_version", "0.1.0")
        try file.setAttribute("command_line", "kd decode raw --out store.h5")
        try file.setAttribute("classes", classes)
        try file.setAttribute("image_shape", [1, 4, 4])
        for (split, labels) in [("train", trainLabels), ("test", testLabels)] {
            let n = labels.count
            try file.root.writeDataset("\(split)/images", (0..<(n * 16)).map { UInt8($0 % 251) },
                                       shape: [n, 1, 4, 4], chunk: [8, 1, 4, 4], deflate: 4)
            try file.root.writeDataset("\(split)/labels", labels, shape: [n], chunk: [n], deflate: 9)
        }
    }

    @Test func textShowsAttributesDatasetsAndClassCounts() throws {
        let dir = try TempDir()
        let path = dir.file("store.h5")
        try Self.makeStore(path)
        let r = try KDProcess.run(["inspect", path])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("\(path): kd dataset, "))
        #expect(lines.contains { $0.hasPrefix("  command_line") && $0.hasSuffix("kd decode raw --out store.h5") })
        #expect(lines.contains { $0.hasPrefix("  classes") && $0.hasSuffix("cat, dog, bird") })

        // One row per dataset: path, shape, dtype, chunk, compression, on disk, raw.
        func row(_ datasetPath: String) -> [String] {
            lines.first { $0.hasPrefix("  \(datasetPath) ") }?.split(separator: " ").map(String.init) ?? []
        }
        #expect(Array(row("/train/images").prefix(5)) == ["/train/images", "20×1×4×4", "uint8", "8×1×4×4", "deflate(4)+fletcher32"])
        #expect(Array(row("/test/images").prefix(5)) == ["/test/images", "7×1×4×4", "uint8", "7×1×4×4", "deflate(4)+fletcher32"])
        #expect(Array(row("/train/labels").prefix(5)) == ["/train/labels", "20", "uint8", "20", "deflate(9)+fletcher32"])
        #expect(row("/train/images").suffix(2) == ["320", "B"])  // raw: 20 images of 16 bytes

        // The class table: a heading with the splits, train first, then one row per class.
        let table = lines.drop { !$0.hasPrefix("classes") }.map { $0.split(separator: " ").map(String.init) }
        #expect(table.first == ["classes", "train", "test"])
        let train = Self.counts(Self.trainLabels), test = Self.counts(Self.testLabels)
        for (c, name) in Self.classes.enumerated() {
            #expect(table.contains([String(c), name, String(train[c]), String(test[c])]))
        }
        #expect(table.contains(["total", String(Self.trainLabels.count), String(Self.testLabels.count)]))
    }

    @Test func jsonCarriesTheSameInformation() throws {
        let dir = try TempDir()
        let path = dir.file("store.h5")
        try Self.makeStore(path)
        let r = try KDProcess.run(["inspect", path, "--json"])
        #expect(r.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["path"] as? String == path)
        #expect(object["kind"] as? String == "dataset")
        #expect((object["file_bytes"] as? Int ?? 0) > 0)
        let attributes = try #require(object["attributes"] as? [String: Any])
        #expect(attributes["classes"] as? [String] == Self.classes)
        #expect(attributes["image_shape"] as? [Int] == [1, 4, 4])
        #expect(attributes["kd_version"] as? String == "0.1.0")

        let datasets = try #require(object["datasets"] as? [[String: Any]])
        #expect(datasets.map { $0["path"] as? String } == ["/test/images", "/test/labels", "/train/images", "/train/labels"])
        let images = datasets[2]
        #expect(images["shape"] as? [Int] == [20, 1, 4, 4])
        #expect(images["dtype"] as? String == "uint8")
        #expect(images["chunk"] as? [Int] == [8, 1, 4, 4])
        #expect(images["compression"] as? String == "deflate(4)+fletcher32")
        #expect(images["deflate"] as? Int == 4)
        #expect(images["shuffle"] as? Bool == false)
        #expect(images["fletcher32"] as? Bool == true)
        #expect(images["raw_bytes"] as? Int == 20 * 16)
        #expect((images["storage_bytes"] as? Int ?? 0) > 0)

        let counts = try #require(object["class_counts"] as? [String: Any])
        #expect(counts["classes"] as? [String] == Self.classes)
        let splits = try #require(counts["splits"] as? [String: [String: Any]])
        #expect(splits["train"]?["counts"] as? [Int] == Self.counts(Self.trainLabels))
        #expect(splits["test"]?["counts"] as? [Int] == Self.counts(Self.testLabels))
        #expect(splits["train"]?["total"] as? Int == Self.trainLabels.count)
        #expect(splits["test"]?["out_of_range"] as? Int == 0)
    }

    @Test func labelsOutsideTheClassListAreCountedApart() throws {
        let dir = try TempDir()
        let path = dir.file("broken.h5")
        let labels: [UInt8] = [0, 7, 1, 200, 2]
        try Self.makeStore(path, testLabels: labels)
        let text = try KDProcess.run(["inspect", path])
        #expect(text.status == 0)
        let rows = text.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains(["out", "of", "range", "0", "2"]))
        #expect(rows.contains(["total", String(Self.trainLabels.count), String(labels.count)]))
        let json = try KDProcess.run(["inspect", path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let splits = (object?["class_counts"] as? [String: Any])?["splits"] as? [String: [String: Any]]
        #expect(splits?["test"]?["out_of_range"] as? Int == 2)
        #expect(splits?["test"]?["counts"] as? [Int] == [1, 1, 1])
    }

    @Test func anyHDF5FileIsDescribedWithoutKind() throws {
        let dir = try TempDir()
        let path = dir.file("other.h5")
        do {
            let file = try H5File.create(path)
            try file.root.createGroup("a/b").writeDataset("weights", [Float](repeating: 0.5, count: 6), shape: [2, 3])
            try file.root.writeDataset("empty", [Float](), shape: [0, 3])   // nothing to chunk: contiguous
            try file.root.writeDataset("f", [Double](repeating: 1, count: 64), shape: [8, 8], chunk: [4, 8], deflate: 2, shuffle: true)
        }
        let r = try KDProcess.run(["inspect", path])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("\(path): HDF5 file without kd_kind, "))
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains { Array($0.prefix(5)) == ["/a/b/weights", "2×3", "float32", "2×3", "fletcher32"] })
        #expect(rows.contains { Array($0.prefix(5)) == ["/empty", "0×3", "float32", "contiguous", "none"] })
        #expect(rows.contains { Array($0.prefix(5)) == ["/f", "8×8", "float64", "4×8", "shuffle+deflate(2)+fletcher32"] })
        #expect(!r.stdout.contains("classes"))
        let json = try KDProcess.run(["inspect", "--json", path])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["kind"] is NSNull)
        #expect(object?["class_counts"] == nil)
        let datasets = (object?["datasets"] as? [[String: Any]]) ?? []
        #expect(datasets.first { $0["path"] as? String == "/empty" }?["chunk"] is NSNull)
        #expect(datasets.first { $0["path"] as? String == "/a/b/weights" }?["chunk"] as? [Int] == [2, 3])
    }

    @Test func missingFileExits66() throws {
        let dir = try TempDir()
        let path = dir.file("absent.h5")
        let r = try KDProcess.run(["inspect", path])
        #expect(r.status == 66)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "kd inspect: error: \(path): no such file\n")
    }

    @Test func nonHDF5FileExits65() throws {
        let dir = try TempDir()
        let path = dir.file("notes.h5")
        try "plain text\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try KDProcess.run(["inspect", "--json", path])
        #expect(r.status == 65)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "kd inspect: error: \(path) is not an HDF5 file\n")
    }

    @Test func missingArgumentIsAUsageError() throws {
        let r = try KDProcess.run(["inspect"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("file.h5"))
    }
}
