"""The object table on Dask: 1 vs 2 local workers, against the local process pool, per 1,000 images.

Uses the synthetic val2014-shaped data set of ``benchmarks/objects.py`` (640x480
images, ~7.2 polygon objects each, one SALICON-like PNG map per image; generated
once into ``--data-dir``), and measures side by side in one run:

- ``local``: :func:`salanalysis.objects.compute_objects` with ``--jobs`` worker
  processes (the default executor);
- ``dask-1`` and ``dask-2``: the same call inside
  :func:`salanalysis._cluster.use_cluster` on a ``distributed.LocalCluster`` with
  1 and 2 worker processes (one thread each, the workers' statistical profiler off
  as the README recommends) - what ``--cluster tcp://...`` does
  with workers on other machines, here on this one.

Every table is checked to be identical (``assert_frame_equal(check_exact=True)``)
to the local one. Printed: wall seconds, seconds per 1,000 images and the
speed-up of 2 workers over 1. On a machine with 2 cores, 2 workers can at best
halve the time; on a cluster the speed-up follows the number of machines until
the shared storage's read bandwidth is the limit.

Usage::

    python benchmarks/cluster.py --scale 0.05 --data-dir /tmp/salanalysis-bench-objects
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import pandas as pd


def _objects_bench():
    spec = importlib.util.spec_from_file_location("bench_objects", Path(__file__).with_name("objects.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_objects"] = mod  # its map writers are pickled by name for the pool
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.05, help="fraction of val2014's 40,504 images")
    ap.add_argument("--data-dir", default="/tmp/salanalysis-bench-cluster", help="dataset cache")
    ap.add_argument("--jobs", type=int, default=2, help="processes of the local run")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from distributed import LocalCluster

    from salanalysis._cluster import use_cluster
    from salanalysis.coco import Annotations
    from salanalysis.objects import compute_objects

    n_images = round(40504 * args.scale)
    data = Path(args.data_dir)
    info = _objects_bench().generate(data, n_images, args.seed, args.jobs)
    ann = Annotations.load(data / "instances.json")
    sal = {"salicon": str(data / "maps")}
    # warm the page cache (every run then reads the maps from memory, as the floor of benchmarks/objects.py)
    for f in (data / "maps").iterdir():
        f.read_bytes()

    rows = []
    t0 = time.perf_counter()
    ref = compute_objects(ann, sal, jobs=args.jobs).objects
    rows.append(("local", f"process pool, {args.jobs} workers", time.perf_counter() - t0))
    import dask

    # as the README recommends for workers: no statistical profiler (its 10 ms samples take the GIL)
    dask.config.set({"distributed.worker.profile.enabled": False})
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=50) as lc:
            with use_cluster(lc.scheduler_address):
                compute_objects(ann, sal, jobs=1)  # workers import salanalysis once (not timed)
                t0 = time.perf_counter()
                got = compute_objects(ann, sal, jobs=1).objects
                rows.append((f"dask-{n}", f"LocalCluster, {n} worker(s)", time.perf_counter() - t0))
        pd.testing.assert_frame_equal(got, ref, check_exact=True)

    print(f"object table, {n_images} images, {info['n_objects']} objects, one map source; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    print(f"{'run':8} {'executor':28} {'seconds':>8} {'s/1000 img':>11}")
    for name, what, sec in rows:
        print(f"{name:8} {what:28} {sec:8.2f} {1000 * sec / n_images:11.2f}")
    t = dict((r[0], r[2]) for r in rows)
    print(f"speed-up dask-2 / dask-1: {t['dask-1'] / t['dask-2']:.2f}x; dask-2 / local: "
          f"{t['local'] / t['dask-2']:.2f}x (tables identical to the local run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
