import Foundation
import KDCore

/// Where `--arch` finds an architecture: the built-in presets by name, or a JSON file.
///
/// The presets are the seed paper's networks (teacher VGG-16-BN; students s1, s2, s4, s8),
/// `small`, a three-block classifier that trains in seconds, for quick runs and tests, and the
/// CIFAR ResNets and WRNs of the KD literature (`ResidualPresets`), also under generic names
/// `resnet-D[xW]` and `wrn-D-W`. Their PyTorch twins are in Benchmarks/torch_twin.py; copies of
/// the seed presets live in Pipelines/archs/ for users to copy and edit.
/// Cost: a file read for a file.
public enum ArchitectureCatalog {
    /// Preset names in the order `kd` lists them.
    public static let presetNames = ["teacher", "s1", "s2", "s4", "s8", "small",
                                     "resnet8", "resnet14", "resnet20", "resnet26", "resnet32", "resnet44", "resnet56",
                                     "resnet110", "resnet8x4", "resnet32x4", "wrn-16-1", "wrn-16-2", "wrn-40-1", "wrn-40-2"]

    public static func preset(_ name: String) -> Architecture? {
        switch name {
        case "teacher": .vgg("teacher", "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M", head: 10)
        case "s1": .vgg("s1", "32 32 M 64 64 M 128 128 M 256 256 M 512 M", head: 512)
        case "s2": .vgg("s2", "32 32 M 64 64 M 128 128 M 256 256 M M", head: 256)
        case "s4": .vgg("s4", "32 M 32 M 64 64 M 128 128 M 128 128 M", head: 128)
        case "s8": .vgg("s8", "32 32 M 32 32 M 32 64 M 64 64 M 64 64 64 M", head: nil)
        case "small": .vgg("small", "16 M 32 M 64 M", head: 10)
        default: ResidualPresets.named(name)
        }
    }

    /// A preset when `nameOrPath` is one's name; otherwise a JSON file when it names one
    /// (contains "/", ends in ".json" or exists). Throws `StageError` 64 for an unknown name
    /// (listing the presets), 66 for a missing file, 65 for a file that is not a valid
    /// architecture (naming the file and the field).
    public static func resolve(_ nameOrPath: String) throws -> Architecture {
        if let preset = preset(nameOrPath) { return preset }
        let looksLikeFile = nameOrPath.contains("/") || nameOrPath.hasSuffix(".json")
        guard looksLikeFile || FileManager.default.fileExists(atPath: nameOrPath) else {
            throw StageError.usage("unknown architecture \"\(nameOrPath)\": known names are "
                                   + presetNames.joined(separator: ", ")
                                   + "; resnet-D[xW] (D = 6n + 2) and wrn-D-W (D = 6n + 4) for other depths and widths; "
                                   + "or give a JSON file (see Pipelines/archs/)")
        }
        return try load(path: nameOrPath)
    }

    /// `resolve`, then the command-line overrides: `input` as "CxHxW" (e.g. "1x32x32" for
    /// Fashion-MNIST) and the head's number of classes. Throws 64 for a malformed shape or
    /// classes on a network without head, 65 when the network does not take the new shape.
    public static func resolve(_ nameOrPath: String, input: String?, classes: Int?) throws -> Architecture {
        var architecture = try resolve(nameOrPath)
        if let input { architecture = architecture.with(input: try parseInputShape(input)) }
        if let classes {
            guard classes >= 1 else { throw StageError.usage("--classes must be at least 1, got \(classes)") }
            architecture = try architecture.with(classes: classes)
        }
        if input != nil || classes != nil { _ = try ModelGraph(architecture) }
        return architecture
    }

    /// "3x32x32" → [3, 32, 32]; throws 64 for anything else.
    public static func parseInputShape(_ text: String) throws -> [Int] {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        let sizes = parts.compactMap { Int($0) }
        guard parts.count == 3, sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else {
            throw StageError.usage("--input must be three positive sizes CxHxW such as 3x32x32, got \"\(text)\"")
        }
        return sizes
    }

    /// Reads, decodes and validates an architecture file, including that every layer takes the
    /// shape its predecessor gives.
    public static func load(path: String) throws -> Architecture {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
            throw StageError.noInput("\(path): no such architecture file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StageError.noInput("\(path): cannot read the architecture file")
        }
        do {
            let architecture = try Architecture(jsonText: String(decoding: data, as: UTF8.self))
            _ = try ModelGraph(architecture)
            return architecture
        } catch let error as ArchitectureFieldError {
            throw StageError.badData("\(path): \(error)")
        } catch let error as StageError {
            throw StageError.badData("\(path): \(error.message)")
        }
    }
}
