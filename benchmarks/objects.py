"""Benchmark of the object table at COCO val2014 scale.

Generates (once, cached in ``--data-dir``) a synthetic dataset shaped like COCO
val2014 with SALICON-like maps: ``round(40504 * scale)`` images of 640x480,
about 7.2 polygon instances per image (1 + negative binomial; ~10% of the
objects in two parts; 8-40 vertices, coordinates with 2 decimals as COCO;
sizes log-uniform in sqrt-area between 6 and 350 px, i.e. roughly COCO's
small/medium/large mix), and one 8-bit grayscale PNG map per image (15
fixation-like points blurred with a Gaussian of sigma 19, as SALICON's maps).

Then measures, side by side in one run, each in a fresh subprocess:

- ``fast``: :func:`salanalysis.objects.compute_objects` (this implementation)
  on all images with ``--jobs`` workers, one saliency source and one score set;
- ``floor``: only reading and decoding every map (``np.fromfile`` +
  ``cv2.imdecode``) with the same number of worker processes;
- ``reference``: :func:`salanalysis.objects.object_table_reference` (the
  straightforward method: full-image ``annToMask`` per object, map decoded,
  resized and normalised per object, one process) on the first
  ``--ref-images`` images, extrapolated linearly to the whole set by object
  count (stated in the output). The fast run on the same subset is checked to
  give identical area_px, cx, cy, center_dist and sal_max.

Wall time excludes loading the annotation JSON (the same for every method;
reported separately). Peak memory: the largest sum of PSS over the measured
process tree (sampled every second from ``/proc/PID/smaps_rollup``; sampling
more often costs the measured run CPU time) and the largest peak RSS of a
single process (``VmHWM``, which the kernel keeps exactly between samples).

With ``--compare-src DIR`` (a source tree of another revision, e.g.
``git archive REV | tar -x -C DIR``) it measures instead ``fast`` of this tree
and of DIR, alternating, ``--compare-runs`` times each, and prints the median
wall and CPU times and their ratio (a change that must not slow the fast path).

Usage::

    python benchmarks/objects.py --scale 1.0 --jobs 2 --data-dir /tmp/salanalysis-bench-objects
    python benchmarks/objects.py --scale 0.25 --compare-src /tmp/base --compare-runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

N_VAL2014 = 40504
MEAN_OBJECTS = 7.2
W, H = 640, 480


# ------------------------------------------------------------------- generation
def _polygon(rng: np.random.Generator) -> list[float]:
    k = int(rng.integers(8, 41))
    size = float(np.exp(rng.uniform(np.log(6), np.log(350))))
    r = size / np.sqrt(np.pi * 0.55)
    cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.55, 1.0, k)
    x = np.clip(cx + rad * np.cos(ang), 0, W)
    y = np.clip(cy + rad * np.sin(ang), 0, H)
    return np.round(np.stack([x, y], 1).ravel(), 2).tolist()


def _annotations(n_images: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    p = 2 / (2 + MEAN_OBJECTS - 1)
    counts = 1 + rng.negative_binomial(2, p, n_images)
    images, anns = [], []
    aid = 1
    for i in range(n_images):
        iid = i + 1
        images.append(
            {"id": iid, "file_name": f"COCO_val2014_{iid:012d}.jpg", "width": W, "height": H}
        )
        for _ in range(int(counts[i])):
            polys = [_polygon(rng) for _ in range(2 if rng.random() < 0.1 else 1)]
            xy = np.concatenate([np.reshape(q, (-1, 2)) for q in polys])
            x0, y0 = xy.min(0)
            x1, y1 = xy.max(0)
            anns.append(
                {
                    "id": aid,
                    "image_id": iid,
                    "category_id": int(rng.integers(1, 81)),
                    "segmentation": polys,
                    "area": 0.0,
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "iscrowd": 0,
                }
            )
            aid += 1
    cats = [{"id": c, "name": f"class{c:02d}", "supercategory": "x"} for c in range(1, 81)]
    return {"images": images, "annotations": anns, "categories": cats}


def _write_maps(args: tuple[str, int, int, int]) -> None:
    import cv2

    cv2.setNumThreads(1)
    folder, start, stop, seed = args
    for iid in range(start, stop):
        rng = np.random.default_rng([seed, iid])
        m = np.zeros((H, W), np.float32)
        n = 15
        xs = np.clip(rng.normal(W / 2, W / 4, n), 0, W - 1).astype(int)
        ys = np.clip(rng.normal(H / 2, H / 4, n), 0, H - 1).astype(int)
        m[ys, xs] = 1.0
        m = cv2.GaussianBlur(m, (0, 0), 19)
        m = (255 * m / m.max()).astype(np.uint8)
        cv2.imwrite(os.path.join(folder, f"COCO_val2014_{iid:012d}.png"), m)


def generate(data_dir: Path, n_images: int, seed: int, jobs: int) -> dict:
    """Write (or reuse) the synthetic dataset; returns its manifest."""
    manifest = data_dir / "manifest.json"
    want = {"n_images": n_images, "seed": seed, "version": 1}
    if manifest.exists() and json.loads(manifest.read_text()).get("params") == want:
        return json.loads(manifest.read_text())
    import multiprocessing as mp

    t0 = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    maps = data_dir / "maps"
    maps.mkdir(exist_ok=True)
    for f in maps.iterdir():
        f.unlink()
    data = _annotations(n_images, seed)
    (data_dir / "instances.json").write_text(json.dumps(data))
    n_obj = len(data["annotations"])
    rng = np.random.default_rng(seed + 1)
    scores = rng.random((n_images, 80))
    np.savez(
        data_dir / "scores.npz",
        image_ids=np.arange(1, n_images + 1),
        scores=scores,
        categories=np.array([c["name"] for c in data["categories"]]),
    )
    del data
    step = 500
    tasks = [
        (str(maps), s, min(s + step, n_images + 1), seed) for s in range(1, n_images + 1, step)
    ]
    with mp.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap_unordered(_write_maps, tasks):
            pass
    info = {
        "params": want,
        "n_objects": n_obj,
        "generation_s": time.perf_counter() - t0,
        "map_bytes": sum(f.stat().st_size for f in maps.iterdir()),
    }
    manifest.write_text(json.dumps(info, indent=2))
    return info


# ------------------------------------------------------------------------ phases
def _floor_chunk(paths: list[str]) -> int:
    import cv2

    cv2.setNumThreads(1)
    n = 0
    for p in paths:
        arr = cv2.imdecode(np.fromfile(p, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        n += int(arr.shape[0])
    return n


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    import resource

    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _timed(out: dict, t0: float, c0: float) -> None:
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = _cpu() - c0
    out["loadavg_1min_after"] = os.getloadavg()[0]


def phase(name: str, data_dir: Path, jobs: int, ref_images: int) -> dict:
    """Run one measured phase in this process; returns timings as a dict."""
    from salanalysis.coco import Annotations
    from salanalysis.objects import compute_objects, object_table_reference
    from salanalysis.scores import Scores, read_scores

    out: dict = {"phase": name}
    if name == "floor":
        import multiprocessing as mp

        paths = sorted(str(p) for p in (data_dir / "maps").iterdir())
        t0, c0 = time.perf_counter(), _cpu()
        with mp.get_context("fork").Pool(jobs) as pool:
            chunks = [paths[i : i + 32] for i in range(0, len(paths), 32)]
            total = sum(pool.imap(_floor_chunk, chunks))
        _timed(out, t0, c0)
        out["n_maps"] = len(paths)
        assert total == len(paths) * H
        return out
    t0 = time.perf_counter()
    ann = Annotations.load(data_dir / "instances.json")
    out["load_s"] = time.perf_counter() - t0
    if name == "reference":
        ids = ann.images["image_id"].to_numpy()[:ref_images]
        sub = _subset(ann, set(int(i) for i in ids))
        full = read_scores(data_dir / "scores.npz", ann, name="model")
        rows = np.searchsorted(full.image_ids, sub.image_ids)
        scores = Scores(
            "model", sub.image_ids, full.category_ids, full.categories, full.scores[rows]
        )
        t0, c0 = time.perf_counter(), _cpu()
        ref = object_table_reference(sub, {"sal": data_dir / "maps"}, [scores])
        _timed(out, t0, c0)
        out["n_objects"] = len(ref)
        fast = compute_objects(sub, {"sal": data_dir / "maps"}, [scores], jobs=1).objects
        same = {
            c: bool(np.array_equal(fast[c].to_numpy(), ref[c].to_numpy(), equal_nan=True))
            for c in ("area_px", "cx", "cy", "center_dist", "sal_max_sal", "score_model")
        }
        out["identical_on_subset"] = same
        out["sal_mean_max_abs_diff"] = float(
            np.nanmax(np.abs(fast["sal_mean_sal"].to_numpy() - ref["sal_mean_sal"].to_numpy()))
        )
        return out
    scores = read_scores(data_dir / "scores.npz", ann, name="model")
    t0, c0 = time.perf_counter(), _cpu()
    res = compute_objects(ann, {"sal": data_dir / "maps"}, [scores], jobs=jobs)
    _timed(out, t0, c0)
    out["n_objects"] = len(res.objects)
    out["n_images"] = len(res.images)
    out["missing_maps"] = res.missing_maps
    return out


def _subset(ann, ids: set[int]):
    from salanalysis.coco import Annotations

    d = ann.coco.dataset
    data = {
        "images": [im for im in d["images"] if im["id"] in ids],
        "annotations": [a for a in d["annotations"] if a["image_id"] in ids],
        "categories": d["categories"],
    }
    return Annotations(data, "subset")


# ---------------------------------------------------------------- measurement
def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return pids


def _mem(pid: int) -> tuple[int, int]:
    """(sum of PSS, largest peak RSS of one process) in bytes over a process tree.

    PSS comes from ``smaps_rollup`` (the kernel walks the page tables: expensive
    for the 1.4 GB Python heaps here), the peak RSS from ``VmHWM`` in ``status``
    (the kernel's own high-water mark: cheap and exact between samples).
    """
    pss = hwm = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
        except OSError:
            pass
    return pss, hwm


SAMPLE_S = 1.0  # at 0.1 s, reading smaps_rollup of the fast run's processes added ~15% to its wall time


def measure(argv: list[str], src: str | None = None) -> dict:
    """Run ``benchmarks/objects.py --phase ...`` in a subprocess, sampling its memory.

    ``src``: import salanalysis from this source tree (PYTHONPATH) instead of the installed one.
    """
    env = None if src is None else {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, env=env)
    peak = {"pss": 0, "rss": 0, "cpu": 0.0, "n": 0}

    def sample() -> None:
        while proc.poll() is None:
            pss, rss = _mem(proc.pid)
            peak["pss"] = max(peak["pss"], pss)
            peak["rss"] = max(peak["rss"], rss)
            peak["n"] += 1
            peak["cpu"] = time.thread_time()
            time.sleep(SAMPLE_S)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    th.join()
    if proc.returncode:
        raise SystemExit(f"phase {argv} failed with exit code {proc.returncode}")
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_pss_gb"] = peak["pss"] / 1e9
    res["peak_rss_one_process_gb"] = peak["rss"] / 1e9
    res["sampler_cpu_s"] = peak["cpu"]
    res["n_samples"] = peak["n"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of val2014's 40,504 images")
    ap.add_argument("--data-dir", default="/tmp/salanalysis-bench-objects", help="dataset cache")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--ref-images", type=int, default=200, help="images for the straightforward run"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-src", help="source tree of another revision: compare its fast phase with this one's")
    ap.add_argument("--compare-runs", type=int, default=3, help="runs of each tree with --compare-src")
    ap.add_argument("--phase", choices=("fast", "floor", "reference"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    data_dir = Path(args.data_dir)
    if args.phase:
        print(json.dumps(phase(args.phase, data_dir, args.jobs, args.ref_images)))
        return 0
    n_images = max(1, round(N_VAL2014 * args.scale))
    t0 = time.perf_counter()
    info = generate(data_dir, n_images, args.seed, args.jobs)
    print(
        f"dataset: {n_images} images, {info['n_objects']} objects "
        f"({info['n_objects'] / n_images:.2f}/image), maps {info['map_bytes'] / 1e6:.0f} MB "
        f"in {data_dir} (generated in {info['generation_s']:.0f} s; this run "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    common = ["--data-dir", str(data_dir), "--jobs", str(args.jobs)]
    common += ["--ref-images", str(args.ref_images)]
    if args.compare_src:
        return compare(common, args.compare_src, args.compare_runs)
    fast = measure(["--phase", "fast", *common])
    floor = measure(["--phase", "floor", *common])
    ref = measure(["--phase", "reference", *common])
    ref_full = ref["wall_s"] / ref["n_objects"] * fast["n_objects"]
    ref_full_cpu = ref["cpu_s"] / ref["n_objects"] * fast["n_objects"]
    print(f"load annotations (all methods): {fast['load_s']:.1f} s")
    print(
        f"fast      : {fast['wall_s']:8.1f} s wall ({args.jobs} jobs), {fast['n_objects']} objects, "
        f"peak PSS {fast['peak_pss_gb']:.2f} GB (tree), max RSS {fast['peak_rss_one_process_gb']:.2f} GB"
    )
    print(
        f"floor     : {floor['wall_s']:8.1f} s wall ({args.jobs} jobs, decode {floor['n_maps']} maps only), "
        f"peak PSS {floor['peak_pss_gb']:.2f} GB"
    )
    print(
        f"reference : {ref['wall_s']:8.1f} s for {ref['n_objects']} objects of {args.ref_images} images "
        f"(1 process) -> {ref_full:.0f} s extrapolated to {fast['n_objects']} objects"
    )
    print(
        f"identical on the subset: {ref['identical_on_subset']}; "
        f"sal_mean max |diff| {ref['sal_mean_max_abs_diff']:.2e}"
    )
    for nm, r in (("fast", fast), ("floor", floor), ("reference", ref)):
        print(
            f"{nm:<10}: {r['cpu_s']:8.1f} CPU s (all processes), 1-min load after {r['loadavg_1min_after']:.1f}"
        )
    print(f"ratio reference/fast, wall: {ref_full / fast['wall_s']:.1f}x")
    print(
        f"ratio reference/fast, CPU : {ref_full_cpu / fast['cpu_s']:.1f}x (less sensitive to other load)"
    )
    print(f"ratio fast/floor, wall    : {fast['wall_s'] / floor['wall_s']:.2f}x")
    print(f"ratio fast/floor, CPU     : {fast['cpu_s'] / floor['cpu_s']:.2f}x")
    summary = {"scale": args.scale, "jobs": args.jobs, "fast": fast, "floor": floor,
               "reference": ref, "reference_extrapolated_s": ref_full,
               "reference_extrapolated_cpu_s": ref_full_cpu}  # fmt: skip
    print(json.dumps(summary))
    return 0


def compare(common: list[str], src: str, runs: int) -> int:
    """The fast phase of this tree and of ``src``, alternating; medians and ratios."""
    import statistics

    res: dict[str, list[dict]] = {"this": [], "other": []}
    for k in range(runs):
        for label, tree in (("this", None), ("other", src)):
            r = measure(["--phase", "fast", *common], tree)
            res[label].append(r)
            print(f"run {k + 1} {label:<5}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, "
                  f"{r['n_objects']} objects, 1-min load after {r['loadavg_1min_after']:.1f}")
    med = {lb: {m: statistics.median(r[m] for r in rs) for m in ("wall_s", "cpu_s")} for lb, rs in res.items()}
    print(f"median this : {med['this']['wall_s']:.2f} s wall, {med['this']['cpu_s']:.2f} s CPU")
    print(f"median other ({src}): {med['other']['wall_s']:.2f} s wall, {med['other']['cpu_s']:.2f} s CPU")
    print(f"ratio this/other: {med['this']['wall_s'] / med['other']['wall_s']:.3f} wall, "
          f"{med['this']['cpu_s'] / med['other']['cpu_s']:.3f} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
