"""Reference values of Hinton's distillation loss for Tests/NeuralNetTests/ReferenceTests.swift,
computed once with PyTorch.

How distillation_reference.json was made (from the repository root):

    PY=$(Benchmarks/setup-torch.sh)
    $PY Tests/NeuralNetTests/Fixtures/make_distillation_reference.py \
        > Tests/NeuralNetTests/Fixtures/distillation_reference.json

Student and teacher logits [5, 10] are drawn in float32 from torch.manual_seed(7) (the teacher
scaled by 3, so its softmax is far from uniform), labels fixed; the arithmetic runs in float64.
For each temperature T in 1, 2, 4, 8:
    kd = T² · F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean")
and for each α in 0, 0.5, 0.9, 1 at T = 4 the combined loss of kd distill --method kd:
    (1 − α) · F.cross_entropy(s, labels) + α · kd
each with its gradient with respect to the student's logits.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(7)
student32 = torch.randn(5, 10)
teacher32 = torch.randn(5, 10) * 3
labels = torch.tensor([0, 3, 9, 4, 4])


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


def loss_and_grad(fn):
    s = student32.double().requires_grad_(True)
    loss = fn(s)
    loss.backward()
    return {"loss": loss.item(), "grad": tensor_json(s.grad)}


def kd(s, T):
    return F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(teacher32.double() / T, dim=1), reduction="batchmean") * T * T


print(json.dumps({
    "torch_version": torch.__version__,
    "student": tensor_json(student32), "teacher": tensor_json(teacher32), "labels": labels.tolist(),
    "temperatures": [dict(temperature=T, **loss_and_grad(lambda s: kd(s, T))) for T in (1.0, 2.0, 4.0, 8.0)],
    "alphas": [dict(alpha=a, temperature=4.0,
                    **loss_and_grad(lambda s: (1 - a) * F.cross_entropy(s, labels) + a * kd(s, 4.0)))
               for a in (0.0, 0.5, 0.9, 1.0)],
}))
