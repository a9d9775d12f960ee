"""Benchmark of salanalysis.metrics on a synthetic COCO-val-sized set (40,504 x 80).

Side by side in one run:

1. all Table 1 metrics (per-class AP + mAP, C-P/C-R/C-F1/O-P/O-R/O-F1 at 0.5, and
   the top-3 variant) versus a per-class scikit-learn loop computing the same
   numbers (``average_precision_score`` per class plus ``precision_score`` /
   ``recall_score`` per class and micro-averaged);
2. a paired bootstrap of the mAP difference of two score sets (``bootstrap_ap``,
   sort once + multinomial re-weighting) versus resample-and-recompute (draw the
   images, index the arrays, recompute per-class AP with ``average_precision``,
   i.e. re-sorting every resample). The latter is timed on a few resamples and
   extrapolated linearly to the same number of resamples (stated in the output);
3. many classes (LVIS-sized label spaces): every output of ``salanalysis metrics``
   without a bootstrap (Table 1, the per-class table, the excluded-classes table:
   ``run_metrics`` on in-memory annotations and scores) for ``--many`` images x
   ``--many`` classes (default 5,000 x 5,000), first call in this process and best
   of 3, versus a per-class scikit-learn loop computing the same numbers; then the same
   in LVIS format (every image with ``neg_category_ids`` and ``not_exhaustive_category_ids``:
   the federated rule), printed as a ratio to the plain case (target <= 1.5x), and the
   per-class ROC AUC of the many-class table against ``roc_auc_score`` per class.

Usage::

    .venv/bin/python benchmarks/metrics.py [--n-boot 1000] [--slow-resamples 5] [--jobs 2] [--many 5000]
        [--only-many]

The synthetic labels have about 2.9 positives per image (class prevalences drawn
from a skewed distribution, as COCO); scores are noisy functions of the labels
rounded to 3 decimals (so ties occur, as with rounded outputs), or left continuous
with ``--continuous`` (almost every score distinct: the bootstrap's worst case).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def synthetic(n: int = 40_504, c: int = 80, density: float = 2.9, seed: int = 0, decimals: int | None = 3,
              min_prev: float = 1e-3):
    rng = np.random.default_rng(seed)
    prev = rng.gamma(0.6, 1.0, size=c)
    prev = prev / prev.sum() * density  # expected labels per image = density
    prev = np.clip(prev, min_prev, 0.9)
    y = rng.random((n, c)) < prev
    def model(shift):
        logit = rng.normal(0, 1.5, size=(n, c)) + np.where(y, 2.2 + shift, -2.2)
        p = 1 / (1 + np.exp(-logit))
        return p if decimals is None else np.round(p, decimals)
    return y, model(0.0), model(0.15)


def best_of(f, repeat: int = 3) -> tuple[float, float]:
    """Best wall-clock and best CPU (process) time over ``repeat`` runs."""
    ts, cs = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return min(ts), min(cs)


def sklearn_loop(y, s):
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    c = y.shape[1]
    ap = np.array([average_precision_score(y[:, k], s[:, k]) for k in range(c)])
    pred = s >= 0.5
    p = np.array([precision_score(y[:, k], pred[:, k], zero_division=0) for k in range(c)])
    r = np.array([recall_score(y[:, k], pred[:, k], zero_division=0) for k in range(c)])
    op = precision_score(y, pred, average="micro", zero_division=0)
    orr = recall_score(y, pred, average="micro", zero_division=0)
    top = np.argsort(-s, axis=1, kind="stable")[:, :3]
    pred3 = np.zeros_like(pred)
    np.put_along_axis(pred3, top, True, axis=1)
    p3 = np.array([precision_score(y[:, k], pred3[:, k], zero_division=0) for k in range(c)])
    r3 = np.array([recall_score(y[:, k], pred3[:, k], zero_division=0) for k in range(c)])
    op3 = precision_score(y, pred3, average="micro", zero_division=0)
    orr3 = recall_score(y, pred3, average="micro", zero_division=0)
    cp, cr = p.mean(), r.mean()
    return {"mAP": ap.mean(), "CP": cp, "CR": cr, "CF1": 2 * cp * cr / (cp + cr), "OP": op, "OR": orr,
            "OF1": 2 * op * orr / (op + orr), "CP3": p3.mean(), "CR3": r3.mean(), "OP3": op3, "OR3": orr3}


def ours(y, s):
    from salanalysis.metrics import MetricRules, average_precision, summary_metrics

    ap = average_precision(y, s)  # sorted once, shared by both prediction rules
    a = summary_metrics(y, s, ap=ap)  # the default rules: score >= 0.5
    b = summary_metrics(y, s, MetricRules(top_k=3), ap=ap)
    return a, b


def many_classes(n: int, seed: int = 0, federated: bool = False):
    """Annotations (COCO format, ~3 labels per image, some classes without positives) and scores.

    ``federated``: LVIS format, every image lists 30 classes verified absent
    (``neg_category_ids``) and one of its classes as ``not_exhaustive_category_ids``.
    """
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

    y, s, _ = synthetic(n=n, c=n, density=3.0, seed=seed, min_prev=1e-5)  # a long tail, as LVIS
    images = [{"id": i + 1, "width": 640, "height": 480, "file_name": f"{i + 1}.jpg"} for i in range(n)]
    if federated:
        rng = np.random.default_rng(seed + 1)
        for i, im in enumerate(images):
            absent = np.flatnonzero(~y[i])
            im["neg_category_ids"] = sorted(int(c) + 1 for c in rng.choice(absent, 30, replace=False))
            present = np.flatnonzero(y[i])
            im["not_exhaustive_category_ids"] = [int(present[0]) + 1] if len(present) else []
    cats = [{"id": c + 1, "name": f"class_{c + 1}"} for c in range(n)]
    r, c = np.nonzero(y)
    anns = [{"id": k + 1, "image_id": int(a) + 1, "category_id": int(b) + 1, "bbox": [0, 0, 1, 1], "iscrowd": 0}
            for k, (a, b) in enumerate(zip(r, c))]
    ann = Annotations({"images": images, "categories": cats, "annotations": anns}, "synthetic")
    return ann, y, Scores.from_array("model", ann, s)


def sklearn_table(y, s):
    """Table 1 (threshold 0.5) by a per-class scikit-learn loop over the classes with positives."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    has = np.flatnonzero(y.any(0))
    pred = s >= 0.5
    ap = [average_precision_score(y[:, k], s[:, k]) for k in has]
    p = [precision_score(y[:, k], pred[:, k], zero_division=0) for k in has]
    r = [recall_score(y[:, k], pred[:, k], zero_division=0) for k in has]
    return {"mAP": np.mean(ap), "CP": np.mean(p), "CR": np.mean(r),
            "OP": precision_score(y, pred, average="micro", zero_division=0),
            "OR": recall_score(y, pred, average="micro", zero_division=0)}


def resample_and_recompute(y, a, b, n_boot: int, seed: int = 0):
    from salanalysis.metrics import average_precision

    rng = np.random.default_rng(seed)
    n = y.shape[0]
    out = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, n, size=n)
        yy = y[idx]
        out[i] = np.nanmean(average_precision(yy, a[idx])) - np.nanmean(average_precision(yy, b[idx]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--slow-resamples", type=int, default=5)
    ap.add_argument("--continuous", action="store_true",
                    help="do not round the synthetic scores (almost no ties: more tie groups)")
    ap.add_argument("--jobs", type=int, default=None, help="bootstrap threads (default: CPU count, <= 4)")
    ap.add_argument("--many", type=int, default=5000, help="images and classes of phase 3 (0: skip it)")
    ap.add_argument("--only-many", action="store_true", help="run phase 3 only")
    args = ap.parse_args()
    from salanalysis.metrics import bootstrap_ap

    warnings.simplefilter("ignore")
    y, s1, s2 = synthetic(decimals=None if args.continuous else 3)
    n, c = y.shape
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}, 1-min load average at start {load:.2f}")
    print(f"data: {n} images x {c} classes, {y.sum(1).mean():.2f} labels/image, "
          f"{len(np.unique(s1))} distinct score values")

    if args.only_many:
        return _many(args.many)
    # 1. all metrics
    ours(y, s1)  # warm-up
    t_ours, c_ours = best_of(lambda: ours(y, s1), repeat=5)
    t_skl, c_skl = best_of(lambda: sklearn_loop(y, s1), repeat=2)
    a, b = ours(y, s1)
    ref = sklearn_loop(y, s1)
    dev = max(abs(a[k] - ref[k]) for k in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"))
    dev3 = max(abs(b[k] - ref[k + "3"]) for k in ("CP", "CR", "OP", "OR"))
    print(f"\n[1] all metrics (threshold 0.5 + top-3), best of 5 / 2: salanalysis {t_ours:.3f} s wall "
          f"({c_ours:.3f} s CPU), sklearn per-class loop {t_skl:.3f} s wall ({c_skl:.3f} s CPU), "
          f"speed-up {t_skl / t_ours:.1f}x wall, {c_skl / c_ours:.1f}x CPU "
          f"(max |difference| {max(dev, dev3):.1e})")

    # 2. paired bootstrap of the mAP difference
    t, cpu = time.perf_counter(), time.process_time()
    boot = bootstrap_ap(y, [s1, s2], n_boot=args.n_boot, seed=0, jobs=args.jobs)
    t_fast, cpu_fast = time.perf_counter() - t, time.process_time() - cpu
    d = np.nanmean(boot[:, 0], 1) - np.nanmean(boot[:, 1], 1)
    k = args.slow_resamples
    t, cpu = time.perf_counter(), time.process_time()
    slow = resample_and_recompute(y, s1, s2, k, seed=1)
    t_slow_k, cpu_slow_k = time.perf_counter() - t, time.process_time() - cpu
    t_slow = t_slow_k / k * args.n_boot
    cpu_slow = cpu_slow_k / k * args.n_boot
    print(f"[2] paired bootstrap, {args.n_boot} resamples, 2 score sets, {args.jobs or 'default'} threads: "
          f"salanalysis {t_fast:.2f} s wall ({cpu_fast:.2f} s CPU); "
          f"resample-and-recompute {t_slow_k:.2f} s wall for {k} resamples -> {t_slow:.1f} s extrapolated "
          f"to {args.n_boot} ({cpu_slow:.1f} s CPU); speed-up {t_slow / t_fast:.1f}x wall, "
          f"{cpu_slow / cpu_fast:.1f}x CPU")
    lo, hi = np.percentile(d, [2.5, 97.5])
    print(f"    delta mAP 95% CI [{lo:.4f}, {hi:.4f}] (recompute path, {k} resamples: mean {slow.mean():.4f})")

    # 3. many classes: every output of `salanalysis metrics` (no bootstrap)
    if args.many:
        _many(args.many)


def _many(m: int) -> None:
    """Phase 3: every output of `salanalysis metrics` for m images x m classes, plain and federated."""
    from sklearn.metrics import roc_auc_score

    from salanalysis.metrics import run_metrics

    ann, ym, sc = many_classes(m)
    t, cpu = time.perf_counter(), time.process_time()
    res = run_metrics(ann, [sc], n_boot=0)  # the first call in this process (as a command's single run)
    t_first, cpu_first = time.perf_counter() - t, time.process_time() - cpu
    t_best, c_best = best_of(lambda: run_metrics(ann, [sc], n_boot=0), repeat=3)
    t_skl, c_skl = best_of(lambda: sklearn_table(ym, sc.scores), repeat=1)
    ref = sklearn_table(ym, sc.scores)
    excluded = np.flatnonzero(~ym.any(0))
    row = res.tables["table1"].iloc[0]
    dev = max(abs(row[k] - ref[k]) for k in ref)
    pc = res.tables["per_class"]
    has = np.flatnonzero(ym.any(0))
    auc_ref = np.array([roc_auc_score(ym[:, k], sc.scores[:, k]) for k in has])
    dev_auc = float(np.max(np.abs(pc["AUC"].to_numpy()[has] - auc_ref)))
    print(f"[3] all Table 1 metrics + per-class (with AUC) + excluded tables, {m} images x {m} classes "
          f"({len(has)} with positives, {len(excluded)} excluded): "
          f"salanalysis first call {t_first:.2f} s wall ({cpu_first:.2f} s CPU), best of 3 {t_best:.2f} s "
          f"({c_best:.2f} s CPU); sklearn per-class loop (AP, P, R; no AUC) {t_skl:.1f} s wall "
          f"({c_skl:.1f} s CPU); speed-up {t_skl / t_first:.1f}x (first call) / {t_skl / t_best:.1f}x (best) wall; "
          f"target <= 2 s: {'met' if t_first <= 2 else 'missed'} wall, {'met' if cpu_first <= 2 else 'missed'} CPU "
          f"(max |difference| {dev:.1e}; "
          f"AUC vs roc_auc_score {dev_auc:.1e})")
    # the per-class ranking measures alone: AP + AUC from one sort, against AP plus the earlier
    # AUC (scipy rankdata over the whole matrix, then rank sums)
    from salanalysis.metrics.ap import average_precision, average_precision_and_auc

    def earlier(y, s):
        from scipy.stats import rankdata

        average_precision(y, s)
        k = y.sum(axis=0).astype(np.float64)
        rank_sum = np.where(y, rankdata(s, axis=0), 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (rank_sum - k * (k + 1) / 2) / (k * (len(y) - k))

    t_one, c_one = best_of(lambda: average_precision_and_auc(ym, sc.scores), repeat=2)
    t_two, c_two = best_of(lambda: earlier(ym, sc.scores), repeat=2)
    print(f"    AP + AUC: one sort {t_one:.2f} s wall ({c_one:.2f} s CPU), AP sort + rankdata AUC (the earlier "
          f"code) {t_two:.2f} s wall ({c_two:.2f} s CPU): {t_two / t_one:.1f}x wall, {c_two / c_one:.1f}x CPU")
    fann, _, fsc = many_classes(m, federated=True)
    t, cpu = time.perf_counter(), time.process_time()
    fres = run_metrics(fann, [fsc], n_boot=0)
    tf_first, cf_first = time.perf_counter() - t, time.process_time() - cpu
    tf_best, cf_best = best_of(lambda: run_metrics(fann, [fsc], n_boot=0), repeat=3)
    assert fres.tables["table1"]["federated"].iloc[0] == "on"
    print(f"    LVIS format (federated rule): first call {tf_first:.2f} s wall ({cf_first:.2f} s CPU), "
          f"best of 3 {tf_best:.2f} s ({cf_best:.2f} s CPU); ratio to the plain case "
          f"{tf_first / t_first:.2f}x (first call) / {tf_best / t_best:.2f}x (best), "
          f"{cf_best / c_best:.2f}x CPU; target <= 1.5x: {'met' if tf_best / t_best <= 1.5 else 'missed'} wall, "
          f"{'met' if cf_best / c_best <= 1.5 else 'missed'} CPU")


if __name__ == "__main__":
    main()
