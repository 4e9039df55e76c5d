"""Reference values for kd's residual networks (resnet8, wrn-16-1), computed once with PyTorch.

How residual_reference.h5 was made (from the repository root):

    PY=$(Benchmarks/setup-torch.sh)      # CPU PyTorch + numpy + h5py + safetensors in a venv
    $PY Tests/NeuralNetTests/Fixtures/make_residual_reference.py

It writes Tests/NeuralNetTests/Fixtures/residual_reference.h5 next to this script (the PyTorch
version is in the root attribute `torch_version`, the command in `made_by`). The models are
the project's PyTorch twin, Benchmarks/torch_twin.py (RepDistiller's CIFAR ResNet and WRN).

For each architecture (resnet8, then wrn-16-1; 10 classes), torch.manual_seed(2024) is set,
then, all in float32:
  1. the model is built with its own initialization (conv and linear weights as RepDistiller);
  2. in module order, every BatchNorm2d gets weight = 1 + 0.3*randn, bias = 0.3*randn,
     running_mean = 0.2*randn, running_var = 1 + 0.5*rand (drawn in that order per layer),
     then every Linear gets bias = 0.1*randn, so that every parameter matters;
  3. the input x = randn(4, 3, 16, 16) (small planes keep the file small); labels [0, 3, 1, 7].
The arithmetic then runs in float64 (model.double(), x.double()); the results are stored
rounded to float32, exact to float32 precision, which is all a 1e-4 comparison needs. Each mode starts from the drawn state:
  train     = model.train(): BatchNorm normalizes with the batch statistics and updates its
              running buffers (momentum 0.1, unbiased variance);
  inference = model.eval(): BatchNorm uses the running buffers.
In each: logits, taps group1/2/3 (outputs of layer1..3 / block1..3; for the ResNet after the
block's final ReLU, for the WRN before any activation), loss = F.cross_entropy(logits, labels)
(mean over the batch) and its gradient with respect to the input; in train mode also the
gradient with respect to every parameter and the BatchNorm running buffers after the forward.

Layout (gzip on every dataset; float32 throughout):
  /<arch>/params/<state_dict key>          float32, parameters and running_mean/running_var as
                                           drawn, before any forward (no num_batches_tracked)
  /<arch>/input                            float32 [4, 3, 16, 16]
  /<arch>/labels                           int64 [4]
  /<arch>/<mode>/logits                    float32 [4, 10]          mode: train, inference
  /<arch>/<mode>/group1, group2, group3    float32, NCHW
  /<arch>/<mode>/loss                      float32 scalar
  /<arch>/<mode>/input_grad                float32 [4, 3, 16, 16]
  /<arch>/train/param_grads/<key>          float32, every parameter
  /<arch>/train/buffers_after/<key>        float32, running_mean/running_var after the forward
Root attributes: torch_version, made_by.
"""
import copy
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "Benchmarks"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_twin  # noqa: E402

ARCHS = ("resnet8", "wrn-16-1")
OUT = os.path.join(HERE, "residual_reference.h5")
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
GZIP = dict(compression="gzip", compression_opts=9)


def draw(arch):
    torch.manual_seed(2024)
    model = torch_twin.build(arch, num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.3 * torch.randn(c))
                m.bias.copy_(0.3 * torch.randn(c))
                m.running_mean.copy_(0.2 * torch.randn(c))
                m.running_var.copy_(1 + 0.5 * torch.rand(c))
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.bias.copy_(0.1 * torch.randn(m.out_features))
    x = torch.randn(4, 3, 16, 16)   # 16×16 keeps the file small; the groups see 16², 8², 4²
    labels = torch.tensor([0, 3, 1, 7], dtype=torch.int64)
    return model, x, labels


def run(model32, x32, labels, train):
    model = copy.deepcopy(model32).double()
    model.train(train)
    x = x32.double().requires_grad_(True)
    out = model(x, taps=True)
    loss = F.cross_entropy(out["logits"], labels)
    loss.backward()
    result = {k: out[k].detach() for k in ("logits", "group1", "group2", "group3")}
    result["loss"] = loss.detach()
    result["input_grad"] = x.grad.detach()
    if train:
        result["param_grads"] = {k: p.grad.detach() for k, p in model.named_parameters()}
        result["buffers_after"] = {k: b.detach() for k, b in model.named_buffers()
                                   if not k.endswith("num_batches_tracked")}
    return result


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def put(group, name, array):
    array = np.asarray(array)
    if array.ndim == 0:
        group.create_dataset(name, data=array)  # scalars cannot be chunked or compressed
    else:
        group.create_dataset(name, data=array, **GZIP)


def main():
    torch.set_num_threads(1)
    with h5py.File(OUT, "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
        f.attrs["made_by"] = (f"{sys.executable} {script} (from the repository root; "
                              "the python of Benchmarks/setup-torch.sh)")
        for arch in ARCHS:
            model, x, labels = draw(arch)
            g = f.create_group(arch)
            params = g.create_group("params")
            for k, v in model.state_dict().items():
                if k.endswith("num_batches_tracked"):
                    continue
                assert v.dtype == torch.float32, k
                put(params, k, v.numpy())
            put(g, "input", x.numpy())
            put(g, "labels", labels.numpy())
            for mode, train in (("train", True), ("inference", False)):
                r = run(model, x, labels, train)
                m = g.create_group(mode)
                for k in ("logits", "group1", "group2", "group3", "loss", "input_grad"):
                    put(m, k, f32(r[k]))
                if train:
                    for sub in ("param_grads", "buffers_after"):
                        s = m.create_group(sub)
                        for k, v in r[sub].items():
                            put(s, k, f32(v))
                print(f"{arch} {mode}: loss {r['loss'].item():.6f}", file=sys.stderr)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
