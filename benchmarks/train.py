"""Benchmark the torch training path on this machine (CPU unless CUDA is present).

1. Data pipeline: images/s of ``CocoMultiLabel`` training batches (random
   resized crop 224, flip, normalise) through the ``DataLoader`` on the bundled
   demo JPEGs, side by side in one run (interleaved passes, medians): the
   per-image float32 transform (``train_transform``, the pipeline before
   ``salanalysis.dualstream.pipeline``), the ``cpu`` pipeline (uint8 crops,
   normalised per batch on the device; with and without reduced-size JPEG
   decoding) and the ``gpu`` pipeline (bytes from the workers; decoding and
   crops on the device), measured two ways: the whole cost per image in one
   thread of this process (the device half run on the CPU), and batches out
   of the ``DataLoader`` for several worker counts (the workers' half only: on
   a GPU machine the device half runs on the GPU).
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
from salanalysis.dualstream.pipeline import InputPipeline

PIPELINES = {
    "float32 per image (before)": None,
    "cpu pipeline": {"kind": "cpu", "draft": True},
    "cpu pipeline, no reduced decoding": {"kind": "cpu", "draft": False},
    "gpu pipeline on the CPU": {"kind": "gpu", "draft": False},
}


class Repeat(torch.utils.data.Dataset):
    """The demo images ``k`` times (each repeat its own item: other crops)."""

    def __init__(self, ds, k: int) -> None:
        self.ds, self.k = ds, k

    def __len__(self) -> int:
        return self.k * len(self.ds)

    def __getitem__(self, key):
        i, seed = key
        return self.ds[(i % len(self.ds), seed)]


def _loader(name: str, size: int, workers: int, repeat: int):
    d = demo_paths()
    spec = PIPELINES[name]
    if spec is None:
        ds = CocoMultiLabel(Annotations.load(d.annotations), d.images, train_transform(size), missing="skip")
        prepare, collate = (lambda b: b[0]), None
    else:
        pipe = InputPipeline(spec["kind"], size, train=True, draft=spec["draft"])
        ds = CocoMultiLabel(Annotations.load(d.annotations), d.images, pipe, missing="skip")
        to_device = pipe.prepare_fn("cpu")
        prepare, collate = (lambda b: to_device(b)[0]), pipe.collate_fn()
    ds = Repeat(ds, repeat)
    sampler = SeededSampler(ds, 1, 0, seed=0)
    loader = make_loader(ds, sampler, 9, workers=workers, persistent_workers=workers > 0, collate_fn=collate)
    return sampler, loader, prepare


def bench_items(size: int, passes: int) -> dict[str, float]:
    """Milliseconds per image of each pipeline's worker half (plus its share of the batch half), one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    try:
        setups = {name: _loader(name, size, 0, 1) for name in PIPELINES}
        times: dict[str, list[float]] = {name: [] for name in PIPELINES}
        for epoch in range(passes + 1):
            for name, (sampler, loader, prepare) in setups.items():
                sampler.set_epoch(epoch)
                t0, k = time.perf_counter(), 0
                for batch in loader:
                    k += prepare(batch).shape[0]
                if epoch:
                    times[name].append((time.perf_counter() - t0) / k * 1e3)
        return {name: statistics.median(v) for name, v in times.items()}
    finally:
        torch.set_num_threads(threads)


def bench_data(workers: list[int], passes: int, size: int, repeat: int) -> list[dict]:
    rows = []
    for w in workers:
        setups = {name: _loader(name, size, w, repeat) for name in PIPELINES}
        times: dict[str, list[float]] = {name: [] for name in PIPELINES}
        n = 0
        for epoch in range(passes + 1):  # pass 0 warms up (starts workers, fills caches)
            for name, (sampler, loader, _) in setups.items():  # interleaved: load hits all alike
                sampler.set_epoch(epoch)
                t0, k = time.perf_counter(), 0
                for batch in loader:  # the workers' half only: on a GPU machine the rest runs on the GPU
                    k += len(batch[2])
                if epoch:
                    times[name].append(time.perf_counter() - t0)
                    n = k
        for name in PIPELINES:
            dt = statistics.median(times[name])
            rows.append({"workers": w, "pipeline": name, "images": n, "seconds": dt, "images_per_s": n / dt,
                         "per_worker": n / dt / max(w, 1)})
        del setups
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
    ap.add_argument("--passes", type=int, default=3, help="timed passes per worker count and pipeline")
    ap.add_argument("--repeat", type=int, default=8, help="each pass crops the 27 demo images this many times")
    ap.add_argument("--no-step", action="store_true", help="time the data pipelines only")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}")
    print(f"\n== data pipeline, one image at a time in this process, 1 thread (median of {args.passes + 2} passes "
          "over the 27 demo JPEGs, crops 224) ==")
    per = bench_items(224, args.passes + 2)
    ref = per["float32 per image (before)"]
    for name, ms in per.items():
        print(f"  {name:<34} {ms:>6.2f} ms/image  {ref / ms:>5.2f}x")
    print(f"\n== DataLoader, the workers' half ({args.repeat} x 27 demo JPEGs per pass, training crops 224, "
          f"batch 9, median of {args.passes} interleaved passes) ==")
    print(f"{'workers':>7}  {'pipeline':<34} {'seconds':>8} {'images/s':>9} {'per worker':>10} {'vs before':>9}")
    rows = bench_data(args.workers, args.passes, 224, args.repeat)
    for r in rows:
        before = next(b for b in rows if b["workers"] == r["workers"] and PIPELINES[b["pipeline"]] is None)
        print(f"{r['workers']:>7}  {r['pipeline']:<34} {r['seconds']:>8.3f} {r['images_per_s']:>9.1f} "
              f"{r['per_worker']:>10.1f} {r['images_per_s'] / before['images_per_s']:>8.2f}x")
    if args.no_step:
        return
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
