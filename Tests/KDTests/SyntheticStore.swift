import Foundation
import FuzzSupport
import HDF5
import Testing

/// A small learnable data store made through the real `kd decode`: `side`×`side` grey images
/// (12×12 by default, 16×16 after `--pad 2`; 28 gives the 32×32 the seed's presets take) where
/// class c is a bright square a third of the side wide at one of ten positions, plus noise.
enum SyntheticStore {
    static func make(in dir: TempDir, train: Int = 600, test: Int = 200, seed: UInt64 = 1, side: Int = 12) throws -> String {
        var rng = SplitMix64(state: seed)   // a fixed, seeded stream for the pixels
        func next() -> UInt64 { rng.next() }
        var files: [String: [UInt8]] = [:]
        for (stem, n) in [("train", train), ("t10k", test)] {
            let (area, square) = (side * side, side / 3)
            var pixels = [UInt8](repeating: 0, count: n * area), labels = [UInt8]()
            for i in 0..<n {
                let c = Int(next() % 10)
                labels.append(UInt8(c))
                let (oy, ox) = ((c / 5) * (side / 2) + 1, (c % 5) * ((side - square) / 4))
                for p in 0..<area { pixels[i * area + p] = UInt8(next() % 60) }
                for y in oy..<(oy + square) { for x in ox..<(ox + square) { pixels[i * area + y * side + x] = 200 } }
            }
            files["\(stem)-images-idx3-ubyte"] = DecodeTests.idx(pixels, [n, side, side])
            files["\(stem)-labels-idx1-ubyte"] = DecodeTests.idx(labels, [n])
        }
        try DecodeTests.write(files, to: dir.file("idx"))
        let store = dir.file("data.h5")
        let r = try KDProcess.run(["decode", dir.file("idx"), "--pad", "2", "--out", store])
        #expect(r.status == 0, "kd decode failed: \(r.stderr)")
        return store
    }

    /// Every `/params` array of a model file, by name, as raw bit patterns (for exact comparison).
    static func parameterBits(_ path: String) throws -> [String: [UInt32]] {
        let file = try H5File.open(path)
        let params = try file.root.openGroup("params")
        var out: [String: [UInt32]] = [:]
        for name in try params.memberNames() {
            out[name] = try params.openDataset(name).read(as: Float.self).map(\.bitPattern)
        }
        return out
    }
}
