#!/usr/bin/env python3
"""One Hinton-KD training epoch, kd's way (stored logits) against PyTorch's (teacher online).

    PY=$(Benchmarks/setup-torch.sh)
    $PY Benchmarks/online_kd.py [--teacher resnet26] [--student resnet8] [--images 5000]
        [--threads 2] [--rounds 2] [--test-images 256] [--kd .build/release/kd]
        [--work DIR] [--keep]

Both sides train the same student on the same number of 3x32x32 images, batch 128, SGD lr 0.05,
momentum 0.9, weight decay 5e-4, constant rate, with the loss
(1 - a)·CE + a·T²·KL(softmax(t/T) ‖ softmax(s/T)) (batch mean), T = 4, a = 0.9.

- kd: a synthetic CIFAR-10-like folder (make_cifar10_like.py) is decoded (`kd decode
  --limit-train IMAGES --limit-test TEST`), the teacher trained for one short epoch
  (`kd train --epochs 1 --limit 500`: its weights matter for realism only), then each round
  runs `kd extract` (timed, wall seconds: the one-time cost of storing the teacher's logits
  of every train and test image) and `kd distill --method kd --epochs 1`, whose epoch-1
  `images_per_second` in metrics.csv is the training epoch alone (data loading from the
  store included, the test pass not).
- PyTorch: a child process with the twins of both architectures (torch_twin.build) on random
  tensors in memory; every step runs the teacher in eval mode under no_grad, then the student's
  forward, the loss, backward and the SGD step. Two warm-up steps, then the whole epoch (shuffled
  batches, the last one partial as in kd) is timed.

Rounds alternate kd, torch, kd, torch, ...; the table shows medians. The amortized rows charge
each student its share of one extraction: epoch seconds + extract seconds / S for S students
reusing the same stored logits (over E epochs without augmentation the share shrinks further,
to extract / (S·E) per epoch). Progress goes to standard error, the table to standard output.
Work happens in --work (default: a fresh temporary folder), removed at the end unless --keep.
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
T_KD, ALPHA = 4.0, 0.9
LR, MOMENTUM, WD = 0.05, 0.9, 5e-4


def log(text):
    print(f"online_kd: {text}", file=sys.stderr, flush=True)


def run(argv, what):
    """Runs argv; returns its wall seconds. Stops the script with the child's output on failure."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout)
        sys.exit(f"online_kd: {what} failed (exit {done.returncode}): {' '.join(argv)}")
    return seconds, done.stdout


# ---------------------------------------------------------------------------------------------
# The PyTorch side (runs in a child process: --torch-child)


def torch_epoch(teacher_name, student_name, images, batch, threads, seed):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, HERE)
    import torch_twin

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    teacher = torch_twin.build(teacher_name, num_classes=10).eval()
    student = torch_twin.build(student_name, num_classes=10).train()
    for p in teacher.parameters():
        p.requires_grad_(False)
    x = torch.randn(images, 3, 32, 32)
    y = torch.randint(0, 10, (images,))
    opt = torch.optim.SGD(student.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)

    def step(idx):
        xb, yb = x[idx], y[idx]
        with torch.no_grad():
            t = teacher(xb)
        s = student(xb)
        kl = F.kl_div(F.log_softmax(s / T_KD, dim=1), F.softmax(t / T_KD, dim=1), reduction="batchmean")
        loss = (1 - ALPHA) * F.cross_entropy(s, yb) + ALPHA * T_KD * T_KD * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # kd's epoch: every image once, the last batch partial (a lone last image is left out).
    used = images - 1 if images % batch == 1 else images
    for _ in range(2):
        step(torch.randperm(images)[:batch])
    order = torch.randperm(images)[:used]
    start = time.perf_counter()
    for first in range(0, used, batch):
        step(order[first:first + batch])
    seconds = time.perf_counter() - start
    print(json.dumps({"images": used, "seconds": seconds, "images_per_second": used / seconds}))


# ---------------------------------------------------------------------------------------------
# The driver


def twin_python():
    out = subprocess.run([os.path.join(HERE, "setup-torch.sh")], stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def epoch_rate(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["epoch"] == "1":
                return float(row["images_per_second"]), float(row["seconds"])
    sys.exit(f"online_kd: no epoch 1 in {run_dir}/metrics.csv")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--kd", default=os.path.join(ROOT, ".build", "release", "kd"), help="the kd binary")
    p.add_argument("--python", help="python with torch for the PyTorch side (default: Benchmarks/setup-torch.sh's)")
    p.add_argument("--teacher", default="resnet26")
    p.add_argument("--student", default="resnet8")
    p.add_argument("--images", type=int, default=5000, help="training images of the epoch")
    p.add_argument("--test-images", type=int, default=256, help="test images in the store (kd extracts them too)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--students", default="1,4", help="students sharing one extraction, for the amortized rows")
    p.add_argument("--work", help="work folder (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.images, args.test_images, args.batch, args.threads, args.rounds) < 1 or args.images < 2:
        p.error("--images (2 or more), --test-images, --batch, --threads and --rounds must be positive")
    if args.torch_child:
        torch_epoch(args.teacher, args.student, args.images, args.batch, args.threads, args.seed)
        return 0
    try:
        shares = [int(s) for s in args.students.split(",") if s.strip()]
        assert shares and min(shares) >= 1
    except (ValueError, AssertionError):
        p.error("--students: comma-separated positive integers")
    if not os.access(args.kd, os.X_OK):
        p.error(f"--kd {args.kd}: no such executable (build it: swift build -c release)")
    python = args.python or twin_python()

    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="kd-online-")
    os.makedirs(work, exist_ok=True)
    kd, threads = args.kd, str(args.threads)
    try:
        # Data store and teacher (once).
        raw = os.path.join(work, "raw")
        per_batch = max(math.ceil(args.images / 5), args.test_images)
        log(f"work folder {work}; writing {5 * per_batch} + {per_batch} synthetic CIFAR-10 records")
        run([python, os.path.join(HERE, "make_cifar10_like.py"), raw, "--records-per-batch", str(per_batch)],
            "make_cifar10_like.py")
        store = os.path.join(work, "c10.h5")
        run([kd, "decode", os.path.join(raw, "cifar-10-batches-bin"), "--out", store,
             "--limit-train", str(args.images), "--limit-test", str(args.test_images)], "kd decode")
        log(f"training the teacher {args.teacher} for one epoch on {min(500, args.images)} images")
        teacher_run = os.path.join(work, "teacher")
        run([kd, "train", "--arch", args.teacher, "--data", store, "--out", teacher_run, "--epochs", "1",
             "--limit", str(min(500, args.images)), "--schedule", "constant", "--threads", threads],
            "kd train (teacher)")
        teacher_model = os.path.join(teacher_run, "model.h5")

        kd_rates, kd_epochs, extracts, torch_rates, torch_epochs = [], [], [], [], []
        for r in range(1, args.rounds + 1):
            targets = os.path.join(work, f"teacher-logits-{r}.h5")
            extract_s, _ = run([kd, "extract", "--model", teacher_model, "--data", store, "--out", targets,
                                "--threads", threads], "kd extract")
            student_run = os.path.join(work, f"student-{r}")
            run([kd, "distill", "--method", "kd", "--arch", args.student, "--data", store, "--targets", targets,
                 "--out", student_run, "--epochs", "1", "--limit", str(args.images),
                 "--batch-size", str(args.batch), "--lr", str(LR), "--momentum", str(MOMENTUM),
                 "--weight-decay", str(WD), "--schedule", "constant", "--temperature", str(T_KD),
                 "--alpha", str(ALPHA), "--threads", threads], "kd distill")
            rate, seconds = epoch_rate(student_run)
            kd_rates.append(rate)
            kd_epochs.append(seconds)
            extracts.append(extract_s)
            log(f"round {r}: kd extract {extract_s:.2f} s, kd distill epoch {rate:.1f} img/s ({seconds:.2f} s)")

            _, out = run([python, os.path.abspath(__file__), "--torch-child", "--teacher", args.teacher,
                          "--student", args.student, "--images", str(args.images), "--batch", str(args.batch),
                          "--threads", threads, "--seed", str(r)], "PyTorch epoch")
            result = json.loads(out.strip().splitlines()[-1])
            torch_rates.append(result["images_per_second"])
            torch_epochs.append(result["seconds"])
            log(f"round {r}: torch online-teacher epoch {result['images_per_second']:.1f} img/s "
                f"({result['seconds']:.2f} s)")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    kd_ips, kd_s, ex_s = med(kd_rates), med(kd_epochs), med(extracts)
    t_ips, t_s = med(torch_rates), med(torch_epochs)
    print(f"Hinton KD, one epoch: teacher {args.teacher} -> student {args.student}, {args.images} images, "
          f"batch {args.batch}, threads {args.threads}, median of {args.rounds} round(s)")
    rows = [("kd distill, stored logits (epoch alone)", f"{kd_ips:.1f}", f"{kd_s:.2f}", f"{kd_ips / t_ips:.2f}"),
            ("torch, teacher online in every step", f"{t_ips:.1f}", f"{t_s:.2f}", "1.00"),
            (f"kd extract, one time ({args.images}+{args.test_images} images)", "", f"{ex_s:.2f}", "")]
    for n in shares:
        seconds = kd_s + ex_s / n
        ips = args.images / seconds
        label = f"kd, {n} student{'s' if n > 1 else ''} sharing one extraction"
        rows.append((label, f"{ips:.1f}", f"{seconds:.2f}", f"{ips / t_ips:.2f}"))
    header = ("", "img/s", "seconds", "kd/torch")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    for r in [header] + rows:
        print(f"{r[0]:<{widths[0]}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
