/// PyTorch's default initialization, drawn from one seeded generator so that a seed fixes every
/// starting weight of a network.
///
/// The arrays are visited in state_dict order (parameters, then buffers, as `namedParameters`
/// and `namedBuffers` list them) and the kind of each is read from its name and rank, so any
/// layer tree is covered without knowing its classes:
/// - a `weight` of rank ≥ 2 (Conv2d [out, in, k, k], Linear [out, in]) gets
///   `kaiming_uniform_(a=√5)`, that is U(−1/√fan_in, 1/√fan_in) with fan_in = in·k·k;
/// - the `bias` beside such a weight gets U(−1/√fan_in, 1/√fan_in) with the same fan_in;
/// - a `weight` of rank 1 (BatchNorm's γ) gets 1, any other rank-1 `bias` (β) gets 0;
/// - buffers get PyTorch's fresh statistics: `running_var` 1, everything else 0.
/// The generator is drawn from in that same order, one value per element.
///
/// The reference CIFAR ResNets and WRNs (RepDistiller's `resnet.py`, `wrn.py`) replace some of
/// these (`Scheme`): convolution weights from N(0, 2/fan_out), fan_out = out·k·k (Kaiming-normal,
/// fan_out mode, for ReLU); BatchNorm 1 and 0 as above; WRN also zeroes the Linear bias.
/// Cost: one draw per random element.
public enum Initialization {
    /// Which network family's initialization a model gets.
    public enum Scheme: String, Sendable, CaseIterable {
        /// PyTorch's defaults for every layer.
        case pytorch
        /// CIFAR ResNet: convolutions Kaiming-normal (fan_out), the rest PyTorch's defaults.
        case resnet = "resnet-cifar"
        /// WRN: convolutions Kaiming-normal (fan_out), Linear bias zero, the rest PyTorch's defaults.
        case wrn
    }

    /// Draws every array of `parameters` and `buffers` (state_dict order) under `scheme`.
    public static func initialize(_ scheme: Scheme = .pytorch, parameters: [(String, Parameter)],
                                  buffers: [(String, Parameter)], rng: inout RandomState) {
        let fanIn = Dictionary(parameters.compactMap { name, p -> (String, Int)? in
            guard leafName(name) == "weight", p.value.shape.count >= 2 else { return nil }
            return (owner(name), p.value.count / p.value.shape[0])
        }, uniquingKeysWith: { first, _ in first })
        let ranks = Dictionary(parameters.compactMap { name, p -> (String, Int)? in
            leafName(name) == "weight" ? (owner(name), p.value.shape.count) : nil
        }, uniquingKeysWith: { first, _ in first })

        let convolutionsFromFanOut = scheme != .pytorch
        for (name, p) in parameters {
            let rank = p.value.shape.count, ownerRank = ranks[owner(name)]
            if convolutionsFromFanOut && rank == 4 {
                let fanOut = p.value.count / p.value.shape[1]   // out · k · k
                let std = (2 / Float(fanOut)).squareRoot()
                fill(p) { std * rng.normal() }
            } else if scheme == .wrn && ownerRank == 2 && leafName(name) == "bias" {
                fill(p) { 0 }
            } else if let fan = fanIn[owner(name)], rank >= 2 || leafName(name) == "bias" {
                let bound = 1 / Float(fan).squareRoot()
                fill(p) { rng.uniform(-bound, bound) }
            } else {
                let one = leafName(name) == "weight"
                fill(p) { one ? 1 : 0 }
            }
        }
        for (name, b) in buffers {
            let one = leafName(name) == "running_var"
            fill(b) { one ? 1 : 0 }
        }
    }

    /// "features.0.weight" → "weight"
    private static func leafName(_ name: String) -> Substring {
        name.split(separator: ".").last ?? Substring(name)
    }

    /// "features.0.weight" → "features.0" (the layer the array belongs to)
    private static func owner(_ name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return String(name[..<dot])
    }

    private static func fill(_ p: Parameter, _ value: () -> Float) {
        p.value.data.withUnsafeMutableBufferPointer { w in
            for i in w.indices { w[i] = value() }
        }
    }
}
