"""Bootstrap intervals over images: per-class AP, every Table 1 metric, and paired differences.

A resample draws N images with replacement (multinomial counts; seeded with
:func:`numpy.random.default_rng`); the metrics of a resample are the weighted
metrics with those counts as weights. Each class of each score set is sorted
once and a resample only re-weights the sorted order
(:mod:`salanalysis._bootstrap`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salanalysis._bootstrap import (
    CI_CHOICES,
    SortedAP,
    bca_interval,
    bootstrap_p,
    default_jobs,
    jackknife_weights,
    level_percentiles,
    normal_interval,
    percentile_interval,
    run_batches,
)
from salanalysis._ranking_blocks import SortedRanking
from salanalysis.limits import check_count
from salanalysis.metrics.ap import _check, _check_mask, average_precision
from salanalysis.metrics.rules import DEFAULT_RULES, METRICS, MetricRules
from salanalysis.metrics.threshold import (
    _f1,
    _ratio,
    _summary_from_counts,
    class_names,
    per_class_metrics,
    predictions,
    summary_metrics,
)

__all__ = ["RankingBootstrap", "bootstrap_ranking", "bootstrap_ap", "bootstrap_metrics", "paired_bootstrap",
           "MIN_POS_INTERVAL"]

#: Per-class intervals are withheld (NaN, ``ci_method`` ``"withheld"``) for classes with fewer
#: positive images than this: no bootstrap interval reached its coverage there in
#: ``benchmarks/calibration.py`` (BENCHMARKS.md, "Coverage of the bootstrap intervals").
MIN_POS_INTERVAL = 21


def _interval(ci: str, estimate, reps: np.ndarray, jack: np.ndarray | None, level: float) -> tuple:
    """The ``ci`` interval (``"normal"`` or ``"BCa"``) of ``estimate`` from its replicates."""
    if ci == "normal":
        return normal_interval(estimate, reps, level)
    if ci == "BCa":
        return bca_interval(estimate, reps, jack, level)
    raise ValueError(f"ci must be one of {CI_CHOICES}, got {ci!r}")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _batch_size(n: int, g: int) -> int:
    """Resamples per batch: small enough for the (images x batch) weights to stay in cache.

    Measured on COCO-val-sized data: 32 resamples per batch (weights ~5 MB) is about
    twice as fast per resample as 128 or more; tiny sets use larger batches.
    """
    return int(max(16, min(256, 1_300_000 // max(1, n, g))))


@dataclass
class RankingBootstrap:
    """Per-class ranking measures of several score sets on the same bootstrap resamples.

    ``reps[name]``: (n_boot, S, C) for ``AP`` and ``AUC``, (n_boot, C) for ``prevalence``;
    ``jackknife[name]``: the same on the delete-a-block jackknife samples (m rows), for BCa.
    """

    reps: dict[str, np.ndarray]
    jackknife: dict[str, np.ndarray]


class _Ranking:
    """Sorted score sets; ``self(w)`` gives the ranking measures for a weight batch (n, b).

    With ``auc``, AP and AUC come from one segment matrix per score set
    (:class:`~salanalysis._ranking_blocks.SortedRanking`: the same numbers as
    :class:`~salanalysis._bootstrap.SortedAP` and :class:`~salanalysis._bootstrap.SortedAUC`, bit
    for bit, with one sparse product and dense work proportional to the positives).
    """

    def __init__(self, y: np.ndarray, score_list: Sequence[np.ndarray], auc: bool,
                 mask: np.ndarray | None = None) -> None:
        self.auc = auc
        if auc:
            self.joint = [SortedRanking.build(y, s, mask) for s in score_list]
            self.blocks = max(p.n_rows for p in self.joint)
        else:
            self.ap = [SortedAP.build(y, _masked(s, mask, y)) for s in score_list]
            self.blocks = max(p.block_matrix.shape[0] for p in self.ap)
        self.yf = y.T.astype(np.float32)
        self.mf = None if mask is None else np.asarray(mask, dtype=bool).T.astype(np.float32)

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        if not self.auc:
            return {"AP": np.stack([p.ap(w) for p in self.ap], axis=1)}
        both = [p.measures(w) for p in self.joint]
        out = {k: np.stack([m[k] for m in both], axis=1) for k in ("AP", "AUC")}
        tot = (w.sum(axis=0, dtype=np.float64)[:, None] if self.mf is None
               else (self.mf @ w).T.astype(np.float64))  # images evaluated for each class
        with np.errstate(invalid="ignore", divide="ignore"):
            out["prevalence"] = ((self.yf @ w).T.astype(np.float64)) / tot
        return out


@dataclass
class _Reduced:
    """``reduce(ranking(w))``, picklable (sent to cluster workers as the work of a replicate block)."""

    ranking: _Ranking
    reduce: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        return self.reduce(self.ranking(w))


def bootstrap_ranking(
    labels: np.ndarray,
    score_list: Sequence[np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    jobs: int | None = None,
    auc: bool = False,
    jackknife_blocks: int = 20,
    mask: np.ndarray | None = None,
    reduce: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> RankingBootstrap:
    """Per-class AP (and ROC AUC and prevalence) of score sets on the same resamples of images.

    Each class of each score set is sorted once; each resample re-weights the sorted
    order with multinomial counts (see :mod:`salanalysis._bootstrap`). The AP of a
    resample equals scikit-learn's ``average_precision_score(..., sample_weight=counts)``
    and the AUC ``roc_auc_score(..., sample_weight=counts)``. The jackknife rows drop
    one of ``jackknife_blocks`` interleaved blocks of images each
    (:func:`~salanalysis._bootstrap.jackknife_weights`). ``mask`` (N, C): the images that
    count for each class (LVIS federated evaluation); None: all.

    ``reduce``: applied to the measures of every batch of resamples (and of the jackknife)
    before they are kept, e.g. the mean over classes; it must keep the first axis (one row
    per resample). Memory then holds the reduced replicates, not ``n_boot x S x C`` of each
    measure; the batches themselves hold a bounded number of resamples.
    """
    if n_boot < 0:
        raise ValueError("n_boot must be >= 0")
    check_count("bootstrap", int(n_boot), "n_boot")
    if len(score_list) == 0:
        raise ValueError("score_list is empty")
    checked = [_check(labels, s, f"score set {i}") for i, s in enumerate(score_list)]
    y = checked[0][0]
    n, c = y.shape
    if mask is not None:
        mask = _check_mask(mask, y)
    ranking = _Ranking(y, [s for _, s in checked], auc, mask)
    work = ranking if reduce is None else _Reduced(ranking, reduce)
    jack = work(jackknife_weights(n, jackknife_blocks)) if jackknife_blocks else {}
    reps: dict[str, np.ndarray] = {}
    if reduce is None:
        shapes = {"AP": (len(checked), c), "AUC": (len(checked), c), "prevalence": (c,)}
        reps = {k: np.empty((n_boot, *shapes[k])) for k in (["AP", "AUC", "prevalence"] if auc else ["AP"])}
    if n_boot:
        batch = _batch_size(n, ranking.blocks)
        for start, res in run_batches(_rng(seed), n, n_boot, batch, work, default_jobs(jobs)):
            for k, v in res.items():
                if k not in reps:
                    reps[k] = np.empty((n_boot, *np.shape(v)[1:]), dtype=np.asarray(v).dtype)
                reps[k][start : start + len(v)] = v
    return RankingBootstrap(reps, jack)


def _masked(s: np.ndarray, mask: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """Scores with the pairs outside ``mask`` at -inf: ranked below every positive, they drop out of AP."""
    if mask is None:
        return s
    return np.where(_check_mask(mask, y), s, -np.inf)


def bootstrap_ap(
    labels: np.ndarray,
    score_list: Sequence[np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    jobs: int | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-class AP of several score sets on the same bootstrap resamples of images.

    Equal, resample by resample, to scikit-learn's
    ``average_precision_score(labels[:, c], scores[:, c], sample_weight=counts)``
    (:func:`bootstrap_ranking` without the AUC and the jackknife).

    Parameters
    ----------
    labels
        (N, C) ground truth.
    score_list
        Score arrays (N, C), evaluated on the same (paired) resamples.
    n_boot
        Number of resamples (0: an empty result).
    seed
        Seed (or Generator) of the resampling; the same seed gives the same resamples.
    jobs
        Worker threads (default: the CPU count, at most 4); results do not depend on it.
    mask
        (N, C) bool: the images that count for each class (LVIS federated
        evaluation); None: all.

    Returns
    -------
    np.ndarray
        (n_boot, len(score_list), C) float64; NaN where a resample holds no
        positive of a class.
    """
    return bootstrap_ranking(labels, score_list, n_boot=n_boot, seed=seed, jobs=jobs, jackknife_blocks=0,
                             mask=mask).reps["AP"]


def bootstrap_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    rules: MetricRules = DEFAULT_RULES,
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    level: float = 0.95,
    jobs: int | None = None,
    mask: np.ndarray | None = None,
    ci: str = "normal",
    min_pos: int = MIN_POS_INTERVAL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bootstrap intervals of every Table 1 metric and of the per-class metrics.

    Estimand: the expected value of each metric on a test set of this size from the same
    population. The default interval is the normal bootstrap interval (estimate +/- z
    bootstrap SD), the method whose coverage of that estimand held in
    ``benchmarks/calibration.py`` (BCa's did not: mAP's bootstrap is biased upward).

    Parameters
    ----------
    labels, scores, rules
        As :func:`~salanalysis.metrics.summary_metrics`.
    n_boot, seed
        Resamples and seed (same seed, same resamples as :func:`bootstrap_ap`).
    level
        Interval coverage.
    jobs
        Worker threads (default: the CPU count, at most 4).
    mask
        (N, C) bool: the images that count for each class (LVIS federated
        evaluation); None: all.
    ci
        ``"normal"`` (default: :func:`~salanalysis._bootstrap.normal_interval` for the summary
        metrics, the percentile interval per class) or ``"BCa"`` (for both)
        (20-block jackknife acceleration, with its documented fallback,
        :func:`~salanalysis._bootstrap.bca_interval`; it under-covers mAP).
    min_pos
        Per-class intervals are withheld (NaN, ``ci_method`` ``"withheld"``) for classes with
        fewer positive images (default :data:`MIN_POS_INTERVAL`).

    Returns
    -------
    summary : pd.DataFrame
        One row per metric: ``metric`` (CP, CR, CF1, OP, OR, OF1, mAP),
        ``estimate`` (on the full data), ``ci95_low``, ``ci95_high``,
        ``ci_method`` (``normal``, ``BCa`` or the fallback used), ``boot_sd`` (standard deviation over
        resamples), ``n_boot``.
    per_class : pd.DataFrame
        One row per class (column index order): ``class_index``; ``AP``,
        ``AP_low``, ``AP_high``; ``precision``, ``precision_low``,
        ``precision_high``; ``recall``, ``recall_low``, ``recall_high``; ``F1``,
        ``F1_low``, ``F1_high`` (estimates as :func:`per_class_metrics`; intervals over the
        resamples where the value is defined: with ``ci="normal"`` the percentile interval,
        which covered per-class AP best, else BCa; withheld below ``min_pos`` positives;
        ``ci_method`` of the AP interval: ``percentile``/``BCa``/..., or ``withheld``); ``n_boot_valid``
        (resamples holding a positive of the class).
    """
    if ci not in CI_CHOICES:
        raise ValueError(f"ci must be one of {CI_CHOICES}, got {ci!r}")
    y, s = _check(labels, scores)
    pred = predictions(s, rules)
    if mask is not None:
        pred = pred & _check_mask(mask, y)  # predictions where the class is not evaluated count nowhere
    ap_point = average_precision(y, s, mask)
    point = summary_metrics(y, s, rules, ap=ap_point, mask=mask)
    n, c = y.shape
    prep = SortedAP.build(y, _masked(s, mask, y))
    yf = y.T.astype(np.float32)
    pf = pred.T.astype(np.float32)
    cf = (y & pred).T.astype(np.float32)
    check_count("bootstrap", int(n_boot), "n_boot")
    per = {k: np.empty((n_boot, c)) for k in ("AP", "precision", "recall", "F1")}
    res = {k: np.empty(n_boot) for k in METRICS}

    def work(w: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        ap = prep.ap(w)  # (b, C)
        # weighted counts by matrix products (exact: integers below 2**24)
        ng = (yf @ w).T.astype(np.float64)
        npred = (pf @ w).T.astype(np.float64)
        nc = (cf @ w).T.astype(np.float64)
        prec, rec = _ratio(nc, npred), _ratio(nc, ng)
        f1 = _f1(prec, rec)
        cls = {"AP": ap, "precision": prec, "recall": np.where(ng > 0, rec, np.nan),
               "F1": np.where(ng > 0, f1, np.nan)}
        return cls, _summary_from_counts(nc, npred, ng, ap, rules)

    batch = _batch_size(n, prep.block_matrix.shape[0])
    for start, (cls, out) in run_batches(_rng(seed), n, n_boot, batch, work, default_jobs(jobs)):
        b = cls["AP"].shape[0]
        for k in METRICS:
            res[k][start : start + b] = out[k]
        for k in per:
            per[k][start : start + b] = cls[k]
    jack_cls, jack = work(jackknife_weights(n))
    rows = []
    for k in METRICS:
        lo, hi, method = _interval(ci, point[k], res[k], jack[k], level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = float(np.nanstd(res[k], ddof=1))
        rows.append((k, point[k], float(lo), float(hi), str(method), sd, n_boot))
    summary = pd.DataFrame(rows, columns=["metric", "estimate", "ci95_low", "ci95_high", "ci_method", "boot_sd",
                                          "n_boot"])
    summary["metric"] = summary["metric"].astype("string")
    pc = per_class_metrics(y, s, rules, mask=mask, ap=ap_point)
    per_class = pd.DataFrame({"class_index": np.arange(c, dtype=np.int64)})
    few = pc["n_pos"].to_numpy() < min_pos
    for k in per:
        est_k = pc[k].to_numpy(dtype=np.float64)
        if ci == "normal":  # per class the percentile interval covered best (0.92-0.96 from 21 positives)
            lo, hi = percentile_interval(per[k], level_percentiles(level))
            method = np.where(np.isfinite(lo) & np.isfinite(est_k), "percentile", "none").astype(object)
            lo, hi = np.where(method == "none", np.nan, lo), np.where(method == "none", np.nan, hi)
        else:
            lo, hi, method = _interval(ci, est_k, per[k], jack_cls[k], level)
        lo, hi = np.where(few, np.nan, lo), np.where(few, np.nan, hi)
        method = np.where(few & (method != "none"), "withheld", method)
        per_class[k] = pc[k].to_numpy()
        per_class[f"{k}_low"], per_class[f"{k}_high"] = lo, hi
        if k == "AP":
            per_class["ci_method"] = method
    per_class["n_boot_valid"] = np.count_nonzero(~np.isnan(per["AP"]), axis=0).astype(np.int64)
    return summary, per_class


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    rules: MetricRules = DEFAULT_RULES,
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    categories: Sequence[str] | None = None,
    category_ids: Sequence[int] | np.ndarray | None = None,
    level: float = 0.95,
    jobs: int | None = None,
    mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Paired bootstrap of the AP difference A - B, per class and for mAP.

    Both score sets are evaluated on the same image resamples (see
    :func:`bootstrap_ap`); the interval is the percentile interval of the
    resampled differences and the p-value is two-sided (module docs).

    Parameters
    ----------
    labels, scores_a, scores_b
        (N, C) ground truth and the two score sets.
    rules
        ``rules.empty_classes`` is the mAP rule (``"exclude"``: classes without
        positives in the data, or in a resample, are left out; ``"zero"``: they
        count as AP 0 in both sets, so they add nothing to the difference but
        dilute it).
    n_boot, seed
        Resamples and seed.
    categories, category_ids
        Names and ids of the columns (default: indices).
    level, jobs, mask
        As :func:`bootstrap_metrics`.

    Returns
    -------
    pd.DataFrame
        One row per class with a positive, then a final ``mAP`` row:

        - ``category_id`` (-1 for mAP), ``category`` (``"mAP"`` for the mAP row)
        - ``n_pos``: positive images
        - ``AP_A``, ``AP_B``, ``delta`` = AP_A - AP_B on the full data
        - ``ci95_low``, ``ci95_high``: BCa interval of the resampled delta (or its fallback); for
          the ``mAP`` row the percentile interval of the paired replicates (whose coverage of the
          expected difference held in ``benchmarks/calibration.py``)
        - ``p_val``: two-sided bootstrap p-value of delta = 0 (the percentile test, which agrees
          with the ``mAP`` row's interval)
        - ``ci_method``: ``BCa``, ``percentile`` or the fallback (:data:`~salanalysis._bootstrap.CI_METHODS`)
        - ``n_boot_valid``: resamples where the delta is defined
    """
    y, a = _check(labels, scores_a, "scores A")
    _, b = _check(labels, scores_b, "scores B")
    categories, category_ids = class_names(categories, category_ids, y.shape[1])
    rb = bootstrap_ranking(y, [a, b], n_boot=n_boot, seed=seed, jobs=jobs, mask=mask)
    boot, jack = rb.reps["AP"], rb.jackknife["AP"]  # (B, 2, C), (m, 2, C)
    ap_a, ap_b = average_precision(y, a, mask), average_precision(y, b, mask)
    npos = y.sum(axis=0)
    d = boot[:, 0] - boot[:, 1]  # (B, C)

    def mean_ap(x: np.ndarray) -> np.ndarray:  # the mAP rule, over the last axis
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(x if rules.empty_classes == "exclude" else np.nan_to_num(x), axis=-1)

    m = mean_ap(boot[:, 0]) - mean_ap(boot[:, 1])
    map_a, map_b = float(mean_ap(ap_a)), float(mean_ap(ap_b))
    d_jack = jack[:, 0] - jack[:, 1]
    lo, hi, method = bca_interval(ap_a - ap_b, d, d_jack, level)
    keep = npos > 0
    rows = pd.DataFrame(
        {
            "category_id": np.asarray(category_ids, dtype=np.int64)[keep],
            "category": [str(x) for x in np.asarray(categories, dtype=object)[keep]],
            "n_pos": npos[keep].astype(np.int64),
            "AP_A": ap_a[keep],
            "AP_B": ap_b[keep],
            "delta": (ap_a - ap_b)[keep],
            "ci95_low": lo[keep],
            "ci95_high": hi[keep],
            "p_val": bootstrap_p(d[:, keep]) if keep.any() else np.zeros(0),
            "ci_method": method[keep],
            "n_boot_valid": np.count_nonzero(~np.isnan(d), axis=0)[keep].astype(np.int64),
        }
    )
    # the mAP difference: the percentile interval of the paired replicates and its own test (the
    # interval excludes 0 when p < 1 - level, up to the +1 correction). Resampled mAP is biased upward
    # alike for both sets, so the bias cancels in the difference; the normal interval over-covered it
    # (0.99-1.00 in benchmarks/calibration.py: rare classes give the replicates heavy tails)
    mlo, mhi = percentile_interval(m, level_percentiles(level))
    mmethod = "percentile" if np.isfinite(mlo) and np.isfinite(map_a - map_b) else "none"
    map_row = pd.DataFrame(
        {
            "category_id": [-1],
            "category": ["mAP"],
            "n_pos": [int(npos.sum())],
            "AP_A": [float(map_a)],
            "AP_B": [float(map_b)],
            "delta": [float(map_a - map_b)],
            "ci95_low": [float(mlo)],
            "ci95_high": [float(mhi)],
            "p_val": [bootstrap_p(m)],
            "ci_method": [str(mmethod)],
            "n_boot_valid": [int(np.count_nonzero(~np.isnan(m)))],
        }
    )
    out = pd.concat([rows, map_row], ignore_index=True)
    out["category"] = out["category"].astype("string")
    return out

