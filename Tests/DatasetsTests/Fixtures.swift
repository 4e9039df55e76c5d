import CZlib
import Foundation
import FuzzSupport

/// One split of a generated dataset: what was written, to compare against what was decoded.
struct GeneratedSplit {
    var images: [UInt8]  // N × C×H×W, unpadded
    var labels: [UInt8]
    var coarseLabels: [UInt8] = []
    var count: Int { labels.count }
}

/// Raw datasets written to disk the way the real distributions lay them out.
enum Fixtures {
    static let cifar10Names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// `count` random CIFAR images and labels (CIFAR-100: coarse and fine).
    static func cifarSplit(_ count: Int, cifar100: Bool, rng: inout SplitMix64) -> GeneratedSplit {
        var split = GeneratedSplit(images: rng.bytes(count * 3072), labels: [])
        for _ in 0..<count {
            split.labels.append(rng.below(cifar100 ? 100 : 10))
            if cifar100 { split.coarseLabels.append(rng.below(20)) }
        }
        return split
    }

    /// The record file bytes of `split`: [coarse] label, then 3072 pixels, per image.
    static func cifarRecords(_ split: GeneratedSplit, range: Range<Int>? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        for i in range ?? 0..<split.count {
            if !split.coarseLabels.isEmpty { bytes.append(split.coarseLabels[i]) }
            bytes.append(split.labels[i])
            bytes += split.images[(i * 3072)..<((i + 1) * 3072)]
        }
        return bytes
    }

    /// Files of a CIFAR-10 `cifar-10-batches-bin` folder: the train split over five batches.
    static func cifar10Files(train: GeneratedSplit, test: GeneratedSplit) -> [(String, [UInt8])] {
        let per = train.count / 5
        precondition(per * 5 == train.count)
        var files = (0..<5).map { b in ("data_batch_\(b + 1).bin", cifarRecords(train, range: (b * per)..<((b + 1) * per))) }
        files.append(("test_batch.bin", cifarRecords(test)))
        files.append(("batches.meta.txt", Array((cifar10Names.joined(separator: "\n") + "\n\n").utf8)))
        return files
    }

    /// Files of a CIFAR-100 `cifar-100-binary` folder.
    static func cifar100Files(train: GeneratedSplit, test: GeneratedSplit) -> [(String, [UInt8])] {
        [("train.bin", cifarRecords(train)), ("test.bin", cifarRecords(test)),
         ("fine_label_names.txt", Array((0..<100).map { "fine\($0)" }.joined(separator: "\n").utf8)),
         ("coarse_label_names.txt", Array((0..<20).map { "coarse\($0)" }.joined(separator: "\n").utf8))]
    }

    /// An IDX file of unsigned bytes with `dimensions`.
    static func idx(_ values: [UInt8], dimensions: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { bytes += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
        return bytes + values
    }

    /// The four MNIST-style files of a train and a test split of `rows`×`columns` images.
    static func idxFiles(train: GeneratedSplit, test: GeneratedSplit, rows: Int, columns: Int,
                         gzipped: Bool) -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = []
        for (stem, split) in [("train", train), ("t10k", test)] {
            files.append(("\(stem)-images-idx3-ubyte", idx(split.images, dimensions: [split.count, rows, columns])))
            files.append(("\(stem)-labels-idx1-ubyte", idx(split.labels, dimensions: [split.count])))
        }
        return gzipped ? files.map { ($0.0 + ".gz", gzip($0.1)) } : files
    }

    static func write(_ files: [(String, [UInt8])], into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, bytes) in files {
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
    }

    /// A gzip member of `bytes`, compressed by zlib.
    static func gzip(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        precondition(kd_deflateInit2(&stream, level, 15 + 16) == Z_OK)
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        let status = input.withUnsafeMutableBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        precondition(status == Z_STREAM_END)
        return Array(output.prefix(Int(stream.total_out)))
    }

    /// A ustar archive of `files` (path, content), with a folder entry first, as `tar` makes.
    static func tar(_ files: [(String, [UInt8])], folder: String) -> [UInt8] {
        var archive = tarHeader(folder + "/", size: 0, type: "5")
        for (name, content) in files {
            archive += tarHeader(folder + "/" + name, size: content.count, type: "0")
            archive += content + [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
        }
        return archive + [UInt8](repeating: 0, count: 1024)
    }

    /// A ustar header; paths longer than 100 bytes are split into prefix and name.
    static func tarHeader(_ path: String, size: Int, type: Character) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, b) in text.utf8.enumerated() { header[offset + i] = b }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        if path.utf8.count > 100, let slash = path.lastIndex(of: "/") {
            put(String(path[..<slash]), at: 345)
            put(String(path[path.index(after: slash)...]), at: 0)
        } else {
            put(path, at: 0)
        }
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(1_700_000_000, width: 12), at: 136)
        put(String(type), at: 156)
        put("ustar", at: 257)
        put("00", at: 263)
        put("        ", at: 148)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148)
        header[155] = UInt8(ascii: " ")
        return header
    }
}

/// A fresh temporary folder for one test, removed when the value goes away.
final class TempFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kd-datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
