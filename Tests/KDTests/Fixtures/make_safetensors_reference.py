"""PyTorch state_dicts as safetensors files, and their logits, for kd convert's tests.

How the fixtures were made (from the repository root):

    PY=$(Benchmarks/setup-torch.sh)      # CPU PyTorch + numpy + h5py + safetensors in a venv
    $PY Tests/KDTests/Fixtures/make_safetensors_reference.py

It writes, next to this script:
  resnet8.safetensors, wrn-16-1.safetensors   model.state_dict() by safetensors.torch.save_file
  safetensors_reference.json                  the images, the input normalization and the logits

The models are the project's PyTorch twin, Benchmarks/torch_twin.py (RepDistiller's CIFAR
ResNet and WRN), with 10 classes. For each, torch.manual_seed(2025) is set, then, in float32:
  1. the model is built with its own initialization;
  2. in module order, every BatchNorm2d gets weight = 1 + 0.3*randn, bias = 0.3*randn,
     running_mean = 0.2*randn, running_var = 1 + 0.5*rand (in that order per layer) and
     num_batches_tracked = 100; then every Linear gets bias = 0.1*randn — so every tensor
     matters, and the batch counters are not the default 0;
  3. the state_dict is saved as is (F32 tensors, num_batches_tracked an I64 scalar []).
The images: torch.manual_seed(7), then 6 images of uint8 randint(0, 256, (3, 32, 32)) and
labels 0…5: what the test writes as a CIFAR-10 record file and runs through kd decode. The
inputs are what kd eval and kd extract feed (InputNormalization): x = (pixels/255 − mean)/std
per channel, with CIFAR-10's usual mean and std (given to kd convert as --mean/--std). The
logits of model.eval() are computed in float64 (model.double()) and stored rounded to float32,
which is all the test's 1e-4 relative tolerance needs.

safetensors_reference.json: {"torch_version", "made_by", "mean": [3], "std": [3],
"labels": [6], "images": [6][3072] (bytes, C×H×W, as a CIFAR record after its label byte),
"logits": {"resnet8": [6][10], "wrn-16-1": [6][10]}}.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import torch_twin  # noqa: E402

ARCHS = ("resnet8", "wrn-16-1")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def draw(arch):
    torch.manual_seed(2025)
    model = torch_twin.build(arch, num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.3 * torch.randn(c))
                m.bias.copy_(0.3 * torch.randn(c))
                m.running_mean.copy_(0.2 * torch.randn(c))
                m.running_var.copy_(1 + 0.5 * torch.rand(c))
                m.num_batches_tracked.fill_(100)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.bias.copy_(0.1 * torch.randn(m.out_features))
    return model


def main():
    torch.set_num_threads(1)
    torch.manual_seed(7)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    x = (images.double() / 255 - mean) / std
    reference = {
        "torch_version": str(torch.__version__),
        "made_by": f"{sys.executable} {os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)} "
                   "(from the repository root; the python of Benchmarks/setup-torch.sh)",
        "mean": list(MEAN), "std": list(STD), "labels": list(range(6)),
        "images": images.reshape(6, -1).tolist(),
        "logits": {},
    }
    for arch in ARCHS:
        model = draw(arch)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(HERE, f"{arch}.safetensors"), metadata={"format": "pt"})
        model = model.double().eval()
        with torch.no_grad():
            logits = model(x).float()
        reference["logits"][arch] = logits.tolist()
        print(f"{arch}: {len(state)} tensors, logits {logits.abs().max().item():.3f} at most", file=sys.stderr)
    with open(os.path.join(HERE, "safetensors_reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
