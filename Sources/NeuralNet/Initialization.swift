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
/// Cost: one draw per random element.
public enum Initialization {
    public static func pyTorchDefaults(parameters: [(String, Parameter)], buffers: [(String, Parameter)],
                                       rng: inout RandomState) {
        let fanIn = Dictionary(parameters.compactMap { name, p -> (String, Int)? in
            guard leafName(name) == "weight", p.value.shape.count >= 2 else { return nil }
            return (owner(name), p.value.count / p.value.shape[0])
        }, uniquingKeysWith: { first, _ in first })

        for (name, p) in parameters {
            if let fan = fanIn[owner(name)], p.value.shape.count >= 2 || leafName(name) == "bias" {
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
