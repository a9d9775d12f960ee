"""Benchmark of Fig. 3's clutter bootstrap: COCO val2014-shaped and LVIS-shaped sets.

Two synthetic sets (seeded; labels only, boxes as geometry, two informative score sets):

- ``val2014``: 40,504 images, ~7.2 objects per image (1 + negative binomial), 80
  classes with gamma-distributed frequencies (a long tail, as COCO);
- ``lvis``: 5,000 images x 1,203 classes, ~12 objects per image, each image listing
  15 verified-absent classes (``neg_category_ids``): the federated rule applies.

Each workload is what ``salanalysis clutter`` (and the reproduce stage) computes: the
map, the trend and the difference of the two score sets, on the same resamples. Each
run is a fresh subprocess reporting wall time, CPU time (all threads) and peak RSS
(``ru_maxrss``, with the RSS after generating the data beside it).

With ``--reference-src DIR`` (the source tree of an earlier revision, e.g.
``git archive REV | tar -x -C DIR``), the same workload also runs on that tree at
``--reference-boot`` resamples, next to this tree at the same number, and the tables
are checked to be identical (a hash of their CSV text); ratios are printed.

Usage::

    nice python benchmarks/clutter.py --shape val2014 --n-boot 1000
    nice python benchmarks/clutter.py --shape lvis --n-boot 1000 --reference-src /tmp/base --reference-boot 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHAPES = {"val2014": {"n": 40504, "c": 80, "mean_obj": 7.2, "lvis": False},
          "lvis": {"n": 5000, "c": 1203, "mean_obj": 12.0, "lvis": True}}


def make(n: int, c: int, mean_obj: float, lvis: bool, seed: int = 0):
    """Annotations and two score sets (see the module docstring)."""
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

    rng = np.random.default_rng(seed)
    prev = rng.gamma(0.6, 1.0, size=c)
    prev = prev / prev.sum()
    p = 2 / (2 + mean_obj - 1)
    counts = 1 + rng.negative_binomial(2, p, n)
    counts[rng.random(n) < 0.01] = 0  # a few images without objects
    images, anns, aid = [], [], 1
    for i in range(n):
        im = {"id": i + 1, "width": 640, "height": 480}
        cats = rng.choice(c, size=int(counts[i]), p=prev) + 1
        for cc in cats:
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(cc), "bbox": [1.0, 1.0, 10.0, 10.0],
                         "iscrowd": 0, "area": 100.0})
            aid += 1
        if lvis:
            neg = set(int(x) for x in rng.choice(c, size=min(c, 15), replace=False) + 1)
            im["neg_category_ids"] = sorted(neg - set(int(x) for x in cats))
            im["not_exhaustive_category_ids"] = []
        images.append(im)
    ann = Annotations({"images": images, "annotations": anns,
                       "categories": [{"id": j + 1, "name": f"c{j}"} for j in range(c)]})
    y = ann.label_matrix()
    sets = []
    for j, shift in enumerate((0.0, 0.15)):
        logit = rng.normal(0, 1.5, size=y.shape) + np.where(y, 2.2 + shift, -2.2)
        sets.append(Scores.from_array(f"m{j}", ann, (1 / (1 + np.exp(-logit))).astype(np.float32)))
    return ann, sets


def phase(shape: str, n_boot: int) -> dict:
    """One workload in this process (whichever salanalysis is on the path)."""
    from salanalysis import clutter

    ann, sets = make(**SHAPES[shape])
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0, c0 = time.perf_counter(), time.process_time()
    opts = {"n_boot": n_boot, "seed": 0}
    if hasattr(clutter, "clutter_all"):
        cm, trend, diffs = clutter.clutter_all(ann, sets, [("m0", "m1")], **opts)
        diff = diffs[0]
    else:  # earlier revisions: one bootstrap per table
        cm, trend = clutter.clutter_tables(ann, sets, **opts)
        diff = clutter.clutter_difference(ann, sets[0], sets[1], k=cm.attrs["k"], **opts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    digest = hashlib.sha256("".join(t.to_csv(index=False) for t in (cm, trend, diff)).encode()).hexdigest()
    return {"shape": shape, "n_boot": n_boot, "wall_s": wall, "cpu_s": cpu, "k": int(cm.attrs["k"]),
            "federated": cm.attrs["federated"], "rss_data_gb": rss_data / 1e9,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "tables_sha256": digest}


def measure(shape: str, n_boot: int, src: str | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(src).resolve()) if src else str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, __file__, "--phase", "--shape", shape, "--n-boot", str(n_boot)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(name: str, r: dict) -> str:
    return (f"{name:<22} {r['n_boot']:>5} resamples: {r['wall_s']:7.1f} s wall, {r['cpu_s']:7.1f} s CPU, "
            f"peak RSS {r['peak_rss_gb']:.2f} GB (data alone {r['rss_data_gb']:.2f} GB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=tuple(SHAPES), default="val2014")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--reference-src", help="source tree of an earlier revision to compare with")
    ap.add_argument("--reference-boot", type=int, default=100, help="resamples of the side-by-side comparison")
    ap.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.shape, args.n_boot)))
        return 0
    print(f"shape {args.shape}: {SHAPES[args.shape]}; {os.cpu_count()} cores, "
          f"1-min load {os.getloadavg()[0]:.1f}")
    res = {"full": measure(args.shape, args.n_boot)}
    print(_line("this tree", res["full"]), f"K={res['full']['k']}, federated {res['full']['federated']}")
    if args.reference_src:
        res["this"] = measure(args.shape, args.reference_boot)
        res["reference"] = measure(args.shape, args.reference_boot, args.reference_src)
        print(_line("this tree", res["this"]))
        print(_line("reference tree", res["reference"]))
        same = res["this"]["tables_sha256"] == res["reference"]["tables_sha256"]
        print(f"tables identical to the reference's: {same}")
        print(f"ratio reference / this tree at {args.reference_boot} resamples: "
              f"wall {res['reference']['wall_s'] / res['this']['wall_s']:.1f}x, "
              f"CPU {res['reference']['cpu_s'] / res['this']['cpu_s']:.1f}x; peak RSS above the data: "
              f"{res['reference']['peak_rss_gb'] - res['reference']['rss_data_gb']:.2f} GB vs "
              f"{res['this']['peak_rss_gb'] - res['this']['rss_data_gb']:.2f} GB")
    print(f"1-min load after: {os.getloadavg()[0]:.1f}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
