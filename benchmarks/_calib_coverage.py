"""Coverage of the bootstrap intervals (section of ``benchmarks/calibration.py``).

Estimand: the expected value of the metric on a test set of this size drawn from the same
population, ``E[metric(N images)]`` (for per-class AP: given that the class has a positive;
for mAP and the F1s: over the classes with a positive, the library's default rules). It is
estimated once per scenario from ``truth_reps`` independent data sets (point estimates only,
no bootstrap), so its own Monte Carlo error is ``SD / sqrt(truth_reps)``, small beside the
interval widths.

Scenarios (80 classes, prevalence log-uniform in [0.005, 0.3], fixed per scenario; scores
``x = d' y + e``, e ~ N(0, 1), squashed by a logistic so that the 0.5 threshold of C-F1/O-F1
predicts ``x >= 2``):

- ``random``: d' = 0 for every class (both score sets);
- ``fixed d'=1.5``: d' = 1.5 for every class;
- ``rising``: d' rises with prevalence, from 0.5 (rarest class) to 2.5 (most frequent).

Score set B (for the paired difference A - B) has d' + 0.2 (random: 0), and shares a 0.7
correlated noise with A (the same images, two related models).

For each simulated data set the library's own bootstrap (``bootstrap_ranking``,
``bootstrap_metrics``, ``paired_bootstrap``; n_boot resamples) gives the replicates, and
several intervals are made from the same replicates:

- ``library``: what the toolkit prints (``ci95_low``/``ci95_high``);
- ``BCa``: bias-corrected and accelerated (:func:`salanalysis._bootstrap.bca_interval`,
  with its centered-percentile fallback);
- ``percentile``; ``basic`` (2 est - percentiles);
- ``normal``: est +/- z * bootstrap SD;
- ``bias-corrected normal``: (2 est - mean of replicates) +/- z * bootstrap SD.

Coverage is the share of data sets whose interval holds the estimand, with its Wilson 95%
interval (``reps`` data sets per cell). Per-class AP is reported by the class's number of
positive images in the data set (the rule that withholds intervals can only use what it sees).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from salanalysis._bootstrap import bca_interval, percentile_interval
from salanalysis.metrics import (
    average_precision,
    bootstrap_metrics,
    bootstrap_ranking,
    summary_metrics,
)

N_CLASSES = 80
SCENARIOS = ("random", "fixed d'=1.5", "rising")
Z = float(norm.ppf(0.975))
#: Bins of a class's number of positive images in the data set (per-class AP), [low, high).
POS_BINS = ((1, 3), (3, 6), (6, 11), (11, 21), (21, 51), (51, np.inf))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n."""
    if n == 0:
        return np.nan, np.nan
    p = k / n
    den = 1 + z**2 / n
    mid = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def _population(scenario: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Prevalence and d' per class of a scenario (fixed across its data sets)."""
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
    prev = np.sort(np.exp(rng.uniform(np.log(0.005), np.log(0.3), N_CLASSES)))
    if scenario == "random":
        d = np.zeros(N_CLASSES)
    elif scenario == "rising":
        d = np.linspace(0.5, 2.5, N_CLASSES)  # classes sorted by prevalence
    else:
        d = np.full(N_CLASSES, 1.5)
    return prev, d


def simulate(rng: np.random.Generator, n: int, prev: np.ndarray, d: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (n, C) and the scores of A and B (in (0, 1))."""
    y = rng.random((n, len(prev))) < prev
    e1 = rng.normal(size=y.shape)
    e2 = 0.7 * e1 + np.sqrt(1 - 0.7**2) * rng.normal(size=y.shape)
    boost = np.where(d > 0, 0.2, 0.0)
    xa = d * y + e1
    xb = (d + boost) * y + e2

    def squash(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(x - 2.0)))

    return y, squash(xa), squash(xb)


def _nanmean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _point(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray | float]:
    ap_a, ap_b = average_precision(y, a), average_precision(y, b)
    sm = summary_metrics(y, a, ap=ap_a)
    return {"mAP": float(_nanmean(ap_a)), "CF1": float(sm["CF1"]), "OF1": float(sm["OF1"]),
            "delta mAP": float(_nanmean(ap_a) - _nanmean(ap_b)), "AP": ap_a}


def truth(scenario: str, n: int, truth_reps: int, seed: int) -> dict[str, np.ndarray | float]:
    """The estimands: the mean over ``truth_reps`` independent data sets (per-class AP: over those with a positive)."""
    prev, d = _population(scenario, seed)
    rng = np.random.default_rng([seed, 99, SCENARIOS.index(scenario), n])
    acc: dict[str, list] = {"mAP": [], "CF1": [], "OF1": [], "delta mAP": [], "AP": []}
    for _ in range(truth_reps):
        p = _point(*simulate(rng, n, prev, d))
        for k in acc:
            acc[k].append(p[k])
    out = {k: float(np.mean(v)) for k, v in acc.items() if k != "AP"}
    out["AP"] = _nanmean(np.array(acc["AP"]), axis=0)
    return out


def _intervals(est, reps: np.ndarray, jack: np.ndarray | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every candidate interval of ``est`` from the same replicates (B, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(reps, axis=0, ddof=1)
        mean = np.nanmean(reps, axis=0)
        q_lo, q_hi = np.nanpercentile(reps, 2.5, axis=0), np.nanpercentile(reps, 97.5, axis=0)
    blo, bhi, _ = bca_interval(est, reps, jack)
    bc = 2 * np.asarray(est) - mean
    return {"BCa": (blo, bhi), "percentile": (q_lo, q_hi), "basic": (2 * est - q_hi, 2 * est - q_lo),
            "normal": (est - Z * sd, est + Z * sd), "bias-corrected normal": (bc - Z * sd, bc + Z * sd)}


def coverage(scenario: str, n: int, reps: int, n_boot: int, truth_reps: int, seed: int
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of every interval and quantity in one scenario and size.

    Returns ``(summary, per_class)``: rows ``quantity, method, covered, reps`` and, for
    per-class AP, ``n_pos_bin, method, covered, intervals``.
    """
    prev, d = _population(scenario, seed)
    tr = truth(scenario, n, truth_reps, seed)
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), n])
    hits: dict[tuple[str, str], int] = {}
    cls_hits: dict[tuple[int, str], list[int]] = {}

    def hit(key: tuple[str, str], lo, hi, target) -> None:
        hits[key] = hits.get(key, 0) + int(bool(lo <= target <= hi))

    for r in range(reps):
        y, a, b = simulate(rng, n, prev, d)
        p = _point(y, a, b)
        bins = np.searchsorted([lo for lo, _ in POS_BINS[1:]], y.sum(axis=0), side="right")
        rb = bootstrap_ranking(y, [a, b], n_boot=n_boot, seed=r, jobs=1)
        ap_reps, ap_jack = rb.reps["AP"], rb.jackknife["AP"]  # (B, 2, C), (m, 2, C)
        m_reps = _nanmean(ap_reps)  # (B, 2)
        m_jack = _nanmean(ap_jack)
        for name, est, rr, jj in (("mAP", p["mAP"], m_reps[:, 0], m_jack[:, 0]),
                                  ("delta mAP", p["delta mAP"], m_reps[:, 0] - m_reps[:, 1],
                                   m_jack[:, 0] - m_jack[:, 1])):
            for method, (lo, hi) in _intervals(np.float64(est), rr, jj).items():
                hit((name, method), float(lo), float(hi), tr[name])
        for method, (lo, hi) in _intervals(p["AP"], ap_reps[:, 0], ap_jack[:, 0]).items():
            ok = np.isfinite(p["AP"])
            for c in np.flatnonzero(ok):
                cls_hits.setdefault((int(bins[c]), method), []).append(int(lo[c] <= tr["AP"][c] <= hi[c]))
        # what the user gets: the library's tables
        summ, per_class = bootstrap_metrics(y, a, n_boot=n_boot, seed=r, jobs=1)
        s = summ.set_index("metric")
        for name, key in (("mAP", "mAP"), ("CF1", "CF1"), ("OF1", "OF1")):
            hit((name, "library"), s.loc[key, "ci95_low"], s.loc[key, "ci95_high"], tr[name])
            if name != "mAP":
                est = s.loc[key, "estimate"]
                sd = s.loc[key, "boot_sd"]
                hit((name, "normal"), est - Z * sd, est + Z * sd, tr[name])
        for c in np.flatnonzero(per_class["AP_low"].notna().to_numpy()):
            cls_hits.setdefault((int(bins[c]), "library"), []).append(
                int(per_class["AP_low"].iat[c] <= tr["AP"][c] <= per_class["AP_high"].iat[c]))
        # paired_bootstrap's mAP row is the percentile interval of these very replicates (same seed,
        # same resamples; tests/test_metrics.py::test_paired_bootstrap checks it), so it is not rerun here
        lo, hi = percentile_interval(m_reps[:, 0] - m_reps[:, 1])
        hit(("delta mAP", "library"), lo, hi, tr["delta mAP"])
    rows = []
    for (q, method), k in sorted(hits.items()):
        lo, hi = wilson(k, reps)
        rows.append({"scenario": scenario, "n_images": n, "quantity": q, "method": method,
                     "coverage": k / reps, "wilson_low": lo, "wilson_high": hi, "reps": reps})
    crow = []
    for (bi, method), v in sorted(cls_hits.items()):
        lo, hi = wilson(int(np.sum(v)), len(v))
        b0, b1 = POS_BINS[bi]
        crow.append({"scenario": scenario, "n_images": n, "n_pos": f"{b0:g}-{b1 - 1:g}", "method": method,
                     "coverage": float(np.mean(v)), "wilson_low": lo, "wilson_high": hi, "intervals": len(v)})
    return pd.DataFrame(rows), pd.DataFrame(crow)


def coverage_tables(reps: int, seed: int, n_boot: int = 200, truth_reps: int = 1000,
                    sizes: tuple[int, ...] = (500, 2000)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage over every scenario and size (see the module docstring)."""
    import sys
    import time

    summ, cls = [], []
    for n in sizes:
        for sc in SCENARIOS:
            t0 = time.perf_counter()
            s, c = coverage(sc, n, reps, n_boot, truth_reps, seed)
            print(f"  coverage {sc}, {n} images: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            print(s.to_string(index=False), file=sys.stderr, flush=True)
            summ.append(s)
            cls.append(c)
    return pd.concat(summ, ignore_index=True), pd.concat(cls, ignore_index=True)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Coverage with one column per method (``cov [wilson]``), one row per scenario, size and quantity."""
    s = summary.assign(cell=[f"{c:.3f} [{lo:.2f}, {hi:.2f}]" for c, lo, hi in
                             zip(summary["coverage"], summary["wilson_low"], summary["wilson_high"])])
    return s.pivot_table(index=["quantity", "scenario", "n_images"], columns="method", values="cell",
                         aggfunc="first").reset_index().fillna("")


# ---------------------------------------------------------------- Fig. 3 under prevalence
CLUTTER_SCENARIOS = {
    "fixed quality (d'=1.5)": "every class d' = 1.5, whatever the clutter",
    "quality rises with class frequency": "d' from 0.5 (rarest class) to 2.5 (most frequent), not with clutter",
    "quality rises with clutter": "d' = 0.6 + 0.15 x objects in the image (true effect)",
}


def _clutter_data(rng: np.random.Generator, scenario: str, n_images: int, n_cat: int = 20):
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

    weights = np.linspace(1, 6, n_cat)
    weights /= weights.sum()  # class c more frequent for larger c
    images, anns, aid = [], [], 1
    y = np.zeros((n_images, n_cat), dtype=bool)
    n_obj = rng.integers(1, 13, n_images)
    for i in range(n_images):
        images.append({"id": i + 1, "width": 64, "height": 64})
        cats = rng.choice(n_cat, size=min(int(n_obj[i]), n_cat), replace=False, p=weights)
        y[i, cats] = True
        for c in cats:
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(c) + 1, "bbox": [0, 0, 8, 8],
                         "area": 64.0, "iscrowd": 0})
            aid += 1
    if scenario.startswith("fixed"):
        d = np.full((n_images, n_cat), 1.5)
    elif "class frequency" in scenario:
        d = np.broadcast_to(np.linspace(0.5, 2.5, n_cat), (n_images, n_cat))
    else:
        d = np.broadcast_to((0.6 + 0.15 * n_obj)[:, None], (n_images, n_cat))
    x = d * y + rng.normal(size=y.shape)
    ann = Annotations({"images": images, "annotations": anns,
                       "categories": [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cat)]})
    return ann, Scores.from_array("m", ann, 1 / (1 + np.exp(-x)))


def clutter_prevalence(reps: int, seed: int, n_images: int = 1500, n_boot: int = 100) -> pd.DataFrame:
    """How often Fig. 3's verdicts call a rise of mAP ranking quality, by scenario.

    Rows: scenario, then the share of data sets where mAP "rises", where the verdict
    (:func:`salanalysis.clutter.prevalence_verdict`, mean ROC AUC) says "survives" (a
    false positive unless quality rises with clutter) or "explained by prevalence", and where
    the chance-corrected mAP "rises", with Wilson intervals.
    """
    from salanalysis.clutter import clutter_tables, prevalence_verdict

    rows = []
    for si, scenario in enumerate(CLUTTER_SCENARIOS):
        rng = np.random.default_rng([seed, 7, si])
        counts = {"mAP rises": 0, "verdict: survives": 0, "verdict: explained by prevalence": 0,
                  "verdict: reverses": 0, "chance-corrected mAP rises": 0}
        for r in range(reps):
            ann, sc = _clutter_data(rng, scenario, n_images)
            _, trend = clutter_tables(ann, [sc], k=10, n_boot=n_boot, seed=r)
            t = trend.set_index("measure")
            v = prevalence_verdict(trend, "m")
            counts["mAP rises"] += t.loc["mAP", "verdict"] == "rises"
            counts["verdict: survives"] += v == "survives"
            counts["verdict: explained by prevalence"] += v == "explained by prevalence"
            counts["verdict: reverses"] += v == "reverses"
            counts["chance-corrected mAP rises"] += t.loc["mAP_norm", "verdict"] == "rises"
        for what, k in counts.items():
            lo, hi = wilson(int(k), reps)
            rows.append({"scenario": scenario, "share of data sets": what, "rate": k / reps, "wilson_low": lo,
                         "wilson_high": hi, "reps": reps})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    # python benchmarks/_calib_coverage.py [reps] [sizes, e.g. 500,2000]   (section 4 alone)
    # python benchmarks/_calib_coverage.py clutter [reps]                  (section 5 alone)
    import sys
    import time

    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    if len(sys.argv) > 1 and sys.argv[1] == "clutter":
        t0 = time.perf_counter()
        out = clutter_prevalence(int(sys.argv[2]) if len(sys.argv) > 2 else 20, 0)
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"{time.perf_counter() - t0:.0f} s")
        sys.exit(0)
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    sizes = tuple(int(x) for x in sys.argv[2].split(",")) if len(sys.argv) > 2 else (500, 2000)
    t0 = time.perf_counter()
    summary, per_class = coverage_tables(reps, 0, sizes=sizes, truth_reps=max(200, 4 * reps))
    print(wide(summary).to_string(index=False))
    print(per_class.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{time.perf_counter() - t0:.0f} s")
