"""Reference values of attention transfer for Tests/NeuralNetTests/ReferenceTests.swift,
computed once with PyTorch.

How attention_reference.json was made (from the repository root):

    PY=$(Benchmarks/setup-torch.sh)
    $PY Tests/NeuralNetTests/Fixtures/make_attention_reference.py \
        > Tests/NeuralNetTests/Fixtures/attention_reference.json

Student activations x [3, 4, 5, 5] and teacher activations y [3, 6, 5, 5] (other channel
counts: attention maps compare positions, not channels) are drawn in float32 from
torch.manual_seed(11); the arithmetic runs in float64, with the attention-transfer authors'
definitions (Zagoruyko & Komodakis, attention-transfer/utils.py):
    at(x) = F.normalize(x.pow(2).mean(1).view(x.size(0), -1))
    at_loss(x, y) = (at(x) - at(y)).pow(2).mean()
Stored: at(x), at(y), the loss and its gradient with respect to x.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(11)
x32 = torch.randn(3, 4, 5, 5)
y32 = torch.randn(3, 6, 5, 5) * 2


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


def at(t):
    return F.normalize(t.pow(2).mean(1).view(t.size(0), -1))


x = x32.double().requires_grad_(True)
y = y32.double()
loss = (at(x) - at(y)).pow(2).mean()
loss.backward()
print(json.dumps({
    "torch_version": torch.__version__,
    "student": tensor_json(x32), "teacher": tensor_json(y32),
    "student_map": tensor_json(at(x)), "teacher_map": tensor_json(at(y)),
    "loss": loss.item(), "grad": tensor_json(x.grad),
}))
