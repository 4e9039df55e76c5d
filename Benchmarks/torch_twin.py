#!/usr/bin/env python3
"""kd's own PyTorch twin of every kd architecture preset, and its throughput benchmark.

    PY=$(Benchmarks/setup-torch.sh)
    $PY Benchmarks/torch_twin.py --arch resnet20 --mode train --batch 128 --seconds 6 --threads 2
    $PY Benchmarks/torch_twin.py --check-counts

Models (state_dict keys are the ones kd's model files use):

- Seed VGGs ("teacher", "s1", "s2", "s4", "s8", "small"), torchvision VGG naming: children
  `features` (Conv2d 3x3 pad 1 with bias, BatchNorm2d, ReLU per width; "M" = MaxPool2d(2)),
  `avgpool` (AdaptiveAvgPool2d(1)), `flatten`, and the optional head `classifier` (Linear).
- CIFAR ResNets as RepDistiller's models/resnet.py: "resnet8/14/20/26/32/44/56/110",
  "resnet8x4", "resnet32x4", and generic "resnet-D" / "resnet-DxW".
- Wide ResNets as RepDistiller's models/wrn.py (pre-activation): "wrn-16-1", "wrn-16-2",
  "wrn-40-1", "wrn-40-2", and generic "wrn-D-W".

`build(name, num_classes=10)` returns the model. ResNets and WRNs take `forward(x, taps=True)`
to return a dict with "group1", "group2", "group3" (outputs of layer1..3 / block1..3; for a
ResNet after the block's final ReLU), "feature" (the pooled vector the head reads) and
"logits".

Bench mode measures like `kd bench` and prints the same line, ending in "<N> img/s", then
`peak_rss_mb=<X>`: random 3x32x32 inputs; a training step is forward in train mode, the loss
(cross-entropy against random labels when the output has 10 values, MSE against random
targets otherwise), backward and SGD (lr 0.01, momentum 0.9, weight decay 5e-4); an inference
step is a forward pass in eval mode under torch.no_grad(). Two warm-up steps, then steps until
--seconds have passed.
"""
import argparse
import math
import re
import resource
import sys
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Seed VGGs

VGG_PRESETS = {
    # name: (configuration, head output width; "classes" = num_classes, None = no head)
    "teacher": ("64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M", "classes"),
    "s1": ("32 32 M 64 64 M 128 128 M 256 256 M 512 M", 512),
    "s2": ("32 32 M 64 64 M 128 128 M 256 256 M M", 256),
    "s4": ("32 M 32 M 64 64 M 128 128 M 128 128 M", 128),
    "s8": ("32 32 M 32 32 M 32 64 M 64 64 M 64 64 64 M", None),
    "small": ("16 M 32 M 64 M", "classes"),
}


class VGG(nn.Sequential):
    """features → avgpool → flatten → [classifier], as an nn.Sequential with named children."""

    def __init__(self, config, head, in_channels=3):
        layers = []
        channels = in_channels
        for item in config.split():
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                width = int(item)
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        children = OrderedDict(features=nn.Sequential(*layers), avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten())
        if head is not None:
            children["classifier"] = nn.Linear(channels, head)
        super().__init__(children)
        self.output_width = head if head is not None else channels


# ---------------------------------------------------------------------------------------------
# CIFAR ResNets (RepDistiller models/resnet.py)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out = out + residual
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, depth, num_filters, num_classes=10):
        super().__init__()
        assert (depth - 2) % 6 == 0, "ResNet depth must be 6n+2"
        n = (depth - 2) // 6
        self.inplanes = num_filters[0]
        self.conv1 = nn.Conv2d(3, num_filters[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_filters[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(num_filters[1], n)
        self.layer2 = self._make_layer(num_filters[2], n, stride=2)
        self.layer3 = self._make_layer(num_filters[3], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)   # RepDistiller: AvgPool2d(8), the same on 32×32 inputs
        self.fc = nn.Linear(num_filters[3], num_classes)
        self.output_width = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x, taps=False):
        x = self.relu(self.bn1(self.conv1(x)))
        g1 = self.layer1(x)
        g2 = self.layer2(g1)
        g3 = self.layer3(g2)
        feature = torch.flatten(self.avgpool(g3), 1)
        logits = self.fc(feature)
        if taps:
            return {"group1": g1, "group2": g2, "group3": g3, "feature": feature, "logits": logits}
        return logits


# ---------------------------------------------------------------------------------------------
# Wide ResNets (RepDistiller models/wrn.py)


class WRNBlock(nn.Module):
    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equalInOut = in_planes == out_planes
        self.convShortcut = (None if self.equalInOut
                             else nn.Conv2d(in_planes, out_planes, 1, stride=stride, padding=0, bias=False))

    def forward(self, x):
        if not self.equalInOut:
            x = self.relu1(self.bn1(x))  # shared by both paths
            out = x
        else:
            out = self.relu1(self.bn1(x))  # the shortcut is the raw x
        out = self.relu2(self.bn2(self.conv1(out)))
        out = self.conv2(out)
        return (x if self.equalInOut else self.convShortcut(x)) + out


class NetworkBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, out_planes, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WRNBlock(in_planes if i == 0 else out_planes, out_planes,
                                              stride if i == 0 else 1) for i in range(nb_layers)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, widen_factor=1, num_classes=10):
        super().__init__()
        assert (depth - 4) % 6 == 0, "WRN depth must be 6n+4"
        n = (depth - 4) // 6
        ch = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, ch[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(ch[3], num_classes)
        self.nChannels = ch[3]
        self.output_width = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / k))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, x, taps=False):
        out = self.conv1(x)
        g1 = self.block1(out)
        g2 = self.block2(g1)
        g3 = self.block3(g2)
        out = self.relu(self.bn1(g3))
        feature = torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)   # RepDistiller: avg_pool2d(out, 8), the same on 32×32
        logits = self.fc(feature)
        if taps:
            return {"group1": g1, "group2": g2, "group3": g3, "feature": feature, "logits": logits}
        return logits


# ---------------------------------------------------------------------------------------------
# Names

RESNET_DEPTHS = (8, 14, 20, 26, 32, 44, 56, 110)
PRESET_NAMES = (list(VGG_PRESETS) + [f"resnet{d}" for d in RESNET_DEPTHS] + ["resnet8x4", "resnet32x4"]
                + ["wrn-16-1", "wrn-16-2", "wrn-40-1", "wrn-40-2"])


def resnet_widths(width):
    return [16 if width == 1 else 8 * width, 16 * width, 32 * width, 64 * width]


def build(name, num_classes=10):
    """The model for a kd architecture name; raises ValueError for an unknown one."""
    if name in VGG_PRESETS:
        config, head = VGG_PRESETS[name]
        return VGG(config, num_classes if head == "classes" else head)
    m = re.fullmatch(r"resnet-?(\d+)(?:x(\d+))?", name)
    if m:
        depth, width = int(m.group(1)), int(m.group(2) or 1)
        if (depth - 2) % 6 != 0 or depth < 8 or width < 1:
            raise ValueError(f"{name}: a ResNet needs depth 6n+2 >= 8 and width >= 1")
        return ResNet(depth, resnet_widths(width), num_classes)
    m = re.fullmatch(r"wrn-(\d+)-(\d+)", name)
    if m:
        depth, width = int(m.group(1)), int(m.group(2))
        if (depth - 4) % 6 != 0 or depth < 10 or width < 1:
            raise ValueError(f"{name}: a WRN needs depth 6n+4 >= 10 and width >= 1")
        return WideResNet(depth, width, num_classes)
    raise ValueError(f"unknown architecture {name!r}: known names are {', '.join(PRESET_NAMES)}, "
                     "resnet-D, resnet-DxW, wrn-D-W")


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


EXPECTED_COUNTS = {
    10: {"resnet8": 78_042, "resnet14": 175_258, "resnet20": 272_474, "resnet26": 369_690,
         "resnet32": 466_906, "resnet44": 661_338, "resnet56": 855_770, "resnet110": 1_730_714,
         "resnet8x4": 1_210_410, "resnet32x4": 7_410_730, "wrn-16-1": 175_066, "wrn-16-2": 691_674,
         "wrn-40-1": 563_930, "wrn-40-2": 2_243_546,
         "teacher": 14_728_266, "s1": 2_618_016, "s2": 1_239_968, "s4": 600_096, "s8": 242_112},
    100: {"resnet8": 83_892, "resnet20": 278_324, "resnet56": 861_620, "resnet110": 1_736_564,
          "resnet32x4": 7_433_860, "wrn-16-2": 703_284, "wrn-40-2": 2_255_156},
}


def check_counts():
    failures = 0
    for classes, table in EXPECTED_COUNTS.items():
        for name, expected in table.items():
            got = parameter_count(build(name, classes))
            ok = got == expected
            failures += not ok
            print(f"{name:11s} classes={classes:3d} params={got:>11,d} expected={expected:>11,d} "
                  f"{'ok' if ok else 'MISMATCH'}")
    # The generic names must agree with the presets they alias.
    for generic, preset in (("resnet-20", "resnet20"), ("resnet-32x4", "resnet32x4"), ("resnet-8x4", "resnet8x4")):
        assert parameter_count(build(generic)) == parameter_count(build(preset)), (generic, preset)
    x = torch.randn(2, 3, 32, 32)
    for name in ("resnet8", "resnet8x4", "wrn-16-2"):
        out = build(name).eval()(x, taps=True)
        assert out["logits"].shape == (2, 10) and out["group3"].shape[-1] == 8, name
    assert failures == 0, f"{failures} parameter counts differ"
    print(f"all {sum(len(t) for t in EXPECTED_COUNTS.values())} parameter counts match")


# ---------------------------------------------------------------------------------------------
# Benchmark


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def bench(name, mode, batch, seconds, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name)
    x = torch.randn(batch, 3, 32, 32)
    width = model.output_width
    labels = torch.randint(0, 10, (batch,))
    targets = torch.randn(batch, width)
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, labels) if width == 10 else F.mse_loss(out, targets)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

    for _ in range(2):
        step()
    steps = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
    ips = steps * batch / elapsed
    print(f"{name:8s} params={parameter_count(model):>10,d} {mode:5s} batch={batch:4d} {ips:9.1f} img/s")
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", help="architecture name (see the module docstring)")
    p.add_argument("--mode", choices=("train", "infer"), default="train")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--check-counts", action="store_true", help="assert and print every preset's parameter count")
    args = p.parse_args(argv)
    if args.check_counts:
        check_counts()
        return 0
    if not args.arch:
        p.error("--arch is required (or --check-counts)")
    if args.batch < 1 or args.seconds <= 0 or (args.threads is not None and args.threads < 1):
        p.error("--batch, --seconds and --threads must be positive")
    try:
        build(args.arch)
    except ValueError as e:
        print(f"torch_twin: {e}", file=sys.stderr)
        return 64
    bench(args.arch, args.mode, args.batch, args.seconds, args.threads or torch.get_num_threads())
    return 0


if __name__ == "__main__":
    sys.exit(main())
