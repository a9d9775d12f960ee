"""The whole paper at scale: ``salanalysis reproduce`` on a synthetic COCO-sized data set.

Generates, seeded, in a temporary folder (removed afterwards unless ``--keep``), a
data set shaped like COCO val2014 (``--images``, default 40,504; 123,287 is
train+val2014): the annotations and one SALICON-like 8-bit PNG map per image of
``benchmarks/objects.py`` (640x480, ~7.2 polygon objects per image, 80 classes), and
two informative score sets (NPZ; logistic scores, the second slightly better). The
configuration has one saliency folder plus the built-in center bias, the two score
sets compared, ``n_boot = 1000`` and ``jobs = 0`` (all cores), as the issue's run.

Then, in one run:

- ``salanalysis reproduce`` in a subprocess, its memory sampled once a second (the
  largest PSS sum over the process tree, and the largest peak RSS of one process);
  every stage's seconds from its ``stages.json``; the size of ``OUT/.cache`` against
  the maps' size;
- the decode floor of the maps (``benchmarks/objects.py --phase floor``: only
  ``np.fromfile`` + ``cv2.imdecode`` of every map with the same number of processes,
  page cache warm from the run) and the ratio of the objects stage to it (the
  objects stage also reads the annotations and writes its table).

Prints seconds per 1,000 images for every stage and the whole run, and the 1-minute
load average before and after (the machine may be shared: CPU seconds are less
sensitive to other load than wall time).

Usage::

    nice python benchmarks/reproduce.py --images 40504
    nice python benchmarks/reproduce.py --images 123287 --n-boot 1000
    python benchmarks/reproduce.py --images 2000 --n-boot 200   # a quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLE_S = 1.0


def _bench_objects():
    """``benchmarks/objects.py`` as a module (its generator, memory sampler and floor phase)."""
    spec = importlib.util.spec_from_file_location("bench_objects", HERE / "objects.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_objects"] = mod  # its pool workers (forked) find their functions by this name
    spec.loader.exec_module(mod)
    return mod


def _scores(data_dir: Path, seed: int) -> dict[str, Path]:
    """Two informative score sets (NPZ) from the generated annotations' image-level labels."""
    data = json.loads((data_dir / "instances.json").read_text())
    ids = np.array(sorted(im["id"] for im in data["images"]), dtype=np.int64)
    cats = np.array(sorted(c["id"] for c in data["categories"]), dtype=np.int64)
    y = np.zeros((len(ids), len(cats)), dtype=bool)
    row = np.searchsorted(ids, [a["image_id"] for a in data["annotations"]])
    col = np.searchsorted(cats, [a["category_id"] for a in data["annotations"]])
    y[row, col] = True
    rng = np.random.default_rng(seed + 7)
    out = {}
    for name, shift in (("a", 0.0), ("b", 0.3)):
        logit = rng.normal(0, 1.5, size=y.shape) + np.where(y, 1.5 + shift, -1.5)
        p = out[name] = data_dir / f"scores_{name}.npz"
        np.savez(p, image_ids=ids, scores=(1 / (1 + np.exp(-logit))).astype(np.float32), categories=cats)
    return out


def _config(data_dir: Path, scores: dict[str, Path], n_boot: int, jobs: int) -> Path:
    from salanalysis.config import dump_toml

    cfg = {
        "inputs": {"annotations": str(data_dir / "instances.json")},
        "saliency": {"salicon": {"path": str(data_dir / "maps"), "label": "synthetic SALICON-like maps"},
                     "center": {"builtin": "center-bias", "label": "center-bias control"}},
        "scores": {name: {"path": str(p), "label": f"model {name.upper()}"} for name, p in scores.items()},
        "compare": {"a": "a", "b": "b"},
        "analysis": {"primary": "b", "n_boot": n_boot, "jobs": jobs},
    }
    path = data_dir / "reproduce.toml"
    path.write_text(dump_toml(cfg, "benchmarks/reproduce.py"))
    return path


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _cpu_children() -> float:
    t = os.times()
    return t.children_user + t.children_system


def run_reproduce(bo, cfg: Path, out: Path) -> dict:
    """``salanalysis reproduce`` in a subprocess: wall, CPU and peak memory of its process tree."""
    cmd = [sys.executable, "-m", "salanalysis", "reproduce", "--config", str(cfg), "--out", str(out), "--quiet"]
    c0, t0 = _cpu_children(), time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = {"pss": 0, "rss": 0}

    def sample() -> None:
        while proc.poll() is None:
            pss, rss = bo._mem(proc.pid)
            peak["pss"], peak["rss"] = max(peak["pss"], pss), max(peak["rss"], rss)
            time.sleep(SAMPLE_S)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    proc.wait()
    th.join()
    if proc.returncode:
        raise SystemExit(f"salanalysis reproduce failed with exit code {proc.returncode}")
    wall = time.perf_counter() - t0
    stages = json.loads((out / "stages.json").read_text())
    return {"wall_s": wall, "cpu_s": _cpu_children() - c0, "peak_pss_gb": peak["pss"] / 1e9,
            "peak_rss_one_process_gb": peak["rss"] / 1e9, "stages": stages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=40504, help="images (40,504: val2014; 123,287: train+val2014)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=0, help="reproduce's jobs (0: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", help="where to generate (default: a temporary folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and the output")
    args = ap.parse_args(argv)
    bo = _bench_objects()
    tmp = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="salanalysis-bench-reproduce-"))
    jobs = args.jobs or (os.cpu_count() or 1)
    try:
        t0 = time.perf_counter()
        info = bo.generate(tmp, args.images, args.seed, jobs)
        scores = _scores(tmp, args.seed)
        cfg = _config(tmp, scores, args.n_boot, args.jobs)
        gen_s = time.perf_counter() - t0
        n_img, n_obj = args.images, info["n_objects"]
        print(f"data set: {n_img} images, {n_obj} objects, maps {info['map_bytes'] / 1e6:.0f} MB; "
              f"generated in {gen_s:.0f} s in {tmp}")
        load0 = os.getloadavg()[0]
        out = tmp / "out"
        res = run_reproduce(bo, cfg, out)
        load1 = os.getloadavg()[0]
        cache = _du(out / ".cache")
        floor = bo.measure(["--phase", "floor", "--data-dir", str(tmp), "--jobs", str(jobs)])
        per_k = 1000.0 / n_img
        print(f"{'stage':<9} {'status':<9} {'seconds':>8} {'s / 1k images':>14} {'CPU s':>8}")
        for st in res["stages"]["stages"]:
            print(f"{st['stage']:<9} {st['status']:<9} {st['seconds']:8.1f} {st['seconds'] * per_k:14.2f} "
                  f"{st.get('cpu_seconds', float('nan')):8.1f}")
        print(f"{'total':<9} {'':<9} {res['wall_s']:8.1f} {res['wall_s'] * per_k:14.2f}   "
              f"(CPU {res['cpu_s']:.0f} s, all processes)")
        objects = next(st for st in res["stages"]["stages"] if st["stage"] == "objects")
        objects_s = objects["seconds"]
        print(f"peak memory: {res['peak_pss_gb']:.2f} GB PSS (process tree), "
              f"{res['peak_rss_one_process_gb']:.2f} GB max RSS of one process")
        print(f".cache: {cache / 1e6:.1f} MB = {100 * cache / info['map_bytes']:.2f}% of the maps "
              f"({info['map_bytes'] / 1e6:.0f} MB)")
        print(f"decode floor of the maps ({jobs} processes): {floor['wall_s']:.1f} s; objects stage / floor: "
              f"{objects_s / floor['wall_s']:.2f}x wall, {objects.get('cpu_seconds', float('nan')) / floor['cpu_s']:.2f}x CPU "
              "(the stage also prepares the masks of the annotations and builds its table)")
        print(f"1-min load average: {load0:.1f} before, {load1:.1f} after the run ({os.cpu_count()} cores)")
        summary = {"images": n_img, "objects": n_obj, "n_boot": args.n_boot, "jobs": args.jobs,
                   "generation_s": gen_s, "map_bytes": info["map_bytes"], "cache_bytes": cache,
                   "floor_s": floor["wall_s"], "load_before": load0, "load_after": load1, **res}
        print(json.dumps(summary))
    finally:
        if not args.keep and not args.data_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
