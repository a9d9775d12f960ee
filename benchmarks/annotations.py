"""Peak memory of reading a COCO instances file: ``json.load`` (in memory) against the stream.

Writes (once, cached in ``--data-dir``) the synthetic val2014-shaped
instances file of ``benchmarks/objects.py`` (``round(40504 * scale)`` images,
about 7.2 polygon objects each, 8-40 vertices, 2 decimals) and then loads it,
each in a fresh subprocess, alternating ``--runs`` times:

- ``memory``: ``Annotations.load(path, stream=False)`` (``json.load``, the
  pycocotools index and the tables; the whole JSON tree stays referenced);
- ``stream``: ``Annotations.load(path, stream=True)``
  (:mod:`salanalysis._coco_stream`: ijson item by item into compact arrays).

With ``--rle`` every object's segmentation is its compressed RLE instead (the
shape of LVIS and of Open Images masks in COCO format).

Per run: the wall time of the load, the peak resident memory of the process
above what it held before the load (``VmHWM`` minus ``VmRSS`` after
``import salanalysis.coco``; the kernel keeps ``VmHWM`` exactly), and the
memory still held once loaded (``VmRSS`` after the load, same baseline). The
table gives medians, "MB per million objects" (peak above baseline / objects
x 10^6) and the ratio memory / stream. A run also checks that both give the
same instance table.

Usage::

    python benchmarks/annotations.py --scale 0.25 --runs 3 --data-dir /tmp/salanalysis-bench-ann
    python benchmarks/annotations.py --scale 0.25 --runs 3 --rle
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_CHILD = r"""
import gc, json, sys, time
def mem(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
from salanalysis.coco import Annotations
import pandas as pd
gc.collect()
base = mem("VmRSS:")
t = time.perf_counter()
a = Annotations.load(sys.argv[1], stream=sys.argv[2] == "stream")
wall = time.perf_counter() - t
gc.collect()
held = mem("VmRSS:") - base
peak = mem("VmHWM:") - base
digest = int(pd.util.hash_pandas_object(a.instances, index=False).sum())
print(json.dumps({"wall": wall, "peak": peak, "held": held, "objects": len(a.instances), "digest": digest}))
"""


def _generator():
    spec = importlib.util.spec_from_file_location("bench_objects", HERE / "objects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _as_rle(data: dict) -> dict:
    """Every polygon segmentation as compressed RLE (as LVIS and Open Images masks are stored)."""
    from pycocotools import mask as mask_utils

    gen = _generator()
    for a in data["annotations"]:
        rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], gen.H, gen.W))
        a["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    return data


def _data(data_dir: Path, scale: float, seed: int, rle: bool = False) -> Path:
    n = round(_generator().N_VAL2014 * scale)
    path = data_dir / f"instances_synth_{n}_{seed}{'_rle' if rle else ''}.json"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        data = _generator()._annotations(n, seed)
        if rle:
            data = _as_rle(data)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    return path


def _run(path: Path, how: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), how], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.25, help="fraction of val2014's 40,504 images")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/salanalysis-bench-ann"))
    ap.add_argument("--rle", action="store_true", help="the same objects as compressed RLE, not polygons")
    args = ap.parse_args(argv)
    path = _data(args.data_dir, args.scale, args.seed, args.rle)
    size_mb = path.stat().st_size / 2**20
    res: dict[str, list[dict]] = {"memory": [], "stream": []}
    for _ in range(args.runs):
        for how in res:
            res[how].append(_run(path, how))
    assert res["memory"][0]["digest"] == res["stream"][0]["digest"], "the two readers differ"
    n = res["memory"][0]["objects"]
    print(f"file: {path.name}, {size_mb:.1f} MB, {n:,} objects; medians of {args.runs} runs, each in a fresh process")
    print(f"{'reader':8} {'load s':>8} {'peak MB':>9} {'held MB':>9} {'peak MB / 1M objects':>21}")
    med = {}
    for how, runs in res.items():
        med[how] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "peak", "held")}
        m = med[how]
        print(f"{how:8} {m['wall']:8.2f} {m['peak']:9.1f} {m['held']:9.1f} {m['peak'] / n * 1e6:21.0f}")
    print(f"ratio memory/stream: peak {med['memory']['peak'] / med['stream']['peak']:.2f}x, "
          f"held {med['memory']['held'] / med['stream']['held']:.2f}x, "
          f"load time {med['memory']['wall'] / med['stream']['wall']:.2f}x")


if __name__ == "__main__":
    main()
