import HDF5
import KDCore
import NeuralNet

/// Per-channel input normalization, torchvision's `ToTensor` + `Normalize(mean, std)`: a pixel
/// p of channel c becomes (p/255 − mean[c]) / std[c]. Computed once from the training images,
/// stored in the model file, and applied by every later stage, so all see the same inputs.
/// Cost: one pass over the pixels to compute; a multiply-add per pixel to apply.
public struct InputNormalization: Equatable, Sendable {
    public var mean: [Double]
    public var std: [Double]

    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }

    /// Mean and (population) standard deviation per channel over `images` (uint8 N×C×H×W).
    public static func measure(_ images: UnsafeBufferPointer<UInt8>, shape: [Int]) -> InputNormalization {
        let (channels, plane) = (shape[0], shape[1] * shape[2])
        let count = images.count / (channels * plane)
        var sum = [Double](repeating: 0, count: channels), sumSquares = sum
        for c in 0..<channels {
            // Integer sums per image are exact; Doubles collect them.
            for n in 0..<count {
                let base = images.baseAddress! + (n * channels + c) * plane
                var s = 0, ss = 0
                for i in 0..<plane { let v = Int(base[i]); s += v; ss += v * v }
                sum[c] += Double(s); sumSquares[c] += Double(ss)
            }
        }
        let pixels = Double(count * plane)
        let mean = sum.map { $0 / pixels / 255 }
        let std = zip(sumSquares, mean).map { squares, m in
            max((squares / pixels / (255 * 255) - m * m).squareRoot(), 1e-6)
        }
        return InputNormalization(mean: mean, std: std)
    }

    /// The float32 factor a raw pixel value (0…255) of channel `c` is multiplied by, and what
    /// is then added: p · 1/(255·std) − mean/std. `apply` and an exported ONNX model's first
    /// nodes use these same numbers.
    public func scale(channel c: Int) -> Float { Float(1 / (255 * std[c])) }
    public func shift(channel c: Int) -> Float { Float(-mean[c] / std[c]) }

    /// Float inputs for one image: writes C×H×W values to `out`.
    @inline(__always)
    func apply(_ image: UnsafePointer<UInt8>, to out: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
        for c in 0..<channels {
            let scale = self.scale(channel: c), shift = self.shift(channel: c)
            let src = image + c * plane, dst = out + c * plane
            for i in 0..<plane { dst[i] = Float(src[i]) * scale + shift }
        }
    }

    /// Root attributes of a model file.
    public func write(to file: H5File) throws {
        try file.setAttribute("input_mean", mean)
        try file.setAttribute("input_std", std)
    }

    public static func read(from file: H5File) throws -> InputNormalization {
        guard let mean = try file.doubleArrayAttribute("input_mean"),
              let std = try file.doubleArrayAttribute("input_std"), mean.count == std.count else {
            throw StageError.badData("\(file.path): model without input_mean/input_std attributes "
                                     + "(the input normalization kd train stores)")
        }
        return InputNormalization(mean: mean, std: std)
    }
}
