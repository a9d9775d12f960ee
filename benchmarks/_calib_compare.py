"""Calibration of Fig. 4 / ``compare`` verdicts under a null of exchangeable models.

Each data set: 80 categories with prevalences log-uniform in [0.005, 0.3] (at 300 images
some categories have 1-2 positives), two score sets drawn from the same distribution:
``score = 1.5 * label + 0.5 * image effect + noise`` (independent image effects and noise
per model, so both are informative, equally good, and the categories of an image are
dependent). Every data set goes through the decisions that ``compare_categories`` uses
(:func:`salanalysis.permutation.paired_permutation_ap` then
:func:`salanalysis.permutation.category_decisions`) and the findings rule of the Fig. 4 row
(:func:`salanalysis.findings._verdict` on the sign-balance test).

Reported per size: the share of data sets with any category flagged (BH 5%, the default;
Holm), categories flagged per data set, the Fig. 4 claim's false-positive rate ("same
direction, significant"), the delta-mAP test's rate, and, for contrast, the unadjusted
per-category rate; each rate with its Clopper-Pearson 95% interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis.findings import _verdict
from salanalysis.permutation import category_decisions, paired_permutation_ap


def _null_data(rng: np.random.Generator, n_images: int, n_cat: int = 80):
    prev = np.exp(rng.uniform(np.log(0.005), np.log(0.3), n_cat))
    y = rng.random((n_images, n_cat)) < prev
    while not y.any(axis=0).all():  # every category with a positive, as in the per-category table
        empty = ~y.any(axis=0)
        y[rng.integers(0, n_images, empty.sum()), np.flatnonzero(empty)] = True

    def model():
        return 1.5 * y + 0.5 * rng.normal(0, 1, (n_images, 1)) + rng.normal(0, 1, (n_images, n_cat))

    return y, model(), model()


def _ci(k: int, n: int) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def compare_null_calibration(reps: int, seed: int, sizes=(300, 2000), n_perm: int = 1999,
                             reps_large: int | None = None, report_every: int = 0) -> pd.DataFrame:
    """One row per (images, statistic): rate, its Clopper-Pearson interval, data sets.

    ``report_every`` > 0: print the running counts every that many data sets (long runs).
    """
    rows = []
    for n_images in sizes:
        rng = np.random.default_rng([seed, n_images])
        r_here = reps if (reps_large is None or n_images < 1000) else reps_large
        count = {"any category flagged (BH 5%, the verdict)": 0, "any category flagged (Holm 5%)": 0,
                 "Fig. 4 'most improve': same direction, significant": 0,
                 "delta mAP permutation p < 0.05": 0}
        flagged, raw, cats, few, few_raw = 0, 0, 0, 0, 0
        for r in range(r_here):
            y, a, b = _null_data(rng, n_images)
            perm = paired_permutation_ap(y, a, b, n_perm=n_perm, seed=r)
            bh = category_decisions(perm, adjust="bh")
            holm = category_decisions(perm, adjust="holm")
            nf = int(np.isin(bh["verdict"], ["improved", "worsened"]).sum())
            flagged += nf
            count["any category flagged (BH 5%, the verdict)"] += nf > 0
            count["any category flagged (Holm 5%)"] += bool(np.isin(holm["verdict"], ["improved", "worsened"]).any())
            v = _verdict(bh["balance"], bh["p_balance"], +1)
            count["Fig. 4 'most improve': same direction, significant"] += v == "same direction, significant"
            count["delta mAP permutation p < 0.05"] += bh["p_mAP"] < 0.05
            raw += int((bh["p_val"] < 0.05).sum())
            cats += int(np.isfinite(bh["p_val"]).sum())
            small = y.sum(axis=0) <= 2
            few += int(small.sum())
            few_raw += int((bh["p_val"][small] < 0.05).sum())
            if report_every and (r + 1) % report_every == 0:
                print(f"  {n_images} images, {r + 1} data sets: " + ", ".join(f"{k}: {v}" for k, v in count.items())
                      + f"; flagged {flagged}; unadjusted p < 0.05 {raw} of {cats}", flush=True)
        for name, k in count.items():
            lo, hi = _ci(int(k), r_here)
            rows.append({"images": n_images, "statistic": name, "rate": k / r_here, "ci95_low": lo,
                         "ci95_high": hi, "n": r_here})
        lo, hi = _ci(raw, cats)
        rows.append({"images": n_images, "statistic": "per category, unadjusted p < 0.05 (contrast)",
                     "rate": raw / cats, "ci95_low": lo, "ci95_high": hi, "n": cats})
        if few:
            lo, hi = _ci(few_raw, few)
            rows.append({"images": n_images, "statistic": "per category with 1-2 positives, unadjusted p < 0.05",
                         "rate": few_raw / few, "ci95_low": lo, "ci95_high": hi, "n": few})
        rows.append({"images": n_images, "statistic": "categories flagged per data set (BH; of 80)",
                     "rate": flagged / r_here, "ci95_low": np.nan, "ci95_high": np.nan, "n": r_here})
    return pd.DataFrame(rows)


def main() -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Fig. 4 / compare verdicts under the null (section [6] of calibration.py)")
    ap.add_argument("--reps", type=int, default=400, help="simulated data sets at 300 images")
    ap.add_argument("--reps-large", type=int, default=150, help="simulated data sets at 2,000 images")
    ap.add_argument("--n-perm", type=int, default=1999, help="permutations per data set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 2000], help="images per data set")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    print(f"[6] Fig. 4 / compare under the null, 80 categories, {args.n_perm} permutations", flush=True)
    for size in args.sizes:
        t0 = time.perf_counter()
        table = compare_null_calibration(args.reps, args.seed, sizes=(size,), n_perm=args.n_perm,
                                         reps_large=args.reps_large, report_every=10)
        print(f"{size} images ({time.perf_counter() - t0:.0f} s)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)


if __name__ == "__main__":
    main()
