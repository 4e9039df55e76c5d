import KDCore

/// Decodes CIFAR-10 and CIFAR-100 binary record files into a data store. A record is the
/// label byte(s) then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows top to bottom),
/// which is already the C×H×W layout of the store. CIFAR-10 has one label byte (0–9);
/// CIFAR-100 has the coarse label (0–19) then the fine label (0–99).
/// Cost: one record file in memory at a time (30 MB for a CIFAR-10 batch); each record is one
/// copy into the writer's staging chunk.
public struct CIFARDecoder {
    public let isCIFAR100: Bool

    public static let imageShape = [3, 32, 32]
    static let pixelBytes = 3 * 32 * 32

    public init(isCIFAR100: Bool) {
        self.isCIFAR100 = isCIFAR100
    }

    var labelBytes: Int { isCIFAR100 ? 2 : 1 }
    var recordBytes: Int { labelBytes + Self.pixelBytes }
    var formatName: String { isCIFAR100 ? "CIFAR-100" : "CIFAR-10" }

    /// The record files of each split, in the order their records are stored.
    var splits: [(name: String, files: [String])] {
        isCIFAR100
            ? [("train", ["train.bin"]), ("test", ["test.bin"])]
            : [("train", (1...5).map { "data_batch_\($0).bin" }), ("test", ["test_batch.bin"])]
    }

    /// Decodes every split of `files` into `store`; returns the fine and (CIFAR-100) coarse
    /// class names read from the meta files.
    public func decode(_ files: SourceFiles, into store: DataStoreWriter) throws -> (classes: [String], coarse: [String]?) {
        let classes = try names(files, isCIFAR100 ? "fine_label_names.txt" : "batches.meta.txt",
                                count: isCIFAR100 ? 100 : 10)
        let coarse = isCIFAR100 ? try names(files, "coarse_label_names.txt", count: 20) : nil
        for (split, recordFiles) in splits {
            // Check every file's size first: the split's record count fixes the dataset shape.
            var total = 0
            for name in recordFiles {
                total += try recordCount(files, name, split: split)
            }
            let writer = try store.beginSplit(split, count: total, sourceShape: Self.imageShape, coarseLabels: isCIFAR100)
            for name in recordFiles {
                let bytes = try files.read(name, expected: recordFile(split))
                try decodeRecords(bytes, from: files.describe(name), into: writer)
            }
            try store.finish(writer)
        }
        return (classes, coarse)
    }

    /// Records in record file `name`, from its size, which must be a whole number of records.
    private func recordCount(_ files: SourceFiles, _ name: String, split: String) throws -> Int {
        let size = try files.size(of: name, expected: recordFile(split))
        let (records, extra) = size.quotientAndRemainder(dividingBy: recordBytes)
        guard size > 0, extra == 0 else {
            let problem = size == 0
                ? "is empty"
                : "has \(size) bytes: \(records) whole records and \(extra) byte\(extra == 1 ? "" : "s") left over"
            throw StageError.badData(
                "\(files.describe(name)) \(problem); expected a whole number of \(recordBytes)-byte \(formatName) records "
                + "(\(labelBytes) label byte\(labelBytes == 1 ? "" : "s") + 3072 pixel bytes). The file is truncated or "
                + "over-long, or holds the other CIFAR format (CIFAR-10 records are 3073 bytes, CIFAR-100 3074).")
        }
        return records
    }

    private func recordFile(_ split: String) -> String { "a \(formatName) record file of the \(split) split" }

    private func decodeRecords(_ bytes: [UInt8], from location: String, into writer: SplitWriter) throws {
        let fineLimit = isCIFAR100 ? 100 : 10
        try bytes.withUnsafeBytes { all in
            for record in 0..<(all.count / recordBytes) {
                let offset = record * recordBytes
                let fine = all[offset + labelBytes - 1]
                let coarse = isCIFAR100 ? all[offset] : 0
                if isCIFAR100 && coarse >= 20 {
                    throw outOfRange("coarse label", coarse, limit: 20, record: record, offset: offset, location)
                }
                if fine >= fineLimit {
                    throw outOfRange(isCIFAR100 ? "fine label" : "label", fine, limit: fineLimit,
                                     record: record, offset: offset + labelBytes - 1, location)
                }
                let pixels = UnsafeRawBufferPointer(rebasing: all[(offset + labelBytes)..<(offset + recordBytes)])
                try writer.append(pixels: pixels, label: fine, coarseLabel: coarse)
            }
        }
    }

    private func outOfRange(_ what: String, _ value: UInt8, limit: Int, record: Int, offset: Int,
                            _ location: String) -> StageError {
        StageError.badData(
            "\(location) record \(record) (byte offset \(offset)): \(what) \(value) is out of range; "
            + "expected 0…\(limit - 1) (\(formatName) has \(limit) \(what == "coarse label" ? "coarse classes" : "classes"))")
    }

    /// Class names from a meta file (one per line), which must list exactly `count`.
    private func names(_ files: SourceFiles, _ name: String, count: Int) throws -> [String] {
        let names = ClassNames.lines(try files.read(name, expected: "the \(formatName) class names, one per line"))
        guard names.count == count else {
            throw StageError.badData(
                "\(files.describe(name)) lists \(names.count) class names; expected \(count), one per line")
        }
        return names
    }
}
