/// The CIFAR residual networks KD papers compare on, built as data exactly as the reference
/// PyTorch implementations (RepDistiller's `resnet.py` and `wrn.py`, which mdistiller, TAKD,
/// DGKD and CTKD reuse) define them, down to the state_dict names:
///
/// - ResNet-D (He et al.'s CIFAR ResNet): a 3×3 stem (`conv1`, `bn1`, `relu`), then three
///   groups `layer1…3` of n = (D − 2)/6 basic blocks (conv3×3-BN-ReLU-conv3×3-BN, plus a
///   `downsample` 1×1 conv + BN where the shape changes, ReLU after the sum) at strides 1, 2, 2,
///   global average pooling and `fc`. Widths [stem, g1, g2, g3] = [16, 16, 32, 64] × W; the
///   ×4 models (`resnet8x4`, `resnet32x4`) have a 32-wide stem: [32, 64, 128, 256].
/// - WRN-D-W (Zagoruyko & Komodakis, pre-activation): a 3×3 `conv1` to 16, three groups
///   `block1…3` (each an `nn.Sequential` named `layer`) of n = (D − 4)/6 blocks bn1-relu1-conv1-
///   bn2-relu2-conv2 of width 16W, 32W, 64W at strides 1, 2, 2 — where the shape changes the
///   pre-activation is shared with the 1×1 `convShortcut` — then `bn1`, `relu`, global average
///   pooling and `fc`.
///
/// Taps `group1…3` are the groups' outputs (where attention transfer reads). The references
/// pool with AvgPool2d(8); global pooling is the same on 32×32 inputs and also takes others.
/// Cost: a description only.
public enum ResidualPresets {
    /// ResNet-`depth` with widths [stem, g1, g2, g3], or nil when depth is not 6n + 2 ≥ 8.
    public static func resnet(_ name: String, depth: Int, widths: [Int], classes: Int = 10) -> Architecture? {
        guard depth >= 8, (depth - 2) % 6 == 0, widths.count == 4 else { return nil }
        let n = (depth - 2) / 6
        var layers: [LayerSpec] = [conv(widths[0], kernel: 3, stride: 1, name: "conv1"),
                                   LayerSpec(.batchNorm, name: "bn1"), LayerSpec(.relu, name: "relu")]
        var inChannels = widths[0]
        for group in 1...3 {
            let width = widths[group], stride = group == 1 ? 1 : 2
            let blocks = (0..<n).map { index -> LayerSpec in
                let s = index == 0 ? stride : 1
                let downsample = s != 1 || inChannels != width
                    ? LayerSpec(.sequential([conv(width, kernel: 1, stride: s), LayerSpec(.batchNorm)]), name: "downsample")
                    : nil
                inChannels = width
                return LayerSpec(.residual(
                    pre: [],
                    body: [conv(width, kernel: 3, stride: s, name: "conv1"), LayerSpec(.batchNorm, name: "bn1"),
                           LayerSpec(.relu, name: "relu"), conv(width, kernel: 3, stride: 1, name: "conv2"),
                           LayerSpec(.batchNorm, name: "bn2")],
                    shortcut: downsample, post: [LayerSpec(.relu, name: "relu_out")]), name: String(index))
            }
            layers.append(LayerSpec(.sequential(blocks), name: "layer\(group)"))
        }
        layers += [LayerSpec(.globalAvgPool, name: "avgpool"), LayerSpec(.flatten, name: "flatten")]
        return Architecture(name: name, body: .layers(layers), head: .init(out: classes, name: "fc"),
                            taps: ["group1": "layer1", "group2": "layer2", "group3": "layer3"],
                            initialization: .resnet)
    }

    /// The largest depth and widening factor a preset name may ask for: far beyond the papers'
    /// (ResNet-1202, WRN-28-20), small enough that the sizes never overflow.
    static let maxDepth = 2000, maxWiden = 64

    /// WRN-`depth`-`widen`, or nil when depth is not 6n + 4 ≥ 10 or the width is not in
    /// 1…`maxWiden`.
    public static func wrn(_ name: String, depth: Int, widen: Int, classes: Int = 10) -> Architecture? {
        guard depth >= 10, depth <= maxDepth, (depth - 4) % 6 == 0, (1...maxWiden).contains(widen) else { return nil }
        let n = (depth - 4) / 6
        var layers: [LayerSpec] = [conv(16, kernel: 3, stride: 1, name: "conv1")]
        var inChannels = 16
        for group in 1...3 {
            let width = 16 * widen << (group - 1), stride = group == 1 ? 1 : 2
            let blocks = (0..<n).map { index -> LayerSpec in
                let s = index == 0 ? stride : 1
                let preActivation = [LayerSpec(.batchNorm, name: "bn1"), LayerSpec(.relu, name: "relu1")]
                let rest = [conv(width, kernel: 3, stride: s, name: "conv1"), LayerSpec(.batchNorm, name: "bn2"),
                            LayerSpec(.relu, name: "relu2"), conv(width, kernel: 3, stride: 1, name: "conv2")]
                let kind: LayerSpec.Kind = inChannels == width
                    ? .residual(pre: [], body: preActivation + rest, shortcut: nil, post: [])
                    : .residual(pre: preActivation, body: rest,
                                shortcut: conv(width, kernel: 1, stride: s, name: "convShortcut"), post: [])
                inChannels = width
                return LayerSpec(kind, name: String(index))
            }
            layers.append(LayerSpec(.sequential([LayerSpec(.sequential(blocks), name: "layer")]), name: "block\(group)"))
        }
        layers += [LayerSpec(.batchNorm, name: "bn1"), LayerSpec(.relu, name: "relu"),
                   LayerSpec(.globalAvgPool, name: "avgpool"), LayerSpec(.flatten, name: "flatten")]
        return Architecture(name: name, body: .layers(layers), head: .init(out: classes, name: "fc"),
                            taps: ["group1": "block1", "group2": "block2", "group3": "block3"],
                            initialization: .wrn)
    }

    /// `resnetD`, `resnetDxW`, `resnet-D`, `resnet-DxW` (W = 4: the 32-wide stem of resnet8x4)
    /// and `wrn-D-W`; nil for any other name or a depth the family does not have.
    public static func named(_ name: String) -> Architecture? {
        if name.hasPrefix("wrn-") {
            let parts = name.dropFirst(4).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let depth = Int(parts[0]), let widen = Int(parts[1]) else { return nil }
            return wrn(name, depth: depth, widen: widen)
        }
        guard name.hasPrefix("resnet") else { return nil }
        var rest = name.dropFirst(6)
        if rest.hasPrefix("-") { rest = rest.dropFirst() }
        let parts = rest.split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let depth = Int(parts[0]), depth <= maxDepth,
              parts[0].allSatisfy(\.isNumber) else { return nil }
        var widen = 1
        if parts.count == 2 {
            guard let w = Int(parts[1]), (1...maxWiden).contains(w), parts[1].allSatisfy(\.isNumber) else { return nil }
            widen = w
        }
        let stem = widen == 1 ? 16 : 8 * widen
        return resnet(name, depth: depth, widths: [stem, 16 * widen, 32 * widen, 64 * widen])
    }

    private static func conv(_ out: Int, kernel: Int, stride: Int, name: String? = nil) -> LayerSpec {
        LayerSpec(.conv(out: out, kernel: kernel, stride: stride, padding: kernel / 2, bias: false), name: name)
    }
}
