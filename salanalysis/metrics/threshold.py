"""Threshold metrics of Table 1 (Eq. 6): per-class and overall precision, recall and F1, and mAP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.errors import InputError
from salanalysis.metrics.ap import _check, _check_mask, average_precision, average_precision_and_auc
from salanalysis.metrics.ranking import chance_ap, normalized_ap, roc_auc
from salanalysis.metrics.rules import DEFAULT_RULES, METRICS, MetricRules

__all__ = ["predictions", "per_class_metrics", "summary_metrics"]


def predictions(scores: np.ndarray, rules: MetricRules = DEFAULT_RULES) -> np.ndarray:
    """Boolean predictions: ``score >= threshold``, or the top-k classes of each image."""
    if rules.top_k is None:
        return scores >= rules.threshold
    n, c = scores.shape
    if not 1 <= int(rules.top_k) <= c:
        raise InputError(f"top_k must be between 1 and the number of classes ({c}), got {rules.top_k}")
    k = int(rules.top_k)
    kth = np.partition(scores, c - k, axis=1)[:, c - k : c - k + 1]  # k-th largest per image
    above = scores > kth
    at = scores == kth
    room = k - above.sum(axis=1, keepdims=True)  # ties at the k-th score: lowest index first
    pred = above | (at & (np.cumsum(at, axis=1) <= room))
    if rules.top_k_threshold:
        pred &= scores >= rules.threshold
    return pred


def _counts(y: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class N_c (correct), N_p (predicted), N_g (ground truth) as float64, over the pairs of ``mask``."""
    if mask is not None:
        pred = pred & mask  # a prediction where the class is not evaluated counts nowhere
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
    rules: MetricRules,
) -> dict[str, np.ndarray]:
    """Table 1 metrics from per-class counts; the last axis is classes (batched)."""
    has = ng > 0
    incl = has if rules.empty_classes == "exclude" else np.ones_like(has)
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
        if rules.cf1 == "harmonic":
            c_f1 = _f1(cp, cr)
        else:
            c_f1 = np.where(incl, f1, 0.0).sum(axis=-1) / denom
        # O-P/O-R pool every class (every prediction counts) or the averaged classes only
        pool = np.ones_like(has) if rules.overall == "all-predictions" else incl
        snc = np.where(pool, nc, 0.0).sum(axis=-1)
        op = _ratio(snc, np.where(pool, npred, 0.0).sum(axis=-1))
        orr = _ratio(snc, np.where(pool, ng, 0.0).sum(axis=-1))
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


def class_names(categories: Sequence[str] | None, category_ids: Sequence[int] | None,
                c: int) -> tuple[list[str], list[int]]:
    """Names and ids of ``c`` classes (default ``"0".."c-1"`` and ``0..c-1``); InputError on a wrong count."""
    categories = [str(i) for i in range(c)] if categories is None else list(categories)
    category_ids = list(range(c)) if category_ids is None else list(category_ids)
    if len(categories) != c or len(category_ids) != c:
        raise InputError(f"{len(categories)} names / {len(category_ids)} ids given for {c} classes")
    return categories, category_ids


def per_class_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    rules: MetricRules = DEFAULT_RULES,
    *,
    categories: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
    mask: np.ndarray | None = None,
    ap: np.ndarray | None = None,
    auc: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-class AP, precision, recall and F1.

    Parameters
    ----------
    labels, scores
        (N, C) ground truth and scores.
    rules
        The prediction rule (``threshold``, or ``top_k`` and ``top_k_threshold``).
    categories, category_ids
        Names and ids of the C columns (default: ``"0".."C-1"`` and 0..C-1).
    mask
        (N, C) bool: the images that count for each class (LVIS federated
        evaluation, :func:`~salanalysis.metrics.ap.evaluation_mask`); None: all.
    ap
        The per-class AP, if already computed (:func:`average_precision` with the same mask).
    auc
        The per-class ROC AUC, if already computed (with the AP by
        :func:`~salanalysis.metrics.ap.average_precision_and_auc`, same mask).

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
        - ``prevalence``: n_pos / images evaluated; ``chance_AP``: the expected AP of a
          random ranking (:func:`~salanalysis.metrics.ranking.chance_ap`, NaN without positives)
        - ``AP_norm``: chance-corrected AP ``(AP - chance_AP) / (1 - chance_AP)``, 0 in
          expectation for a random ranking (:func:`~salanalysis.metrics.ranking.normalized_ap`;
          it still rises with prevalence at a fixed ranking quality: only ``AUC`` does not)
        - ``AUC``: ROC AUC (NaN without positives or without negatives)
        - ``n_images`` (only with a ``mask``): images evaluated for the class
    """
    y, s = _check(labels, scores)
    if mask is not None:
        mask = _check_mask(mask, y)
    categories, category_ids = class_names(categories, category_ids, y.shape[1])
    pred = predictions(s, rules)
    nc, npred, ng = _counts(y, pred, mask)
    prec = _ratio(nc, npred)
    rec = np.where(ng > 0, _ratio(nc, ng), np.nan)
    f1 = np.where(ng > 0, _f1(prec, np.nan_to_num(rec)), np.nan)
    if ap is None and auc is None:
        ap, auc = average_precision_and_auc(y, s, mask)
    elif ap is None:
        ap = average_precision(y, s, mask)
    out = pd.DataFrame(
        {
            "category_id": np.asarray(category_ids, dtype=np.int64),
            "category": pd.array([str(x) for x in categories], dtype="string"),
            "n_pos": ng.astype(np.int64),
            "n_pred": npred.astype(np.int64),
            "n_correct": nc.astype(np.int64),
            "AP": np.asarray(ap, dtype=np.float64),
            "precision": prec,
            "recall": rec,
            "F1": f1,
        }
    )
    n_img = np.count_nonzero(mask, axis=0) if mask is not None else np.full(y.shape[1], y.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        prev = np.where(n_img > 0, ng / np.maximum(n_img, 1), np.nan)
    out["prevalence"] = prev
    out["chance_AP"] = chance_ap(ng, n_img)
    out["AP_norm"] = normalized_ap(out["AP"].to_numpy(), ng, n_img)
    out["AUC"] = roc_auc(y, s, mask) if auc is None else np.asarray(auc, dtype=np.float64)
    if mask is not None:
        out["n_images"] = n_img.astype(np.int64)
    return out


def summary_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    rules: MetricRules = DEFAULT_RULES,
    *,
    ap: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """The Table 1 metrics of one score set (fractions in 0..1).

    Parameters
    ----------
    labels, scores
        (N, C) ground truth and scores.
    rules
        The prediction rule, the C-F1 rule (``"harmonic"``, Eq. 6, or
        ``"mean-per-class"``) and the class rule (``empty_classes="exclude"``:
        classes without positives are left out of every average; ``"zero"``: they
        count with AP 0, recall 0, their predictions as false positives).
    ap
        The per-class AP of these labels and scores, if already computed by
        :func:`average_precision` (saves the sort when several prediction rules
        are evaluated on the same scores); must have shape (C,).
    mask
        (N, C) bool: the images that count for each class (LVIS federated
        evaluation); None: all. A prediction outside the mask counts nowhere.

    Returns
    -------
    dict
        ``CP, CR, CF1, OP, OR, OF1, mAP`` (floats), ``n_classes`` (classes
        averaged), ``n_classes_excluded``, ``excluded`` (column indices of the
        classes without positives), ``n_images``, and the rules used: ``cf1``,
        ``prediction`` (e.g. ``"score>=0.5"`` or ``"top-3"``), ``threshold``,
        ``top_k``, ``empty_classes``, ``overall`` (the O-P/O-R pooling rule),
        ``federated`` (``"on"`` with a mask, else ``"off"``).
    """
    y, s = _check(labels, scores)
    if mask is not None:
        mask = _check_mask(mask, y)
    pred = predictions(s, rules)
    nc, npred, ng = _counts(y, pred, mask)
    if ap is None:
        ap = average_precision(y, s, mask)
    else:
        ap = np.asarray(ap, dtype=np.float64)
        if ap.shape != (y.shape[1],):
            raise InputError(f"ap has shape {ap.shape}, expected ({y.shape[1]},)")
    out = _summary_from_counts(nc, npred, ng, ap, rules)
    res: dict[str, Any] = {k: float(out[k]) for k in METRICS}
    excluded = np.flatnonzero(ng == 0)
    res.update(
        n_classes=int(out["n_classes"]),
        n_classes_excluded=int(len(excluded)) if rules.empty_classes == "exclude" else 0,
        excluded=[int(i) for i in excluded] if rules.empty_classes == "exclude" else [],
        n_images=int(y.shape[0]),
        cf1=rules.cf1,
        prediction=rules.prediction,
        threshold=rules.threshold,
        top_k=rules.top_k,
        empty_classes=rules.empty_classes,
        overall=rules.overall,
        federated="on" if mask is not None else "off",
    )
    return res

