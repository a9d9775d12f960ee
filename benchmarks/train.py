"""Benchmark the torch training path on this machine (CPU unless CUDA is present).

1. Data pipeline: images/s of ``CocoMultiLabel`` + the training transform
   (random resized crop 224, flip, normalise) through the ``DataLoader`` on the
   bundled demo JPEGs, for several worker counts, and images/s per worker.
2. One training step (forward, MCE loss, backward, SGD step) of a DualStream
   against two Baselines stepped one after the other: the dual-stream model should
   cost no more than the two baselines it is made of (overhead ratio, target <= 5%).
   The two are timed interleaved (A, B, A, B, ...) so that machine load hits both
   alike; medians are reported.

Usage::

    .venv/bin/python benchmarks/train.py [--size 224] [--batch 4] [--repeats 7] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from salanalysis.coco import Annotations
from salanalysis.demo import demo_paths
from salanalysis.dualstream.data import CocoMultiLabel, SeededSampler, make_loader, train_transform
from salanalysis.dualstream.loss import mce_loss
from salanalysis.dualstream.models import Baseline, DualStream


def bench_data(workers: list[int], passes: int, size: int) -> list[dict]:
    d = demo_paths()
    ds = CocoMultiLabel(Annotations.load(d.annotations), d.images, train_transform(size), missing="skip")
    rows = []
    for w in workers:
        sampler = SeededSampler(ds, 1, 0, seed=0)
        loader = make_loader(ds, sampler, 9, workers=w, persistent_workers=w > 0)
        sampler.set_epoch(0)
        for _ in loader:  # warm-up: start workers, fill caches
            pass
        n, t0 = 0, time.perf_counter()
        for epoch in range(1, passes + 1):
            sampler.set_epoch(epoch)
            for images, _, _ in loader:
                n += images.shape[0]
        dt = time.perf_counter() - t0
        rate = n / dt
        rows.append({"workers": w, "images": n, "seconds": dt, "images_per_s": rate,
                     "per_worker": rate / max(w, 1)})
        del loader
    return rows


def _step(model, opt, x, y) -> None:
    loss = mce_loss(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_step(size: int, batch: int, repeats: int, classes: int = 80) -> dict:
    torch.manual_seed(0)
    b1, b2, dual = Baseline(classes), Baseline(classes), DualStream(classes)
    opts = [torch.optim.SGD(m.parameters(), lr=1e-6, momentum=0.9, weight_decay=1e-4) for m in (b1, b2, dual)]
    x = torch.randn(batch, 3, size, size)
    y = (torch.rand(batch, classes) < 0.05).float()
    for m in (b1, b2, dual):
        m.train()
    # warm-up
    _step(b1, opts[0], x, y)
    _step(b2, opts[1], x, y)
    _step(dual, opts[2], x, y)
    two, one = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _step(b1, opts[0], x, y)
        _step(b2, opts[1], x, y)
        two.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _step(dual, opts[2], x, y)
        one.append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(one, two)]
    return {"two_baselines_s": statistics.median(two), "dualstream_s": statistics.median(one),
            "ratio_of_medians": statistics.median(one) / statistics.median(two),
            "median_paired_ratio": statistics.median(ratios), "all_two": two, "all_dual": one}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--passes", type=int, default=3, help="passes over the 27 demo images per worker count")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}")
    print("\n== data pipeline (demo JPEGs, train transform 224, batch 9) ==")
    print(f"{'workers':>7} {'images':>6} {'seconds':>8} {'images/s':>9} {'per worker':>10}")
    for r in bench_data(args.workers, args.passes, 224):
        print(f"{r['workers']:>7} {r['images']:>6} {r['seconds']:>8.2f} {r['images_per_s']:>9.1f} "
              f"{r['per_worker']:>10.1f}")
    print(f"\n== one training step, batch {args.batch}, {args.size} px, {args.repeats} interleaved repeats ==")
    s = bench_step(args.size, args.batch, args.repeats)
    print(f"two Baselines (median) : {s['two_baselines_s']:.3f} s")
    print(f"DualStream    (median) : {s['dualstream_s']:.3f} s")
    print(f"ratio DualStream / two Baselines: {s['ratio_of_medians']:.3f} (median of medians), "
          f"{s['median_paired_ratio']:.3f} (median of paired ratios); overhead "
          f"{100 * (s['median_paired_ratio'] - 1):+.1f}% (target <= +5%)")
    print("paired ratios:", " ".join(f"{a / b:.3f}" for a, b in zip(s["all_dual"], s["all_two"])))


if __name__ == "__main__":
    main()
