"""Reference values for Tests/NeuralNetTests/ReferenceTests.swift, computed once with PyTorch.

How reference.json was made (from the repository root):

    /tmp/kd-torch/bin/python Tests/NeuralNetTests/Fixtures/make_reference.py \
        > Tests/NeuralNetTests/Fixtures/reference.json

with the PyTorch that Benchmarks/setup-torch.sh installs (CPU; the version is recorded in
the file). Every input and weight is drawn in float32 from torch.manual_seed(2024), so Swift reads
exactly the same values; the arithmetic then runs in float64, so the stored results are exact
to float32 precision and the Swift test can hold its float32 engine to them at 1e-4 relative.

What it stores: a small conv/BN/ReLU/max-pool/conv(stride 2, no bias)/BN/ReLU/1x1 conv/global
average pool/linear stack in training mode, its logits, the cross-entropy loss, the gradient with
respect to the input and to every parameter, and the BatchNorm running statistics after the step;
also the MSE loss and the distillation loss (T=4) with their input gradients on random values.
"""
import json
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(2024)


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


net = nn.Sequential(
    nn.Conv2d(3, 4, 3, padding=1),
    nn.BatchNorm2d(4),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False),
    nn.BatchNorm2d(6),
    nn.ReLU(),
    nn.Conv2d(6, 8, 1),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(8, 5),
)
# BatchNorm's affine parameters get random values too, so that they matter.
with torch.no_grad():
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(1 + 0.3 * torch.randn(m.num_features))
            m.bias.copy_(0.3 * torch.randn(m.num_features))
x32 = torch.randn(4, 3, 8, 8)
labels = torch.tensor([0, 3, 1, 4])

net = net.double().train()
x = x32.double().requires_grad_(True)
parameters = {name: tensor_json(p) for name, p in net.named_parameters()}
logits = net(x)
loss = F.cross_entropy(logits, labels)
loss.backward()

# The losses alone, on float32-drawn values.
student = torch.randn(3, 10).double().requires_grad_(True)
teacher = torch.randn(3, 10).double() * 2
T = 4.0
kd = F.kl_div(F.log_softmax(student / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean") * T * T
kd.backward()
prediction = torch.randn(3, 4).double().requires_grad_(True)
target = torch.randn(3, 4).double()
mse = F.mse_loss(prediction, target)
mse.backward()

print(json.dumps({
    "torch_version": torch.__version__,
    "input": tensor_json(x),
    "labels": labels.tolist(),
    "parameters": parameters,
    "logits": tensor_json(logits),
    "loss": loss.item(),
    "input_grad": tensor_json(x.grad),
    "parameter_grads": {name: tensor_json(p.grad) for name, p in net.named_parameters()},
    "buffers_after": {name: tensor_json(b) for name, b in net.named_buffers() if "running" in name},
    "distillation": {"temperature": T, "student": tensor_json(student), "teacher": tensor_json(teacher),
                     "loss": kd.item(), "grad": tensor_json(student.grad)},
    "mse": {"prediction": tensor_json(prediction), "target": tensor_json(target),
            "loss": mse.item(), "grad": tensor_json(prediction.grad)},
}))
