#!/usr/bin/env bash
# Installs CPU PyTorch, numpy, h5py and safetensors into a venv for the PyTorch twin
# (Benchmarks/torch_twin.py, Benchmarks/compare.py) and the residual reference fixture.
#
#     Benchmarks/setup-torch.sh            # venv at ${TORCH_VENV:-/tmp/kd-torch}
#
# Idempotent: when the venv already imports all four it does nothing. Prints the venv's
# python path on standard output (and nothing else there); progress goes to standard error.
# Packages come from PyPI through pip as configured on the machine. A CPU-only torch wheel
# found in pip's configured find-links is preferred (PyPI's Linux torch pulls the CUDA
# libraries, several GB, which work on a CPU but are not needed).
set -euo pipefail

VENV="${TORCH_VENV:-/tmp/kd-torch}"
PY="${PYTHON:-python3}"
VPY="$VENV/bin/python"

have_all() {
    [ -x "$VPY" ] && "$VPY" -c 'import torch, numpy, h5py, safetensors' >/dev/null 2>&1
}

if ! have_all; then
    if [ ! -x "$VPY" ]; then
        echo "setup-torch: creating venv $VENV" >&2
        "$PY" -m venv "$VENV" >&2
    fi
    if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
        # A local CPU wheel (pip's find-links) if there is one, without its dependencies;
        # they come from PyPI in the next step.
        if "$VPY" -m pip install -q --no-index --no-deps torch >&2 2>/dev/null; then
            echo "setup-torch: torch $("$VPY" -m pip show torch 2>/dev/null | sed -n 's/^Version: //p') from a local wheel" >&2
        else
            echo "setup-torch: torch from PyPI (this takes minutes)" >&2
        fi
    fi
    echo "setup-torch: installing torch numpy h5py safetensors into $VENV" >&2
    "$VPY" -m pip install -q torch numpy h5py safetensors >&2
    have_all || { echo "setup-torch: the venv still cannot import torch, numpy, h5py, safetensors" >&2; exit 1; }
fi
echo "setup-torch: ready: torch $("$VPY" -c 'import torch; print(torch.__version__)')" >&2
echo "$VPY"
