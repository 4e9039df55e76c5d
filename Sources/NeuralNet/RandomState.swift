/// The one seedable random generator of the engine (xoshiro256**, seeded through SplitMix64):
/// weight initialization, shuffling, augmentation and dropout masks all draw from values of this
/// type. Its whole state is four words (`words`), so a checkpoint can store it and a resumed run
/// continues the exact same stream. Cost: a few integer operations per draw.
public struct RandomState: Sendable, Equatable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose stream is a function of `seed` alone.
    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) over the four state words, as xoshiro's authors advise.
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// The full state, for checkpoints: reading it and assigning it back later resumes the stream.
    public var words: [UInt64] {
        get { [s0, s1, s2, s3] }
        set {
            precondition(newValue.count == 4 && newValue.contains { $0 != 0 },
                         "RandomState: the state is four words, not all zero")
            s0 = newValue[0]; s1 = newValue[1]; s2 = newValue[2]; s3 = newValue[3]
        }
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform Float in [0, 1) with 24 random bits (every value a multiple of 2⁻²⁴).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform Float in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextFloat()
    }

    /// A uniform integer in 0..<bound (Lemire's multiply-shift with rejection: no modulo bias).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "RandomState.nextInt: bound must be positive")
        let b = UInt64(bound)
        while true {
            let product = next().multipliedFullWidth(by: b)
            if product.low >= (0 &- b) % b { return Int(product.high) }
        }
    }

    /// A standard normal Float (Box–Muller on two uniform draws, computed in Double).
    public mutating func normal() -> Float {
        let u1 = 1 - Double(next() >> 11) * 0x1p-53    // in (0, 1]: the logarithm stays finite
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
private func _log(_ x: Double) -> Double { Glibc.log(x) }
private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
private func _log(_ x: Double) -> Double { Darwin.log(x) }
private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
