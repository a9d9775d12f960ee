"""Calibration of the statistics under known truths (simulation; prints tables for BENCHMARKS.md).

1. tp/fn tests under the null: the false-positive rate at alpha 0.05 of every test of
   ``salanalysis.stats.tpfn_tests`` when the variable does not depend on detection,
   without and with image-level random effects (objects of one image share a random
   intercept in the variable and in the detection outcome). The paper's object-level
   Student t is anti-conservative under clustering; the image-clustered tests are not.
2. Class-wise correlations under a prevalence null: a random scorer (AP depends on
   prevalence only) and classes whose center distance happens to follow their
   prevalence: how often Pearson(AP, distance), the partial correlation controlling
   prevalence, and Pearson(normalised AP, distance) are "significant".
3. Fig. 3 with a random scorer: mAP per clutter group rises with the number of objects
   per image (prevalence rises), the chance mAP follows it, the mean ROC AUC stays at 0.5.
4. Coverage of the bootstrap intervals (``benchmarks/_calib_coverage.py``): how often the
   interval of mAP, C-F1, O-F1, per-class AP and the paired difference of mAP holds the
   expected value of the metric on a test set of that size (random scorer, fixed quality
   d' = 1.5, quality rising with prevalence; 500 and 2,000 images), for the library's
   interval and for BCa, percentile, basic, normal and bias-corrected normal intervals of the
   same replicates, with Wilson 95% intervals.
5. (benchmarks/_calib_classwise.py) The Fig. 2 verdict under image and class random effects,
   and the Sec. 3.2 verdict for every variable under prevalence nulls (random, fixed-quality
   and quality-rising-with-prevalence scorers), with 95% Clopper-Pearson intervals.
6. Fig. 3 under prevalence (``benchmarks/_calib_coverage.py``): how often the verdict on the
   mean ROC AUC calls a rise of mAP with clutter ranking quality when quality is fixed, when it
   rises with class frequency, and when it truly rises with clutter.
7. (benchmarks/_calib_compare.py) Fig. 4 / ``compare`` under a null of two exchangeable
   informative models (80 categories, 300 and 2,000 images): data sets with any category
   flagged, the "most categories improve" test, with Clopper-Pearson intervals (about 1 s of
   CPU per data set at 300 images, 5 s at 2,000; run it alone with
   ``python benchmarks/_calib_compare.py`` or ``--only 7``).

Run ([1]-[3] about 2 minutes on 2 cores, [4] about 20 minutes at 100 reps (``--reps 500``), [6] 3 minutes, [7] about 10 minutes; [5a] and [5b] about 5 and 7 minutes at 400 reps on
2 busy cores; ``--only 5a,5b`` runs just those):

    .venv/bin/python benchmarks/calibration.py [--reps 1000] [--seed 0] [--only 1,2,5a]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _calib_compare import compare_null_calibration

from salanalysis.metrics import per_class_metrics
from salanalysis.stats import classwise_correlations, tpfn_tests

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.calibration
    import _calib_classwise
    from _calib_coverage import clutter_prevalence, coverage_tables, wide
except ImportError:  # pragma: no cover
    from benchmarks import _calib_classwise
    from benchmarks._calib_coverage import clutter_prevalence, coverage_tables, wide


def _null_objects(rng: np.random.Generator, n_images: int, tau: float) -> pd.DataFrame:
    """Objects (1..7 per image) whose variable is independent of detection, with image effects ``tau``."""
    per = rng.integers(1, 8, n_images)
    image = np.repeat(np.arange(n_images), per)
    a = rng.normal(0, tau, n_images)[image]  # image effect in the variable
    b = rng.normal(0, 2 * tau, n_images)[image]  # image effect in the outcome
    x = a + rng.normal(0, 1, len(image))
    detected = (b + rng.normal(0, 1, len(image))) > 0
    return pd.DataFrame({"image_id": image, "category_id": 1, "area_frac": x, "center_dist": x,
                         "detected_m": detected})


def tpfn_calibration(reps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for label, tau in (("no image effects", 0.0), ("image random effects", 1.0)):
        hits: dict[str, int] = {}
        for r in range(reps):
            obj = _null_objects(rng, 150, tau)
            t = tpfn_tests(obj, "m", ["area_frac"], units=["object"], n_boot=200, seed=r)
            for _, row in t.iterrows():
                if np.isfinite(row["p_val"]):
                    hits[row["test"]] = hits.get(row["test"], 0) + int(row["p_val"] < 0.05)
        for test, h in hits.items():
            rows.append({"data": label, "test": test, "false_positive_rate": h / reps, "reps": reps})
    return pd.DataFrame(rows)


def prevalence_null(reps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hits = {"Pearson r(AP, distance) (the paper's)": 0,
            "partial r(AP, distance | size, prevalence, log prevalence)": 0,
            "partial r(AP, distance | prevalence, cubic in log prevalence) (the verdict, unadjusted)": 0,
            "Pearson r(normalised AP, distance)": 0}
    for _ in range(reps):
        n_cls, n_img = 60, 400
        logp = rng.uniform(np.log(0.01), np.log(0.4), n_cls)
        y = rng.random((n_img, n_cls)) < np.exp(logp)
        pc = per_class_metrics(y, rng.random((n_img, n_cls)))
        cd = 0.35 - 0.08 * (logp - logp.mean()) / logp.std() + rng.normal(0, 0.05, n_cls)
        prev = pc["prevalence"].to_numpy()
        cw = pd.DataFrame({"category_id": np.arange(n_cls), "area_frac": rng.normal(0, 1, n_cls),
                           "center_dist": cd, "AP": pc["AP"], "prevalence": prev, "AP_norm": pc["AP_norm"],
                           "log_prevalence": np.log(np.where(prev > 0, prev, np.nan))})
        corr = classwise_correlations(cw, partial_variables=["center_dist"], targets=["AP", "AP_norm"])
        corr = corr[corr["variable"] == "center_dist"]
        p = corr.set_index(["target", "role", "method", "covariates"])["p_val"]
        keys = list(hits)
        hits[keys[0]] += p[("AP", "paper", "pearson", "")] < 0.05
        hits[keys[1]] += p[("AP", "alternative", "partial", "area_frac,prevalence,log_prevalence")] < 0.05
        hits[keys[2]] += corr.loc[(corr["target"] == "AP") & (corr["role"] == "verdict"), "p_val"].iloc[0] < 0.05
        hits[keys[3]] += p[("AP_norm", "alternative", "pearson", "")] < 0.05
    return pd.DataFrame([{"statistic": k, "false_positive_rate": v / reps, "reps": reps} for k, v in hits.items()])


def clutter_random_scorer(seed: int) -> pd.DataFrame:
    from salanalysis.clutter import clutter_map
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

    rng = np.random.default_rng(seed)
    images, anns, aid, n_cat = [], [], 1, 20
    for i in range(1, 3001):
        images.append({"id": i, "width": 64, "height": 64})
        n = int(rng.integers(1, 16))
        for c in rng.choice(np.arange(1, n_cat + 1), size=min(n, n_cat), replace=False):
            anns.append({"id": aid, "image_id": i, "category_id": int(c), "bbox": [0, 0, 8, 8], "area": 64.0,
                         "iscrowd": 0})
            aid += 1
    ann = Annotations({"images": images, "annotations": anns,
                       "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_cat + 1)]})
    rand = Scores.from_array("random", ann, rng.random((3000, n_cat)))
    t = clutter_map(ann, [rand], k=15, n_boot=200, seed=seed)
    return t[["group", "n_images", "mAP", "chance_mAP", "mAUC", "mAP_norm"]]


def _coverage(args: argparse.Namespace) -> str:
    summary, per_class = coverage_tables(max(20, args.reps // 5), args.seed, n_boot=200)
    cls = per_class[per_class["method"].isin(["library", "normal", "BCa", "percentile"])]
    return (wide(summary).to_string(index=False) + "\n\nper-class AP by positives in the data set:\n"
            + cls.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=1000, help="simulated data sets per condition")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated section numbers to run (e.g. 5a,5b); default all")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    for title, fn in (("[1] tp/fn tests under the null (alpha 0.05)", lambda: tpfn_calibration(args.reps, args.seed)),
                      ("[2] class-wise correlations under a prevalence null (alpha 0.05)",
                       lambda: prevalence_null(args.reps, args.seed)),
                      ("[3] Fig. 3 with a random scorer (3,000 images, 20 classes)",
                       lambda: clutter_random_scorer(args.seed)),
                      ("[4] coverage of the 95% intervals (80 classes)", lambda: _coverage(args)),
                      ("[5a] Fig. 2 tests under the null with image and class random effects (alpha 0.05)",
                       lambda: _calib_classwise.tpfn_dependence(args.reps, args.seed)),
                      ("[5b] Sec. 3.2 verdicts under prevalence nulls, every variable (alpha 0.05)",
                       lambda: _calib_classwise.classwise_nulls(args.reps, args.seed)),
                      ("[6] Fig. 3 verdict under prevalence (1,500 images, 20 classes, k = 10)",
                       lambda: clutter_prevalence(max(10, args.reps // 25), args.seed)),
                      ("[7] Fig. 4 / compare under the null (80 categories, Clopper-Pearson 95% intervals)",
                       lambda: compare_null_calibration(max(100, args.reps // 2), args.seed,
                                                        reps_large=max(50, args.reps // 8)))):
        if args.only and title[1:].split("]")[0] not in args.only.split(","):
            continue
        t0 = time.perf_counter()
        table = fn()
        print(f"{title}  ({time.perf_counter() - t0:.0f} s)")
        print(table if isinstance(table, str) else table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print()


if __name__ == "__main__":
    main()
