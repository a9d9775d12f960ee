"""Multi-label classification metrics of the paper's Table 1, with bootstrap intervals.

Definitions (Luo et al. 2019, Sec. 5.1, Eq. 6 and 7), and every choice the paper
leaves open, made explicit:

Ground truth (:func:`ground_truth`)
    An image is positive for a class when it has at least one annotation of that
    class. Crowd annotations count (``include_crowd=True``, as ML-GCN and ASL do).
    Every image of the annotation file counts, including images without any
    annotation, which are all-negative rows (``include_empty=True``). Both rules
    are options and are reported in every output.

Average precision (:func:`average_precision`, Eq. 7)
    Non-interpolated: ``AP = sum_g (R_g - R_{g-1}) P_g`` over the *distinct*
    scores in descending order, where ``P_g``/``R_g`` are the precision/recall of
    predicting every image scoring at least the ``g``-th distinct score. Tied
    scores therefore form one step, exactly as
    :func:`sklearn.metrics.average_precision_score` does, and the result never
    depends on row order. A class without positives has AP = NaN.

mAP
    Mean AP over the classes with at least one positive. Classes without
    positives are excluded and counted in ``n_classes_excluded``;
    ``empty_classes="zero"`` instead counts them with AP 0 (as some codebases do).

Threshold metrics (Eq. 6)
    A class is predicted when its score is ``>= threshold`` (default 0.5); with
    ``top_k=k`` the ``k`` highest-scoring classes of each image are predicted
    instead (the top-3 variant of CNN-RNN/ML-GCN; ties at the k-th score go to
    the lower category index; ``top_k_threshold=True`` additionally requires the
    score to pass the threshold, as ML-GCN's code does). Per class,
    ``precision = N_c/N_p`` and ``recall = N_c/N_g``, with N_c correct, N_p
    predicted and N_g ground-truth images. **0/0 rule:** a class that is never
    predicted has precision 0 (as ML-GCN's code, and scikit-learn's
    ``zero_division=0``); a per-class F1 with P = R = 0 is 0. C-P and C-R are the
    means of the per-class values; O-P and O-R pool the counts over classes.
    **Which classes:** every C-/O- metric uses the same classes as mAP: the
    classes with at least one positive (``empty_classes="exclude"``, default), or
    all classes (``"zero"``: a class without positives then has recall 0 and
    precision 0, and its false positives count in O-P).

C-F1
    ``cf1="harmonic"`` (default, Eq. 6): harmonic mean of C-P and C-R.
    ``cf1="mean-per-class"``: mean of the per-class F1. The paper's own RSN-50
    row (C-P 64.6, C-R 77.9, C-F1 57.9) is only consistent with the latter: the
    harmonic mean of 64.6 and 77.9 is 70.6. O-F1 is always the harmonic mean of
    O-P and O-R. Every output names the rule in its ``cf1`` field.

Bootstrap (:func:`bootstrap_ap`, :func:`bootstrap_metrics`, :func:`paired_bootstrap`)
    A resample draws N images with replacement (multinomial counts over images;
    seeded with :func:`numpy.random.default_rng`). Metrics of a resample are the
    weighted metrics with those counts as weights (identical to computing them
    on the duplicated images). Intervals are percentile 95% intervals. In a
    resample, mAP and the class-averaged metrics use the classes that have a
    positive in that resample (``"exclude"``) or all classes (``"zero"``).
    Paired bootstrap: both score sets are evaluated on the *same* resamples; the
    two-sided p-value of a difference ``delta`` is
    ``min(1, 2 * min(1 + #{delta*_b <= 0}, 1 + #{delta*_b >= 0}) / (B + 1))``
    over the ``B`` resamples where the difference is defined: twice the smaller
    tail mass of the bootstrap distribution beyond 0 (the percentile-interval
    test), with the +1 correction so that it is never 0.
    Speed: each class of each score set is sorted once; a resample only
    re-weights the sorted order (:mod:`salanalysis._bootstrap`), so 1,000
    resamples of two COCO-val-sized score sets take seconds, not minutes.
    Caveat: on small sets the percentile interval of mAP can sit off-centre
    around the estimate (rare classes drop out of some resamples, and
    duplicated images tie), so read it as the spread of the statistic, not as
    an unbiased band; :func:`format_table` names every estimate that lies
    outside its own interval.

All fractions are in 0..1; only :func:`format_table` and :func:`format_per_class`
print percentages.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from salanalysis._bootstrap import SortedAP, default_jobs, run_batches
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.scores import Scores

__all__ = [
    "METRICS",
    "PUBLISHED_TABLE1",
    "PUBLISHED_SOURCE",
    "ground_truth",
    "average_precision",
    "per_class_metrics",
    "summary_metrics",
    "evaluate",
    "table1",
    "bootstrap_ap",
    "bootstrap_metrics",
    "paired_bootstrap",
    "format_table",
    "format_per_class",
    "write_metrics",
]

METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP")
CF1Rule = Literal["harmonic", "mean-per-class"]
EmptyRule = Literal["exclude", "zero"]

PUBLISHED_SOURCE = "published in Luo et al. 2019, Table 1"
_NA = math.nan
#: The paper's Table 1 (percent, as printed; NaN where the paper prints '-').
PUBLISHED_TABLE1 = pd.DataFrame(
    [
        ("VGG MCE [13]", _NA, _NA, _NA, _NA, _NA, _NA, 70.2),
        ("Weak sup [18]", _NA, _NA, _NA, _NA, _NA, _NA, 62.8),
        ("CNN-RNN [26]", 66.0, 55.6, 60.4, 69.2, 66.4, 67.8, _NA),
        ("RGNN [33]", _NA, _NA, _NA, _NA, _NA, _NA, 73.0),
        ("WELDON [2]", _NA, _NA, _NA, _NA, _NA, _NA, 68.8),
        ("Multi-CNN [32]", 54.8, 51.4, 53.1, 56.7, 58.6, 57.6, 60.4),
        ("CNN+LSTM [32]", 62.1, 51.2, 56.1, 68.1, 56.6, 61.8, 61.8),
        ("MCG-CNN+LSTM [32]", 64.2, 53.1, 58.1, 61.3, 59.3, 61.3, 64.4),
        ("RLSD [32]", 67.6, 57.2, 62.0, 70.1, 63.4, 66.5, 68.2),
        ("Pairwise ranking [12]", 73.5, 56.4, _NA, 76.3, 61.8, _NA, _NA),
        ("MIML-FCN [31]", _NA, _NA, _NA, _NA, _NA, _NA, 66.2),
        ("RDAR [27]", 79.1, 58.7, 67.4, 84.0, 63.0, 72.0, 72.2),
        ("RSN-50 Baseline", 64.6, 77.9, 57.9, 70.8, 80.5, 63.2, 71.5),
        ("RSN-50 Dual-stream Baseline", 66.7, 75.4, 61.3, 71.9, 79.4, 65.8, 72.1),
        ("RSN-50 Dual-stream", 66.7, 78.4, 60.3, 72.1, 80.6, 65.2, 72.5),
    ],
    columns=["model", *METRICS],
)


# --------------------------------------------------------------------- inputs
def ground_truth(
    annotations: Annotations, *, include_crowd: bool = True, include_empty: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Image-level ground-truth labels.

    Parameters
    ----------
    annotations
        The COCO instances file.
    include_crowd
        Count crowd annotations as labels (default, as ML-GCN and ASL).
    include_empty
        Keep images without any annotation as all-negative rows (default). When
        False they are dropped (with ``include_crowd=False``, an image holding
        only crowd annotations is dropped too).

    Returns
    -------
    image_ids : np.ndarray
        int64 (N,), ascending, in ``annotations.images`` order.
    labels : np.ndarray
        bool (N, C), columns in category-id order.
    """
    ids = annotations.image_ids
    y = annotations.label_matrix(include_crowd=include_crowd)
    if not include_empty:
        keep = y.any(axis=1)
        ids, y = ids[keep], y[keep]
    return np.asarray(ids, dtype=np.int64), y


def _check(labels: Any, scores: Any, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Validate an (N, C) label/score pair; InputError on a problem."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or s.ndim != 2:
        raise InputError(f"labels and {what} must be 2-D (images x classes), got {y.shape} and {s.shape}")
    if y.shape != s.shape:
        raise InputError(f"{what} have shape {s.shape} but labels have shape {y.shape}")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise InputError("labels must be binary (0/1 or bool)")
        y = y.astype(bool)
    if y.shape[0] == 0:
        raise InputError(f"labels and {what} hold no images")
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).sum())
        raise InputError(f"{what} hold {bad} NaN or infinite value(s)")
    return y, s


def _check_option(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


# ------------------------------------------------------------------------- AP
def average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class average precision (Eq. 7, non-interpolated, ties as scikit-learn).

    Each class is sorted once (all classes in one vectorised sort). Every
    positive contributes the precision at the end of its tie group (all images
    scoring at least its score), so a tie group adds its precision times the
    recall it gains, exactly the step-wise sum of scikit-learn.
    Equal to ``sklearn.metrics.average_precision_score(labels[:, c], scores[:, c])``
    for every class with a positive.

    Parameters
    ----------
    labels
        (N, C) bool (or 0/1) ground truth.
    scores
        (N, C) finite scores (any real values; only their order matters).

    Returns
    -------
    np.ndarray
        (C,) float64; NaN for classes without positives.

    Raises
    ------
    InputError
        Shape mismatch, non-binary labels, NaN/infinite scores, no images.
    """
    y, s = _check(labels, scores)
    n, c = y.shape
    st = np.ascontiguousarray(s.T)
    yt = np.ascontiguousarray(y.T)
    sorted_all = np.sort(st, axis=1)  # ascending, per class
    pos_scores = st[yt]  # positives' scores, class by class
    npos = np.count_nonzero(yt, axis=1)
    bounds = np.concatenate([[0], np.cumsum(npos)])
    out = np.full(c, np.nan)
    for k in np.flatnonzero(npos):
        ps = np.sort(pos_scores[bounds[k] : bounds[k + 1]])
        # For a positive scoring v, the tie group of v ends after every image scoring >= v:
        # precision there = #positives >= v / #images >= v. Summing it over the positives
        # weights each group by the positives it holds (its recall gain), as sklearn does.
        n_pos_ge = npos[k] - np.searchsorted(ps, ps, side="left")
        n_all_ge = n - np.searchsorted(sorted_all[k], ps, side="left")
        out[k] = np.mean(n_pos_ge / n_all_ge)
    return out


# ---------------------------------------------------------- threshold metrics
def _predictions(
    scores: np.ndarray, threshold: float, top_k: int | None, top_k_threshold: bool
) -> np.ndarray:
    """Boolean predictions: ``score >= threshold``, or the top-k classes of each image."""
    if top_k is None:
        return scores >= threshold
    n, c = scores.shape
    if not 1 <= int(top_k) <= c:
        raise ValueError(f"top_k must be between 1 and the number of classes ({c}), got {top_k}")
    k = int(top_k)
    kth = np.partition(scores, c - k, axis=1)[:, c - k : c - k + 1]  # k-th largest per image
    above = scores > kth
    at = scores == kth
    room = k - above.sum(axis=1, keepdims=True)  # ties at the k-th score: lowest index first
    pred = above | (at & (np.cumsum(at, axis=1) <= room))
    if top_k_threshold:
        pred &= scores >= threshold
    return pred


def _counts(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class N_c (correct), N_p (predicted), N_g (ground truth) as float64."""
    nc = np.count_nonzero(y & pred, axis=0).astype(np.float64)
    npred = np.count_nonzero(pred, axis=0).astype(np.float64)
    ng = np.count_nonzero(y, axis=0).astype(np.float64)
    return nc, npred, ng


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b with 0/0 (and x/0) = 0."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    return _ratio(2.0 * p * r, p + r)


def _summary_from_counts(
    nc: np.ndarray,
    npred: np.ndarray,
    ng: np.ndarray,
    ap: np.ndarray,
    *,
    cf1: str,
    empty_classes: str,
) -> dict[str, np.ndarray]:
    """Table 1 metrics from per-class counts; the last axis is classes (batched)."""
    has = ng > 0
    incl = has if empty_classes == "exclude" else np.ones_like(has)
    n_incl = incl.sum(axis=-1)
    prec = _ratio(nc, npred)
    rec = _ratio(nc, ng)
    f1 = _f1(prec, rec)
    apz = np.where(np.isnan(ap), 0.0, ap)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.where(n_incl > 0, n_incl, np.nan)
        cp = np.where(incl, prec, 0.0).sum(axis=-1) / denom
        cr = np.where(incl, rec, 0.0).sum(axis=-1) / denom
        m_ap = np.where(incl, apz, 0.0).sum(axis=-1) / denom
        if cf1 == "harmonic":
            c_f1 = _f1(cp, cr)
        else:
            c_f1 = np.where(incl, f1, 0.0).sum(axis=-1) / denom
        snc = np.where(incl, nc, 0.0).sum(axis=-1)
        op = _ratio(snc, np.where(incl, npred, 0.0).sum(axis=-1))
        orr = _ratio(snc, np.where(incl, ng, 0.0).sum(axis=-1))
        of1 = _f1(op, orr)
    return {
        "CP": cp,
        "CR": cr,
        "CF1": np.where(n_incl > 0, c_f1, np.nan),
        "OP": np.where(n_incl > 0, op, np.nan),
        "OR": np.where(n_incl > 0, orr, np.nan),
        "OF1": np.where(n_incl > 0, of1, np.nan),
        "mAP": m_ap,
        "n_classes": n_incl,
    }


def per_class_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float = 0.5,
    categories: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
    top_k: int | None = None,
    top_k_threshold: bool = False,
) -> pd.DataFrame:
    """Per-class AP, precision, recall and F1.

    Parameters
    ----------
    labels, scores
        (N, C) ground truth and scores.
    threshold
        A class is predicted when its score is ``>= threshold``.
    categories, category_ids
        Names and ids of the C columns (default: ``"0".."C-1"`` and 0..C-1).
    top_k, top_k_threshold
        Predict the top-k classes of each image instead (see the module docs).

    Returns
    -------
    pd.DataFrame
        One row per class, in column order:

        - ``category_id``, ``category``
        - ``n_pos``: positive images (N_g)
        - ``n_pred``: predicted images (N_p)
        - ``n_correct``: correctly predicted images (N_c)
        - ``AP``: average precision (NaN without positives)
        - ``precision``: N_c / N_p, 0 when the class is never predicted
        - ``recall``: N_c / N_g, NaN without positives
        - ``F1``: harmonic mean of precision and recall (0 when both are 0; NaN
          without positives)
    """
    y, s = _check(labels, scores)
    c = y.shape[1]
    if categories is None:
        categories = [str(i) for i in range(c)]
    if category_ids is None:
        category_ids = list(range(c))
    if len(categories) != c or len(category_ids) != c:
        raise InputError(f"{len(categories)} names / {len(category_ids)} ids given for {c} classes")
    pred = _predictions(s, threshold, top_k, top_k_threshold)
    nc, npred, ng = _counts(y, pred)
    prec = _ratio(nc, npred)
    rec = np.where(ng > 0, _ratio(nc, ng), np.nan)
    f1 = np.where(ng > 0, _f1(prec, np.nan_to_num(rec)), np.nan)
    return pd.DataFrame(
        {
            "category_id": np.asarray(category_ids, dtype=np.int64),
            "category": pd.array([str(x) for x in categories], dtype="string"),
            "n_pos": ng.astype(np.int64),
            "n_pred": npred.astype(np.int64),
            "n_correct": nc.astype(np.int64),
            "AP": average_precision(y, s),
            "precision": prec,
            "recall": rec,
            "F1": f1,
        }
    )


def summary_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float = 0.5,
    cf1: CF1Rule = "harmonic",
    top_k: int | None = None,
    empty_classes: EmptyRule = "exclude",
    top_k_threshold: bool = False,
    ap: np.ndarray | None = None,
) -> dict[str, Any]:
    """The Table 1 metrics of one score set (fractions in 0..1).

    Parameters
    ----------
    labels, scores
        (N, C) ground truth and scores.
    threshold
        A class is predicted when its score is ``>= threshold``.
    cf1
        ``"harmonic"`` (Eq. 6) or ``"mean-per-class"``.
    top_k
        Predict the ``top_k`` highest-scoring classes of each image instead.
    empty_classes
        ``"exclude"``: classes without positives are left out of every average;
        ``"zero"``: they count (AP 0, recall 0, their predictions as false positives).
    top_k_threshold
        With ``top_k``, also require ``score >= threshold`` (ML-GCN's code).
    ap
        The per-class AP of these labels and scores, if already computed by
        :func:`average_precision` (saves the sort when several prediction rules
        are evaluated on the same scores); must have shape (C,).

    Returns
    -------
    dict
        ``CP, CR, CF1, OP, OR, OF1, mAP`` (floats), ``n_classes`` (classes
        averaged), ``n_classes_excluded``, ``excluded`` (column indices of the
        classes without positives), ``n_images``, and the rules used: ``cf1``,
        ``prediction`` (e.g. ``"score>=0.5"`` or ``"top-3"``), ``threshold``,
        ``top_k``, ``empty_classes``.
    """
    _check_option("cf1", cf1, ("harmonic", "mean-per-class"))
    _check_option("empty_classes", empty_classes, ("exclude", "zero"))
    y, s = _check(labels, scores)
    pred = _predictions(s, threshold, top_k, top_k_threshold)
    nc, npred, ng = _counts(y, pred)
    if ap is None:
        ap = average_precision(y, s)
    else:
        ap = np.asarray(ap, dtype=np.float64)
        if ap.shape != (y.shape[1],):
            raise InputError(f"ap has shape {ap.shape}, expected ({y.shape[1]},)")
    out = _summary_from_counts(nc, npred, ng, ap, cf1=cf1, empty_classes=empty_classes)
    res: dict[str, Any] = {k: float(out[k]) for k in METRICS}
    excluded = np.flatnonzero(ng == 0)
    res.update(
        n_classes=int(out["n_classes"]),
        n_classes_excluded=int(len(excluded)) if empty_classes == "exclude" else 0,
        excluded=[int(i) for i in excluded] if empty_classes == "exclude" else [],
        n_images=int(y.shape[0]),
        cf1=cf1,
        prediction=_prediction_label(threshold, top_k, top_k_threshold),
        threshold=float(threshold),
        top_k=None if top_k is None else int(top_k),
        empty_classes=empty_classes,
    )
    return res


def _prediction_label(threshold: float, top_k: int | None, top_k_threshold: bool) -> str:
    if top_k is None:
        return f"score>={threshold:g}"
    return f"top-{int(top_k)}" + (f" & score>={threshold:g}" if top_k_threshold else "")


# ------------------------------------------------------------------ bootstrap
def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _batch_size(n: int, g: int) -> int:
    """Resamples per batch: small enough for the (images x batch) weights to stay in cache.

    Measured on COCO-val-sized data: 32 resamples per batch (weights ~5 MB) is about
    twice as fast per resample as 128 or more; tiny sets use larger batches.
    """
    return int(max(16, min(256, 1_300_000 // max(1, n, g))))


def bootstrap_ap(
    labels: np.ndarray,
    score_list: Sequence[np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    jobs: int | None = None,
) -> np.ndarray:
    """Per-class AP of several score sets on the same bootstrap resamples of images.

    Each class of each score set is sorted once; each resample re-weights the
    sorted order with multinomial counts (see :mod:`salanalysis._bootstrap`).
    The result equals, resample by resample, scikit-learn's
    ``average_precision_score(labels[:, c], scores[:, c], sample_weight=counts)``.

    Parameters
    ----------
    labels
        (N, C) ground truth.
    score_list
        Score arrays (N, C), evaluated on the same (paired) resamples.
    n_boot
        Number of resamples.
    seed
        Seed (or Generator) of the resampling; the same seed gives the same resamples.
    jobs
        Worker threads (default: the CPU count, at most 4); results do not depend on it.

    Returns
    -------
    np.ndarray
        (n_boot, len(score_list), C) float64; NaN where a resample holds no
        positive of a class.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    if len(score_list) == 0:
        raise ValueError("score_list is empty")
    checked = [_check(labels, s, f"score set {i}") for i, s in enumerate(score_list)]
    y = checked[0][0]
    n, c = y.shape
    prepared = [SortedAP.build(y, s) for _, s in checked]
    g = max(p.block_matrix.shape[0] for p in prepared)
    out = np.empty((n_boot, len(prepared), c))

    def work(w: np.ndarray) -> list[np.ndarray]:
        return [p.ap(w) for p in prepared]

    for start, res in run_batches(_rng(seed), n, n_boot, _batch_size(n, g), work, default_jobs(jobs)):
        for j, ap in enumerate(res):
            out[start : start + len(ap), j] = ap
    return out


def _pct(a: np.ndarray, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval ignoring NaN (all-NaN slices give NaN, silently)."""
    lo = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(a, lo, axis=axis), np.nanpercentile(a, 100 - lo, axis=axis)


def bootstrap_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    threshold: float = 0.5,
    cf1: CF1Rule = "harmonic",
    top_k: int | None = None,
    empty_classes: EmptyRule = "exclude",
    top_k_threshold: bool = False,
    level: float = 0.95,
    jobs: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Percentile bootstrap intervals of every Table 1 metric and of the per-class metrics.

    Parameters
    ----------
    labels, scores, threshold, cf1, top_k, empty_classes, top_k_threshold
        As :func:`summary_metrics`.
    n_boot, seed
        Resamples and seed (same seed, same resamples as :func:`bootstrap_ap`).
    level
        Interval coverage (0.95: the 2.5th and 97.5th percentiles).
    jobs
        Worker threads (default: the CPU count, at most 4).

    Returns
    -------
    summary : pd.DataFrame
        One row per metric: ``metric`` (CP, CR, CF1, OP, OR, OF1, mAP),
        ``estimate`` (on the full data), ``ci95_low``, ``ci95_high``,
        ``boot_sd`` (standard deviation over resamples), ``n_boot``.
    per_class : pd.DataFrame
        One row per class (column index order): ``class_index``; ``AP``,
        ``AP_low``, ``AP_high``; ``precision``, ``precision_low``,
        ``precision_high``; ``recall``, ``recall_low``, ``recall_high``; ``F1``,
        ``F1_low``, ``F1_high`` (estimates as :func:`per_class_metrics`, intervals
        over the resamples where the value is defined); ``n_boot_valid``
        (resamples holding a positive of the class).
    """
    _check_option("cf1", cf1, ("harmonic", "mean-per-class"))
    _check_option("empty_classes", empty_classes, ("exclude", "zero"))
    y, s = _check(labels, scores)
    pred = _predictions(s, threshold, top_k, top_k_threshold)
    ap_point = average_precision(y, s)
    point = summary_metrics(
        y, s, threshold=threshold, cf1=cf1, top_k=top_k, empty_classes=empty_classes,
        top_k_threshold=top_k_threshold, ap=ap_point,
    )
    n, c = y.shape
    prep = SortedAP.build(y, s)
    yf = y.T.astype(np.float32)
    pf = pred.T.astype(np.float32)
    cf = (y & pred).T.astype(np.float32)
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
        return cls, _summary_from_counts(nc, npred, ng, ap, cf1=cf1, empty_classes=empty_classes)

    batch = _batch_size(n, prep.block_matrix.shape[0])
    for start, (cls, out) in run_batches(_rng(seed), n, n_boot, batch, work, default_jobs(jobs)):
        b = cls["AP"].shape[0]
        for k in METRICS:
            res[k][start : start + b] = out[k]
        for k in per:
            per[k][start : start + b] = cls[k]
    rows = []
    for k in METRICS:
        lo, hi = _pct(res[k], level=level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = float(np.nanstd(res[k], ddof=1))
        rows.append((k, point[k], float(lo), float(hi), sd, n_boot))
    summary = pd.DataFrame(rows, columns=["metric", "estimate", "ci95_low", "ci95_high", "boot_sd", "n_boot"])
    summary["metric"] = summary["metric"].astype("string")
    pc = per_class_metrics(y, s, threshold=threshold, top_k=top_k, top_k_threshold=top_k_threshold)
    per_class = pd.DataFrame({"class_index": np.arange(c, dtype=np.int64)})
    for k in per:
        lo, hi = _pct(per[k], level=level)
        per_class[k] = pc[k].to_numpy()
        per_class[f"{k}_low"], per_class[f"{k}_high"] = lo, hi
    per_class["n_boot_valid"] = np.count_nonzero(~np.isnan(per["AP"]), axis=0).astype(np.int64)
    return summary, per_class


def _p_two_sided(d: np.ndarray) -> float:
    d = d[~np.isnan(d)]
    if d.size == 0:
        return math.nan
    le = 1 + np.count_nonzero(d <= 0)
    ge = 1 + np.count_nonzero(d >= 0)
    return float(min(1.0, 2.0 * min(le, ge) / (d.size + 1)))


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
    categories: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
    empty_classes: EmptyRule = "exclude",
    level: float = 0.95,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Paired bootstrap of the AP difference A - B, per class and for mAP.

    Both score sets are evaluated on the same image resamples (see
    :func:`bootstrap_ap`); the interval is the percentile interval of the
    resampled differences and the p-value is two-sided (module docs).

    Parameters
    ----------
    labels, scores_a, scores_b
        (N, C) ground truth and the two score sets.
    n_boot, seed
        Resamples and seed.
    categories, category_ids
        Names and ids of the columns (default: indices).
    empty_classes
        mAP rule (``"exclude"``: classes without positives in the data, or in a
        resample, are left out; ``"zero"``: they count as AP 0 in both sets, so
        they add nothing to the difference but dilute it).
    level
        Interval coverage.
    jobs
        Worker threads (default: the CPU count, at most 4).

    Returns
    -------
    pd.DataFrame
        One row per class with a positive, then a final ``mAP`` row:

        - ``category_id`` (-1 for mAP), ``category`` (``"mAP"`` for the mAP row)
        - ``n_pos``: positive images
        - ``AP_A``, ``AP_B``, ``delta`` = AP_A - AP_B on the full data
        - ``ci95_low``, ``ci95_high``: percentile interval of the resampled delta
        - ``p_val``: two-sided bootstrap p-value of delta = 0
        - ``n_boot_valid``: resamples where the delta is defined
    """
    _check_option("empty_classes", empty_classes, ("exclude", "zero"))
    y, a = _check(labels, scores_a, "scores A")
    _, b = _check(labels, scores_b, "scores B")
    c = y.shape[1]
    if categories is None:
        categories = [str(i) for i in range(c)]
    if category_ids is None:
        category_ids = list(range(c))
    if len(categories) != c or len(category_ids) != c:
        raise InputError(f"{len(categories)} names / {len(category_ids)} ids given for {c} classes")
    boot = bootstrap_ap(y, [a, b], n_boot=n_boot, seed=seed, jobs=jobs)  # (B, 2, C)
    ap_a, ap_b = average_precision(y, a), average_precision(y, b)
    npos = y.sum(axis=0)
    d = boot[:, 0] - boot[:, 1]  # (B, C)
    if empty_classes == "exclude":
        m = np.nanmean(boot[:, 0], axis=1) - np.nanmean(boot[:, 1], axis=1)
        map_a, map_b = np.nanmean(ap_a), np.nanmean(ap_b)
    else:
        m = np.nanmean(np.nan_to_num(boot[:, 0]), axis=1) - np.nanmean(np.nan_to_num(boot[:, 1]), axis=1)
        map_a, map_b = np.nan_to_num(ap_a).mean(), np.nan_to_num(ap_b).mean()
    lo, hi = _pct(d, level=level)
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
            "p_val": [_p_two_sided(d[:, j]) for j in np.flatnonzero(keep)],
            "n_boot_valid": np.count_nonzero(~np.isnan(d), axis=0)[keep].astype(np.int64),
        }
    )
    mlo, mhi = _pct(m, level=level)
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
            "p_val": [_p_two_sided(m)],
            "n_boot_valid": [int(np.count_nonzero(~np.isnan(m)))],
        }
    )
    out = pd.concat([rows, map_row], ignore_index=True)
    out["category"] = out["category"].astype("string")
    return out


# ------------------------------------------------------------ annotation level
def _aligned(annotations: Annotations, scores: Scores, include_crowd: bool, include_empty: bool):
    ids, y = ground_truth(annotations, include_crowd=include_crowd, include_empty=include_empty)
    src = scores.source or None
    if not np.array_equal(scores.category_ids, annotations.category_ids):
        raise InputError(f"score set '{scores.name}' has categories that differ from the annotations", src)
    pos = np.searchsorted(scores.image_ids, ids)
    pos = np.clip(pos, 0, max(len(scores.image_ids) - 1, 0))
    if len(scores.image_ids) == 0 or not np.array_equal(scores.image_ids[pos], ids):
        missing = np.setdiff1d(ids, scores.image_ids)
        raise InputError(
            f"score set '{scores.name}' lacks {len(missing)} annotated image(s), e.g. {missing[0]}", src
        )
    return ids, y, scores.scores[pos]


_EVAL_KEYS = {"threshold", "cf1", "top_k", "empty_classes", "top_k_threshold"}


def evaluate(
    annotations: Annotations,
    scores: Scores,
    *,
    include_crowd: bool = True,
    include_empty: bool = True,
    **opts: Any,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Table 1 metrics and the per-class table of one score set against the annotations.

    Parameters
    ----------
    annotations
        Ground truth.
    scores
        A score set aligned to the annotations (e.g. from ``read_scores``).
    include_crowd, include_empty
        Ground-truth rules (:func:`ground_truth`).
    **opts
        ``threshold``, ``cf1``, ``top_k``, ``empty_classes``, ``top_k_threshold``
        (:func:`summary_metrics`).

    Returns
    -------
    summary : dict
        :func:`summary_metrics` plus ``model``, ``include_crowd``, ``include_empty``
        and ``excluded_categories`` (names of the classes without positives).
    per_class : pd.DataFrame
        :func:`per_class_metrics` with the annotation file's category ids and names.
    """
    unknown = set(opts) - _EVAL_KEYS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    _, y, s = _aligned(annotations, scores, include_crowd, include_empty)
    summary = summary_metrics(y, s, **opts)
    names = annotations.category_names
    summary.update(
        model=scores.name,
        include_crowd=include_crowd,
        include_empty=include_empty,
        excluded_categories=[names[i] for i in summary["excluded"]],
    )
    pc = per_class_metrics(
        y,
        s,
        threshold=opts.get("threshold", 0.5),
        categories=annotations.category_names,
        category_ids=annotations.category_ids,
        top_k=opts.get("top_k"),
        top_k_threshold=opts.get("top_k_threshold", False),
    )
    return summary, pc


def table1(
    annotations: Annotations,
    score_sets: Sequence[Scores],
    *,
    threshold: float = 0.5,
    cf1: CF1Rule = "harmonic",
    top_k: int | None = None,
    top_k_threshold: bool = False,
    empty_classes: EmptyRule = "exclude",
    include_crowd: bool = True,
    include_empty: bool = True,
    n_boot: int = 0,
    seed: int = 0,
    published: bool = False,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Table 1 over several score sets (fractions in 0..1).

    Parameters
    ----------
    annotations, score_sets
        Ground truth and the score sets (one row each, named by ``Scores.name``).
    threshold, cf1, top_k, top_k_threshold, empty_classes
        Metric rules (:func:`summary_metrics`).
    include_crowd, include_empty
        Ground-truth rules (:func:`ground_truth`).
    n_boot, seed
        With ``n_boot > 0``, add percentile 95% bootstrap intervals (all score
        sets on the same resamples).
    jobs
        Bootstrap worker threads (default: the CPU count, at most 4).
    published
        Append the paper's published Table 1 rows (converted to fractions),
        labelled ``source = "published in Luo et al. 2019, Table 1"``.

    Returns
    -------
    pd.DataFrame
        Columns ``model, CP, CR, CF1, OP, OR, OF1, mAP, n_classes``; with a
        bootstrap, then ``CP_low, CP_high, ..., mAP_low, mAP_high``; then
        ``n_classes_excluded``, ``classes_excluded`` (their names, ";"-separated),
        ``n_images``, ``source`` (``"computed"`` or the
        publication), ``cf1`` (rule), ``prediction`` (e.g. ``score>=0.5``),
        ``ground_truth`` (e.g. ``crowd+empty``), ``empty_classes``, ``n_boot``.
        Published rows have NaN counts, and NaN where the paper prints '-'.
    """
    return _table1(
        annotations, score_sets, threshold=threshold, cf1=cf1, top_k=top_k,
        top_k_threshold=top_k_threshold, empty_classes=empty_classes, include_crowd=include_crowd,
        include_empty=include_empty, n_boot=n_boot, seed=seed, published=published, jobs=jobs,
    )[0]


def _table1(
    annotations: Annotations,
    score_sets: Sequence[Scores],
    *,
    threshold: float,
    cf1: CF1Rule,
    top_k: int | None,
    top_k_threshold: bool,
    empty_classes: EmptyRule,
    include_crowd: bool,
    include_empty: bool,
    n_boot: int,
    seed: int,
    published: bool,
    jobs: int | None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """:func:`table1` plus, with a bootstrap, each score set's per-class AP intervals."""
    per_class_boot: dict[str, pd.DataFrame] = {}
    if not score_sets:
        raise ValueError("no score sets given")
    names = [s.name for s in score_sets]
    if len(set(names)) != len(names):
        raise InputError(f"score set names must be distinct, got {names}")
    gt = ("crowd" if include_crowd else "no-crowd") + ("+empty" if include_empty else "")
    rows = []
    for sc in score_sets:
        _, y, s = _aligned(annotations, sc, include_crowd, include_empty)
        opts = dict(threshold=threshold, cf1=cf1, top_k=top_k, empty_classes=empty_classes,
                    top_k_threshold=top_k_threshold)
        summ = summary_metrics(y, s, **opts)
        row: dict[str, Any] = {"model": sc.name, **{k: summ[k] for k in METRICS}, "n_classes": summ["n_classes"]}
        if n_boot > 0:
            boot, per_class_boot[sc.name] = bootstrap_metrics(y, s, n_boot=n_boot, seed=seed, jobs=jobs, **opts)
            for _, r in boot.iterrows():
                row[f"{r['metric']}_low"] = r["ci95_low"]
                row[f"{r['metric']}_high"] = r["ci95_high"]
        row.update(
            n_classes_excluded=summ["n_classes_excluded"],
            classes_excluded=";".join(annotations.category_names[i] for i in summ["excluded"]),
            n_images=summ["n_images"],
            source="computed",
            cf1=cf1,
            prediction=summ["prediction"],
            ground_truth=gt,
            empty_classes=empty_classes,
            n_boot=int(n_boot),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if published:
        pub = PUBLISHED_TABLE1.copy()
        for k in METRICS:
            pub[k] = (pub[k] / 100.0).round(6)
        pub["source"] = PUBLISHED_SOURCE
        pub["cf1"] = "as published"
        df = pd.concat([df, pub], ignore_index=True)
    cols = ["model", *METRICS, "n_classes"]
    if n_boot > 0:
        cols += [f"{k}_{e}" for k in METRICS for e in ("low", "high")]
    cols += ["n_classes_excluded", "classes_excluded", "n_images", "source", "cf1", "prediction", "ground_truth",
             "empty_classes", "n_boot"]
    df = df.reindex(columns=cols)
    for k in ("n_classes", "n_classes_excluded", "n_images", "n_boot"):
        df[k] = df[k].astype("Int64")
    for k in ("model", "classes_excluded", "source", "cf1", "prediction", "ground_truth", "empty_classes"):
        df[k] = df[k].astype("string")
    return df, per_class_boot


# ------------------------------------------------------------------ formatting
def _pct_cell(v: Any, lo: Any = None, hi: Any = None) -> str:
    if v is None or pd.isna(v):
        return "-"
    s = f"{100 * float(v):.1f}"
    if lo is not None and not pd.isna(lo) and not pd.isna(hi):
        s += f" [{100 * float(lo):.1f}, {100 * float(hi):.1f}]"
    return s


def format_table(table: pd.DataFrame, fmt: Literal["markdown", "latex", "text"] = "markdown") -> str:
    """Render a :func:`table1` frame in percent with one decimal, as the paper.

    Bootstrap intervals, when present, follow each value as ``[low, high]``.
    A caption line states the C-F1 rule, the prediction rule, the ground-truth
    rules and the class rule, and names every estimate that lies outside its
    own interval (see the bootstrap caveat in the module docstring);
    published rows are marked with a dagger.

    Parameters
    ----------
    table
        The output of :func:`table1`.
    fmt
        ``"markdown"``, ``"latex"`` (a ``tabular``) or ``"text"`` (aligned plain text).

    Returns
    -------
    str
    """
    _check_option("fmt", fmt, ("markdown", "latex", "text"))
    header = ["Model", "C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP"]
    has_ci = "mAP_low" in table.columns
    body = []
    any_pub = False
    for _, r in table.iterrows():
        pub = str(r.get("source", "computed")) != "computed"
        any_pub |= pub
        name = str(r["model"]) + (" †" if pub and fmt != "latex" else (r" $^\dagger$" if pub else ""))
        cells = [
            _pct_cell(r[k], r.get(f"{k}_low") if has_ci else None, r.get(f"{k}_high") if has_ci else None)
            for k in METRICS
        ]
        body.append([name, *cells])
    comp = table[table.get("source", pd.Series(["computed"] * len(table))) == "computed"]
    if len(comp):
        r0 = comp.iloc[0]
        cf1_text = "harmonic mean of C-P and C-R (Eq. 6)" if r0["cf1"] == "harmonic" else "mean of per-class F1"
        caption = (
            f"All numbers in %. C-F1: {cf1_text}. Prediction: {r0['prediction']}. "
            f"Ground truth: {r0['ground_truth']} ({int(r0['n_images'])} images). "
            f"Classes: {int(r0['n_classes'])} averaged, {int(r0['n_classes_excluded'])} without positives "
            f"{'excluded' if r0['empty_classes'] == 'exclude' else 'counted as 0'}."
        )
        if has_ci:
            caption += f" [low, high]: percentile 95% bootstrap interval over images ({int(r0['n_boot'])} resamples)."
            outside = [
                f"{r['model']} {label}"
                for _, r in comp.iterrows()
                for k, label in zip(METRICS, header[1:])
                if r[k] < r[f"{k}_low"] or r[k] > r[f"{k}_high"]
            ]
            if outside:
                caption += (
                    " Estimate outside its own interval (on small sets, classes without positives "
                    f"in a resample drop out of its averages): {', '.join(outside)}."
                )
    else:
        caption = "All numbers in %."
    if any_pub:
        caption += f" †: {PUBLISHED_SOURCE}."
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * 7) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + caption + "\n"
    if fmt == "latex":
        esc = _latex_escape
        lines = [r"% " + caption.replace("†", "dagger"), r"\begin{tabular}{l" + "r" * 7 + "}", r"\hline"]
        lines.append(" & ".join(header) + r" \\")
        lines.append(r"\hline")
        for row in body:
            name = row[0]
            if name.endswith(r" $^\dagger$"):
                name = esc(name[: -len(r" $^\dagger$")]) + r" $^\dagger$"
            else:
                name = esc(name)
            lines.append(" & ".join([name, *row[1:]]) + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header))]
    for row in body:
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
    return "\n".join(out) + "\n" + caption + "\n"



def format_per_class(per_class: pd.DataFrame, fmt: Literal["markdown", "latex"] = "markdown") -> str:
    """Render a per-class table in percent with one decimal.

    Parameters
    ----------
    per_class
        :func:`per_class_metrics` output, optionally with a leading ``model``
        column and ``AP_low``/``AP_high`` (etc.) interval columns.
    fmt
        ``"markdown"`` or ``"latex"``.

    Returns
    -------
    str
        One row per (model, class): model (when present), category, n_pos, AP,
        precision, recall, F1; intervals as ``[low, high]``; "-" for undefined values.
    """
    _check_option("fmt", fmt, ("markdown", "latex"))
    has_model = "model" in per_class.columns
    header = (["Model"] if has_model else []) + ["Category", "n_pos", "AP", "P", "R", "F1"]
    body = []
    for _, r in per_class.iterrows():
        cells = [str(r["model"])] if has_model else []
        cells += [str(r["category"]), str(int(r["n_pos"]))]
        for k in ("AP", "precision", "recall", "F1"):
            cells.append(_pct_cell(r[k], r.get(f"{k}_low"), r.get(f"{k}_high")))
        body.append(cells)
    note = (
        "All numbers in %. P: precision (0 when the class is never predicted), R: recall, "
        "F1: per-class F1; '-': undefined (class without positives)."
    )
    if "AP_low" in per_class.columns:
        note += " [low, high]: percentile 95% bootstrap interval over images."
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |",
                 "| " + " | ".join(["---"] * (len(header) - 5) + ["---:"] * 5) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + note + "\n"
    lines = ["% " + note, r"\begin{tabular}{" + "l" * (len(header) - 5) + "r" * 5 + "}", r"\hline",
             " & ".join(header) + r" \\", r"\hline"]
    lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _latex_escape(t: str) -> str:
    for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        t = t.replace(a, b)
    return t


# ---------------------------------------------------------------- file output
def write_metrics(
    annotations: Annotations | str | os.PathLike,
    scores: Sequence[tuple[str, str | os.PathLike]] | Sequence[Scores],
    out: str | os.PathLike,
    *,
    threshold: float = 0.5,
    cf1: CF1Rule = "harmonic",
    top_k: int | None = None,
    top_k_threshold: bool = False,
    empty_classes: EmptyRule = "exclude",
    include_crowd: bool = True,
    include_empty: bool = True,
    n_boot: int = 0,
    seed: int = 0,
    paired: bool = False,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    published: bool = False,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Compute Table 1 and write it: what ``salanalysis metrics`` does.

    Everything is computed before anything is written; each file is written
    atomically.

    Parameters
    ----------
    annotations
        An :class:`~salanalysis.coco.Annotations` or the path of a COCO instances JSON.
    scores
        ``(name, path)`` pairs (read with :func:`~salanalysis.scores.read_scores`)
        or :class:`~salanalysis.scores.Scores` objects.
    out
        Output CSV. Also written: ``out`` with suffix ``.md`` and ``.tex``
        (:func:`format_table`), ``<stem>_per_class.csv`` (columns ``model`` then
        :func:`per_class_metrics`, plus ``AP_low, AP_high, precision_low, ...,
        F1_high`` with a bootstrap), ``<stem>_per_class.md`` and ``.tex``
        (:func:`format_per_class`) and, with ``paired`` and ``n_boot > 0`` and at least two
        score sets, ``<stem>_paired.csv`` (``model_A``, ``model_B`` then
        :func:`paired_bootstrap`, first score set against each other one).
    threshold, cf1, top_k, top_k_threshold, empty_classes, include_crowd, include_empty
        As :func:`table1`.
    n_boot, seed
        Bootstrap resamples (0: none) and seed.
    paired
        Also write the paired bootstrap comparison.
    logits, missing
        Passed to :func:`~salanalysis.scores.read_scores`.
    published
        Add the paper's published rows.
    jobs
        Bootstrap worker threads (default: the CPU count, at most 4).

    Returns
    -------
    pd.DataFrame
        The :func:`table1` frame that was written.
    """
    from salanalysis.io import write_table, write_text
    from salanalysis.scores import read_score_sets

    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise InputError("output must end in .csv", out)
    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    if not sets:
        raise InputError("no score sets given")
    opts = dict(threshold=threshold, cf1=cf1, top_k=top_k, top_k_threshold=top_k_threshold,
                empty_classes=empty_classes)
    table, pc_boot = _table1(ann, sets, include_crowd=include_crowd, include_empty=include_empty,
                             n_boot=n_boot, seed=seed, published=published, jobs=jobs, **opts)
    per_class = []
    for sc in sets:
        _, pc = evaluate(ann, sc, include_crowd=include_crowd, include_empty=include_empty, **opts)
        if n_boot > 0:
            for k in ("AP", "precision", "recall", "F1"):
                for e in ("low", "high"):
                    pc[f"{k}_{e}"] = pc_boot[sc.name][f"{k}_{e}"].to_numpy()
        pc.insert(0, "model", sc.name)
        per_class.append(pc)
    per_class_df = pd.concat(per_class, ignore_index=True)
    per_class_df["model"] = per_class_df["model"].astype("string")
    paired_df = None
    if paired and n_boot > 0 and len(sets) >= 2:
        parts = []
        _, y, a = _aligned(ann, sets[0], include_crowd, include_empty)
        for other in sets[1:]:
            _, _, b = _aligned(ann, other, include_crowd, include_empty)
            pb = paired_bootstrap(y, a, b, n_boot=n_boot, seed=seed, categories=ann.category_names,
                                  category_ids=ann.category_ids, empty_classes=empty_classes, jobs=jobs)
            pb.insert(0, "model_B", other.name)
            pb.insert(0, "model_A", sets[0].name)
            parts.append(pb)
        paired_df = pd.concat(parts, ignore_index=True)
    stem = out.with_suffix("")
    write_table(table, out)
    write_text(out.with_suffix(".md"), format_table(table, "markdown"))
    write_text(out.with_suffix(".tex"), format_table(table, "latex"))
    write_table(per_class_df, stem.parent / f"{stem.name}_per_class.csv")
    write_text(stem.parent / f"{stem.name}_per_class.md", format_per_class(per_class_df, "markdown"))
    write_text(stem.parent / f"{stem.name}_per_class.tex", format_per_class(per_class_df, "latex"))
    if paired_df is not None:
        write_table(paired_df, stem.parent / f"{stem.name}_paired.csv")
    return table
