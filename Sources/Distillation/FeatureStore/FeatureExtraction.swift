import Datasets
import Foundation
import HDF5
import KDCore
import NeuralNet

/// `kd extract`: runs a frozen model over the splits of a data store and stores what students
/// learn from — dense features and logits (see `FeatureSource`), optionally augmented views of
/// the training images — in a feature file (layout in `FeatureStore`), with the stage contract:
///
/// - checks first: the model takes the store's images, the layer exists, the output can be made;
/// - resumable by blocks: work goes to `<out>.partial`, created whole up front, and a killed run
///   continues after the last finished block. Every batch is the one an unbroken run computes
///   (blocks are multiples of the batch) and the view crops are drawn from the seed up front,
///   so the finished file holds the same values bit for bit (same thread count);
/// - a partial made with other settings is refused (64) unless `restart`: it may hold hours of
///   work, and a changed flag is more often a slip than a wish to throw that away;
/// - the file appears under its final name only when complete; a finished file with the same
///   settings is left alone ("already complete").
///
/// Cost: one inference pass per image and view, plus one write per block.
public struct FeatureExtraction {
    public var modelPath: String
    public var dataPath: String
    public var outPath: String
    /// A layer path (`features.10`) to store instead of the default; nil for the default.
    public var layer: String?
    /// Store [N, C, H, W] layer outputs as [N, C·H·W].
    public var flatten = false
    /// Taps whose attention maps a(x) are stored beside the features (`/<split>/attention/<tap>`).
    public var attention: [String] = []
    /// Splits to extract; nil for all of the store's.
    public var splits: [String]?
    public var batchSize = 256
    /// Views per training image, the first the plain image; 1 for no views.
    public var views = 1
    /// The most views per image: each is one more inference pass over the training split.
    public static let maxViews = 1024
    public var seed: UInt64 = 0
    /// Deflate level of the datasets (0: no compression).
    public var deflate = FeatureExtraction.defaultDeflate
    public var restart = false

    /// Level 1: on teacher features it saves a fifth of the space, and levels 4 and 6 only
    /// 1–2 % more for 1.5–1.6 times the compression time (README, "Feature store layout").
    public static let defaultDeflate = 1

    public init(modelPath: String, dataPath: String, outPath: String) {
        self.modelPath = modelPath
        self.dataPath = dataPath
        self.outPath = outPath
    }

    /// What a run did, for the command's summary.
    public struct Outcome {
        public var path: String
        public var alreadyComplete = false
        /// Blocks found done in a partial file, nil for a fresh start.
        public var resumedBlocks: Int?
        /// Images run through the model (each view counts once per image), and the seconds it took.
        public var images = 0
        public var seconds = 0.0
        /// Seconds in HDF5 writes (compression included) and the raw bytes written.
        public var writeSeconds = 0.0
        public var bytesWritten = 0
    }

    public func run() throws -> Outcome {
        guard (1...Model.maxBatch).contains(batchSize) else {
            throw StageError.usage("--batch must be in 1…\(Model.maxBatch), got \(batchSize)")
        }
        guard (1...Self.maxViews).contains(views) else {
            throw StageError.usage("--views must be in 1 (the plain image alone)…\(Self.maxViews), got \(views)")
        }
        guard (0...9).contains(deflate) else { throw StageError.usage("--deflate must be 0 (none) to 9, got \(deflate)") }

        let trained = try TrainedModel.load(path: modelPath)
        let store = try DataStore(path: dataPath)
        try trained.checkInput(store.imageShape, of: dataPath)
        let modelFile = try H5File.open(modelPath)
        let rootSlice = try Self.rootSlice(of: modelFile)
        // A classifier — its logits are stored whatever else is asked — is a model with a head
        // that scores the store's classes and is not a student standing for a feature slice.
        let isClassifier = trained.model.head != nil && rootSlice == nil && store.classes.count == trained.model.outputWidth
        guard Set(attention).count == attention.count else {
            throw StageError.usage("--attention names a tap twice: \(attention.joined(separator: ","))")
        }
        let source = try FeatureSource(model: trained.model, isClassifier: isClassifier, layer: layer, flatten: flatten,
                                       attention: attention)
        let chosen = try chosenSplits(of: store)
        let output = AtomicOutput(outPath)
        try output.claim(inputs: [modelPath, dataPath])

        let modelSHA = try FileDigest.sha256(path: modelPath)
        let dataSHA = try FileDigest.sha256(path: dataPath)
        if let trainedOn = try modelFile.stringAttribute("data_sha256"), trainedOn != dataSHA {
            Console.warn("\(modelPath) was trained on another data store than \(dataPath) (data_sha256 differs)")
        }
        let settings = ExtractionSettings(modelSHA256: modelSHA, dataSHA256: dataSHA, layer: layer, flatten: flatten,
                                          splits: chosen, batch: batchSize, threads: ComputeThreads.count,
                                          views: views, seed: views > 1 ? seed : nil, deflate: deflate,
                                          attention: attention.isEmpty ? nil : attention)
        if try isComplete(output.finalPath, settings) {
            return Outcome(path: outPath, alreadyComplete: true)
        }

        let layouts = try chosen.map { name in
            FeatureStoreWriter.SplitLayout(name: name, count: try store.split(name).count, featureShape: source.sampleShape,
                                           logitsWidth: source.logitsWidth,
                                           attention: source.attention.map { .init(tap: $0.tap, width: $0.width) },
                                           views: name == "train" && views > 1 ? views : 0, batch: batchSize)
        }
        var outcome = Outcome(path: outPath)
        let writer: FeatureStoreWriter
        if let resumed = try resumable(output, settings: settings, layouts: layouts) {
            writer = resumed
            outcome.resumedBlocks = try layouts.reduce(0) { $0 + (try writer.blocksDone($1.name)) }
        } else {
            let labels = try Dictionary(uniqueKeysWithValues: chosen.map { ($0, try store.split($0).readLabels()) })
            let train = layouts.first { $0.views > 0 }
            writer = try FeatureStoreWriter.create(
                path: output.partialPath, layouts: layouts, deflate: deflate, labels: labels,
                viewParams: train.map { Self.viewParams(count: $0.count, views: views, seed: seed).flatMap(Self.encode) }
            ) { file in
                try describe(file, settings: settings, source: source, trained: trained, store: store,
                             rootSlice: source.storesModelOutput ? rootSlice : nil)
            }
        }

        let started = Date()
        StopRequest.install()
        for layout in layouts {
            outcome.images += try extract(layout, from: store, with: source, normalization: trained.normalization, into: writer)
            if let signo = StopRequest.pending, layout.name != layouts.last?.name {
                try stop(signo, writer, output, at: "all of /\(layout.name)")
            }
        }
        outcome.seconds = Date().timeIntervalSince(started)
        outcome.writeSeconds = writer.writeSeconds
        outcome.bytesWritten = writer.bytesWritten
        try writer.close()   // 74 when the last writes did not reach the disk: nothing is committed
        try output.commit()
        return outcome
    }

    // MARK: - Checks and the partial file

    private func chosenSplits(of store: DataStore) throws -> [String] {
        // By default every split, the training images first.
        let chosen = splits ?? FeatureStore.ordered(store.splitNames)
        guard !chosen.isEmpty, Set(chosen).count == chosen.count else {
            throw StageError.usage("--splits must name each split once, got \(chosen.joined(separator: ","))")
        }
        for name in chosen where !store.splitNames.contains(name) {
            throw StageError.usage("--splits: \(dataPath) has no split \(name); it has "
                                   + store.splitNames.joined(separator: ", "))
        }
        if views > 1, !chosen.contains("train") {
            throw StageError.usage("--views \(views) augments the training images, but the train split is not extracted "
                                   + "(--splits \(chosen.joined(separator: ",")))")
        }
        return chosen
    }

    /// Whether the final file exists with these settings and reads back whole. A file there
    /// that is not a feature file is refused (73) rather than replaced: `--out` most likely
    /// names the wrong file. One that was damaged after it was made is refused (65), or rebuilt
    /// with `--restart`.
    private func isComplete(_ path: String, _ settings: ExtractionSettings) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        let file = try? H5File.open(path)
        let kind = try? file?.stringAttribute("kd_kind")
        guard let file else {
            // An HDF5 file cut short still starts with HDF5's signature: a damaged result,
            // rebuilt on request. Anything else is not kd's to replace.
            let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
            let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 8) }.map([UInt8].init)
            guard head == signature else {
                throw StageError.cantCreate("\(path) exists and is not an HDF5 file; refusing to replace it")
            }
            guard restart else {
                throw StageError.badData("\(path) is an HDF5 file that does not open (damaged since it was made?); "
                                         + "run again with --restart to extract it anew")
            }
            Console.warn("\(path) does not open (damaged since it was made?); extracting it anew")
            return false
        }
        guard kind == FeatureStore.kind else {
            throw StageError.cantCreate("\(path) exists and is not a kd feature file (kd_kind "
                                        + "\(kind.map { "\"\($0)\"" } ?? "missing")); refusing to replace it")
        }
        let stored = try? file.stringAttribute(ExtractionSettings.attribute)
        guard stored.flatMap(ExtractionSettings.parse) == settings else { return false }
        do {
            try FeatureStore(file: file).checkWhole()
        } catch let error as StageError {
            guard restart else {
                throw StageError.badData("\(path) was made with these settings but was damaged since: \(error.message). "
                                         + "Run again with --restart to extract it anew")
            }
            Console.warn("\(path) was damaged since it was made (\(error.message)); extracting it anew")
            return false
        }
        return true
    }

    /// The partial file to continue, nil to start afresh (none, `restart`, or one that does not
    /// open). Throws 64 for a partial made with other settings.
    private func resumable(_ output: AtomicOutput, settings: ExtractionSettings,
                           layouts: [FeatureStoreWriter.SplitLayout]) throws -> FeatureStoreWriter? {
        let path = output.partialPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        if restart {
            output.discard()
            return nil
        }
        let stored: ExtractionSettings?
        do {
            stored = try H5File.open(path).stringAttribute(ExtractionSettings.attribute).flatMap(ExtractionSettings.parse)
        } catch let error as StageError {
            Console.warn("cannot resume from \(path) (\(error.message)); starting over")
            output.discard()
            return nil
        }
        guard let stored else {
            Console.warn("\(path) records no extraction settings; starting over")
            output.discard()
            return nil
        }
        let changes = settings.differences(from: stored)
        guard changes.isEmpty else {
            throw StageError.usage("\(path) holds an unfinished extraction with other settings (\(changes.joined(separator: "; "))); "
                                   + "run again with --restart to discard it and start over, or use the same settings to continue it")
        }
        do {
            // A run that failed writing (a full disk) may have left blocks it counted as done
            // damaged: they must read back before anything is built on them.
            try FeatureStore(path: path).checkWhole(finishedBlocksOnly: true)
            return try FeatureStoreWriter.resume(path: path, layouts: layouts)
        } catch let error as StageError {
            Console.warn("cannot resume from \(path) (\(error.message)); starting over")
            output.discard()
            return nil
        }
    }

    /// The root attributes: provenance and what the features are.
    private func describe(_ file: H5File, settings: ExtractionSettings, source: FeatureSource, trained: TrainedModel,
                          store: DataStore, rootSlice: FeatureSlice?) throws {
        try file.setAttribute("kd_kind", FeatureStore.kind)
        try file.setAttribute("kd_version", Provenance.kdVersion)
        try file.setAttribute("command_line", Provenance.commandLine)
        try file.setAttribute("created", Provenance.timestamp)
        try file.setAttribute("model", modelPath)
        try file.setAttribute("model_sha256", settings.modelSHA256)
        try file.setAttribute("model_arch", trained.model.architecture.name)
        try file.setAttribute("data", dataPath)
        try file.setAttribute("data_sha256", settings.dataSHA256)
        try file.setAttribute("layer", source.layer)
        try file.setAttribute("layer_description", source.description)
        try file.setAttribute("feature_shape", source.sampleShape)
        try file.setAttribute("feature_width", source.sampleShape.reduce(1, *))
        try file.setAttribute("classes", store.classes)
        try file.setAttribute("views", views)
        try file.setAttribute("seed", Int(bitPattern: UInt(seed)))
        try file.setAttribute("batch", batchSize)
        try file.setAttribute("threads", settings.threads)
        try file.setAttribute("deflate", deflate)
        if !attention.isEmpty { try file.setAttribute("attention", attention) }
        try file.setAttribute(ExtractionSettings.attribute, settings.jsonText)
        try rootSlice?.write(to: file)
    }

    /// The part of its root teacher's features a distilled student stands for, from its model
    /// file; nil for a model that is not such a student.
    private static func rootSlice(of file: H5File) throws -> FeatureSlice? {
        guard let root = try file.stringAttribute(FeatureSlice.rootAttribute),
              let range = try file.intArrayAttribute(FeatureSlice.rangeAttribute), range.count == 2 else { return nil }
        guard range[0] >= 0, range[0] <= range[1] else {
            throw StageError.badData("\(file.path): its \(FeatureSlice.rangeAttribute) attribute \(range) is not a range "
                                     + "[start, end] with 0 ≤ start ≤ end")
        }
        return FeatureSlice(rootSHA256: root, range: range[0] ..< range[1])
    }

    // MARK: - Views

    /// The crop and flip of every view of `count` images, image by image: view 0 the plain
    /// image, the others drawn in order from `RandomState(seed:)` — the same draws every run.
    public static func viewParams(count: Int, views: Int, seed: UInt64) -> [CropFlip] {
        var rng = RandomState(seed: seed)
        var params: [CropFlip] = []
        params.reserveCapacity(count * views)
        for _ in 0..<count {
            params.append(.identity)
            for _ in 1..<max(views, 1) { params.append(CropFlip.random(pad: Recipe.cropPadding, &rng)) }
        }
        return params
    }

    private static func encode(_ p: CropFlip) -> [Int32] {
        [Int32(p.dx), Int32(p.dy), p.flip ? 1 : 0]
    }

    // MARK: - The work

    /// Extracts the blocks of one split that are not done yet; returns the images run.
    private func extract(_ layout: FeatureStoreWriter.SplitLayout, from store: DataStore, with source: FeatureSource,
                         normalization: InputNormalization, into writer: FeatureStoreWriter) throws -> Int {
        let done = try writer.blocksDone(layout.name)
        guard done < layout.blockCount else { return 0 }
        if done > 0 {
            Console.error("resuming /\(layout.name) after block \(done) of \(layout.blockCount)\n")
        }
        let images = try ImageSet.load(store, split: layout.name)
        let params = layout.views > 0 ? Self.viewParams(count: layout.count, views: layout.views, seed: seed) : []
        let (width, logits, views) = (layout.featureWidth, layout.logitsWidth ?? 0, layout.views)
        let progress = ProgressLine()
        let started = Date()
        var batch = Tensor(shape: [0])
        var imagesRun = 0
        for index in done..<layout.blockCount {
            let rows = index * layout.blockRows ..< min((index + 1) * layout.blockRows, layout.count)
            var block = FeatureStoreWriter.Block(
                rows: rows, features: [Float](repeating: 0, count: rows.count * width),
                logits: layout.logitsWidth.map { [Float](repeating: 0, count: rows.count * $0) },
                viewFeatures: views > 0 ? [Float](repeating: 0, count: rows.count * views * width) : nil,
                viewLogits: views > 0 && logits > 0 ? [Float](repeating: 0, count: rows.count * views * logits) : nil,
                attention: layout.attention.map { [Float](repeating: 0, count: rows.count * $0.width) },
                viewAttention: views > 0 ? layout.attention.map { [Float](repeating: 0, count: rows.count * views * $0.width) } : [])
            for first in stride(from: rows.lowerBound, to: rows.upperBound, by: batchSize) {
                let batchRows = Array(first ..< min(first + batchSize, rows.upperBound))
                let offset = first - rows.lowerBound
                for view in 0..<max(views, 1) {
                    let crops = view == 0 ? nil : batchRows.map { params[$0 * views + view] }
                    images.fill(&batch, indices: batchRows[...], normalization: normalization, augmentations: crops)
                    let out = source(batch)
                    if view == 0 {
                        Self.place(out.features.data, into: &block.features, at: offset, width: width)
                        if let l = out.logits { Self.place(l.data, into: &block.logits!, at: offset, width: logits) }
                        for (k, a) in out.attention.enumerated() {
                            Self.place(a.data, into: &block.attention[k], at: offset, width: layout.attention[k].width)
                        }
                    }
                    if views > 0 {
                        Self.place(out.features.data, into: &block.viewFeatures!, at: offset, width: width, view: view, of: views)
                        if let l = out.logits { Self.place(l.data, into: &block.viewLogits!, at: offset, width: logits, view: view, of: views) }
                        for (k, a) in out.attention.enumerated() {
                            Self.place(a.data, into: &block.viewAttention[k], at: offset, width: layout.attention[k].width,
                                       view: view, of: views)
                        }
                    }
                }
                imagesRun += batchRows.count * max(views, 1)
            }
            try writer.write(block, index: index, of: layout)
            let elapsed = Date().timeIntervalSince(started)
            let line = String(format: "extract /%@: block %d/%d, %d/%d images, %.0f img/s, ETA %@",
                              layout.name, index + 1, layout.blockCount, rows.upperBound, layout.count,
                              Double(imagesRun) / elapsed,
                              ProgressLine.clock(elapsed / Double(index + 1 - done) * Double(layout.blockCount - index - 1)))
            if Console.isTerminal { progress.update(line) } else { Console.error(line + "\n") }
            FaultPoint.pause("block")
            if let signo = StopRequest.pending, index + 1 < layout.blockCount {
                progress.clear()
                try stop(signo, writer, AtomicOutput(outPath), at: "/\(layout.name) up to block \(index + 1) of \(layout.blockCount)")
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        progress.finish(String(format: "extracted /%@: %d images%@ in %.1f s, %.0f img/s", layout.name, layout.count,
                               views > 0 ? " × \(views) views" : "", elapsed, Double(imagesRun) / elapsed))
        return imagesRun
    }

    /// Ends a run a signal asked to stop at a block boundary: the partial file, closed whole,
    /// keeps every finished block for the next run.
    private func stop(_ signo: Int32, _ writer: FeatureStoreWriter, _ output: AtomicOutput, at reached: String) throws -> Never {
        try writer.close()
        throw StopRequest.stopped(signo, saved: "\(output.partialPath) holds \(reached); run the same command again "
                                  + "to continue from there")
    }

    /// Copies batch rows (each `width` values) into a block at row `offset`; with `view`, into
    /// that view's slot of image-major [rows, views, width] storage.
    private static func place(_ values: [Float], into block: inout [Float], at offset: Int, width: Int,
                              view: Int = 0, of views: Int = 1) {
        let rows = values.count / max(width, 1)
        values.withUnsafeBufferPointer { src in
            block.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    (dst.baseAddress! + ((offset + r) * views + view) * width)
                        .update(from: src.baseAddress! + r * width, count: width)
                }
            }
        }
    }
}
