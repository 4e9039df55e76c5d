#!/usr/bin/env python3
"""kd vs its PyTorch twin (Benchmarks/torch_twin.py), side by side, in one table.

    python3 Benchmarks/compare.py [--kd .build/release/kd] [--archs s8,small,resnet20]
        [--modes train,infer] [--train-batch 128] [--infer-batch 256]
        [--rounds 3] [--seconds 6] [--threads 2] [--blas as-set,unset] [--markdown]

For each OpenBLAS mode, architecture, mode and batch it runs

    KD bench --arch A --mode M --batch B --seconds S --threads T
    PY Benchmarks/torch_twin.py --arch A --mode M --batch B --seconds S --threads T

alternately (kd, twin, kd, twin, ...) for --rounds rounds, reads the trailing "<N> img/s" of
each, and reports the medians, their ratio kd/torch and the peak resident memory of each
child (the largest over its rounds, from os.wait4's resource usage, so it is measured the same
way for both). OpenBLAS mode "as-set" leaves the environment as it is; "unset" removes
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE from both children's environment (as
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` would). The twin's python comes from
Benchmarks/setup-torch.sh (which installs it on first use). Runs that fail show "failed" in
their cell (kd may not know an architecture the twin knows); the exit status is 1 then.
Progress goes to standard error, the table to standard output.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TWIN = os.path.join(HERE, "torch_twin.py")
RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s+img/s\s*$")
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def csv(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def twin_python():
    out = subprocess.run([os.path.join(HERE, "setup-torch.sh")], stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def run_child(argv, env):
    """Runs argv; returns (img/s or None, peak RSS in MB, output)."""
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    except OSError as e:
        return None, None, str(e)
    output = child.stdout.read()
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    rate = None
    if child.returncode == 0:
        for line in output.splitlines():
            m = RATE.search(line)
            if m:
                rate = float(m.group(1))
    return rate, usage.ru_maxrss / 1024.0, output  # Linux: ru_maxrss in KiB


def child_env(blas):
    env = dict(os.environ)
    if blas == "unset":
        for name in BLAS_VARS:
            env.pop(name, None)
    return env


def fmt(value, spec):
    return "failed" if value is None else format(value, spec)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--kd", default=os.path.join(ROOT, ".build", "release", "kd"), help="the kd binary")
    p.add_argument("--archs", default="s8,small", help="comma-separated architecture names")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--train-batch", type=int, default=128)
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--blas", default="as-set,unset", help="as-set, unset, or both (comma-separated)")
    p.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    args = p.parse_args(argv)

    archs, modes, blas_modes = csv(args.archs), csv(args.modes), csv(args.blas)
    for m in modes:
        if m not in ("train", "infer"):
            p.error(f"--modes: {m!r} is neither train nor infer")
    for b in blas_modes:
        if b not in ("as-set", "unset"):
            p.error(f"--blas: {b!r} is neither as-set nor unset")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not os.access(args.kd, os.X_OK):
        p.error(f"--kd {args.kd}: no such executable (build it: swift build -c release)")
    python = twin_python()

    settings = " ".join(f"{n}={os.environ[n]}" for n in BLAS_VARS if n in os.environ) or "none set"
    print(f"compare: kd {args.kd} vs {python} {os.path.relpath(TWIN)}; {args.rounds} rounds of "
          f"{args.seconds:g} s, {args.threads} threads; OpenBLAS variables as set: {settings}", file=sys.stderr)

    load_before = os.getloadavg()[0]
    rows = []
    failed = False
    for blas in blas_modes:
        env = child_env(blas)
        for arch in archs:
            for mode in modes:
                batch = args.train_batch if mode == "train" else args.infer_batch
                common = ["--arch", arch, "--mode", mode, "--batch", str(batch),
                          "--seconds", f"{args.seconds:g}", "--threads", str(args.threads)]
                commands = {"kd": [args.kd, "bench"] + common, "torch": [python, TWIN] + common}
                rates = {"kd": [], "torch": []}
                rss = {"kd": [], "torch": []}
                for r in range(args.rounds):
                    for side in ("kd", "torch"):
                        rate, peak, output = run_child(commands[side], env)
                        if rate is None:
                            failed = True
                            last = (output.strip().splitlines() or ["(no output)"])[-1]
                            print(f"  {blas} {arch} {mode} round {r + 1}: {side} failed: {last}", file=sys.stderr)
                        else:
                            rates[side].append(rate)
                            rss[side].append(peak)
                    print(f"  {blas} {arch} {mode} b{batch} round {r + 1}/{args.rounds}: "
                          f"kd {rates['kd'][-1:] or 'failed'} torch {rates['torch'][-1:] or 'failed'}",
                          file=sys.stderr)
                kd = statistics.median(rates["kd"]) if len(rates["kd"]) == args.rounds else None
                torch = statistics.median(rates["torch"]) if len(rates["torch"]) == args.rounds else None
                rows.append([arch, mode, str(batch), blas, fmt(kd, ".1f"), fmt(torch, ".1f"),
                             "-" if kd is None or torch is None else f"{kd / torch:.2f}",
                             fmt(max(rss["kd"]) if rss["kd"] else None, ".0f"),
                             fmt(max(rss["torch"]) if rss["torch"] else None, ".0f")])

    header = ["arch", "mode", "batch", "OpenBLAS", "kd img/s", "torch img/s", "kd/torch",
              "kd peak MB", "torch peak MB"]
    numeric = set(range(2, len(header))) - {3}
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(x[i])) for x in [header] + rows) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                            for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    if args.markdown:
        print()
    print(f"Medians of {args.rounds} alternating rounds of {args.seconds:g} s on {args.threads} threads; "
          f"peak = largest RSS over the rounds. OpenBLAS as-set: {settings}; "
          f"unset: without {' and '.join(BLAS_VARS)}. Load average (1 min) {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after: on a busy machine PyTorch's spinning OpenMP threads lose far more "
          f"than kd, so only compare on an idle one.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
