import Foundation
import KDCore

/// Where the class names of an IDX dataset come from (IDX files carry no names):
/// the ten Fashion-MNIST garments, the MNIST digits, or a text file with one name per line.
/// CIFAR carries its names in its meta files and does not use this.
public enum ClassNames: Sendable, Equatable {
    case fashionMNIST
    case mnist
    case file(String)

    public static let fashionMNISTNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    public static let mnistNames = (0...9).map(String.init)

    /// `fashion-mnist`, `mnist`, or anything else as the path of a names file.
    public init(argument: String) {
        switch argument.lowercased() {
        case "fashion-mnist": self = .fashionMNIST
        case "mnist": self = .mnist
        default: self = .file(argument)
        }
    }

    /// The choice when none was given: Fashion-MNIST when the input's path says "fashion"
    /// (as Debian's /usr/share/datasets/fashion-mnist and Zalando's downloads do), else MNIST.
    public static func guess(fromPath path: String) -> ClassNames {
        path.lowercased().contains("fashion") ? .fashionMNIST : .mnist
    }

    /// The names, in label order.
    public func names() throws -> [String] {
        switch self {
        case .fashionMNIST: return Self.fashionMNISTNames
        case .mnist: return Self.mnistNames
        case .file(let path):
            let names = try Self.lines(InputFile.contents(of: path))
            guard (1...256).contains(names.count) else {
                throw StageError.badData(
                    "class names file \(path) lists \(names.count) names; expected 1 to 256, one per line")
            }
            return names
        }
    }

    /// The non-empty lines of a names file (CIFAR's meta files end with blank lines),
    /// with surrounding white space removed.
    public static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }
}
