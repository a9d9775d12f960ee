"""Ground-truth labels and average precision (Eq. 7 of the paper)."""

from __future__ import annotations

from typing import Any

import numpy as np

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics.rules import DEFAULT_RULES, MetricRules

__all__ = ["ground_truth", "evaluation_mask", "federated_on", "average_precision", "average_precision_and_auc"]


def ground_truth(annotations: Annotations, rules: MetricRules = DEFAULT_RULES) -> tuple[np.ndarray, np.ndarray]:
    """Image-level ground-truth labels.

    Parameters
    ----------
    annotations
        The COCO instances file.
    rules
        ``rules.include_crowd``: count crowd annotations as labels (default, as
        ML-GCN and ASL). ``rules.include_empty``: keep images without any
        annotation as all-negative rows (default); when False they are dropped
        (with ``include_crowd=False``, an image holding only crowd annotations is
        dropped too).

    Returns
    -------
    image_ids : np.ndarray
        int64 (N,), ascending, in ``annotations.images`` order.
    labels : np.ndarray
        bool (N, C), columns in category-id order.
    """
    ids = annotations.image_ids
    y = annotations.label_matrix(include_crowd=rules.include_crowd)
    if not rules.include_empty:
        keep = y.any(axis=1)
        ids, y = ids[keep], y[keep]
    return np.asarray(ids, dtype=np.int64), y


def federated_on(annotations: Annotations, rules: MetricRules = DEFAULT_RULES) -> bool:
    """Whether LVIS's federated evaluation applies (``rules.federated`` and the file's fields).

    Raises
    ------
    InputError
        ``federated="on"`` for a file whose images carry neither
        ``neg_category_ids`` nor ``not_exhaustive_category_ids``.
    """
    if rules.federated == "off":
        return False
    has = annotations.has_federated_fields
    if rules.federated == "on" and not has:
        raise InputError("federated evaluation needs images with neg_category_ids or "
                         "not_exhaustive_category_ids (LVIS); this file has none", annotations.path)
    return has


def evaluation_mask(annotations: Annotations, rules: MetricRules = DEFAULT_RULES) -> np.ndarray | None:
    """Which (image, class) pairs count, by LVIS's federated rule; None when every pair counts.

    For class ``c`` an image counts when it is a positive (an annotation of
    ``c``, crowd ones by ``rules.include_crowd``) or lists ``c`` in its
    ``neg_category_ids`` (verified absent); a class in its
    ``not_exhaustive_category_ids`` without an annotation of it does not count
    (a prediction there is neither right nor wrong). Rows follow
    :func:`ground_truth` (``rules.include_empty``).

    Returns
    -------
    np.ndarray or None
        bool (N, C), or None when federated evaluation is off (:func:`federated_on`).

    Raises
    ------
    InputError
        ``federated="on"`` without the fields, or an image listing an annotated
        class as verified absent.
    """
    if not federated_on(annotations, rules):
        return None
    neg, not_exhaustive = annotations.federated_labels()
    y = annotations.label_matrix(include_crowd=rules.include_crowd)
    clash = y & neg
    if clash.any():
        i, c = np.argwhere(clash)[0]
        raise InputError(f"image {annotations.image_ids[i]} lists category {annotations.category_ids[c]} in "
                         "neg_category_ids but has an annotation of it", annotations.path)
    mask = y | (neg & ~not_exhaustive)
    if not rules.include_empty:
        mask = mask[y.any(axis=1)]
    return mask


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


def _check_mask(mask: Any, y: np.ndarray) -> np.ndarray:
    """Validate an evaluation mask against the labels: same shape, bool, holding every positive."""
    m = np.asarray(mask)
    if m.shape != y.shape or m.dtype != bool:
        raise InputError(f"the evaluation mask must be a bool array of shape {y.shape}, got {m.dtype} {m.shape}")
    if (y & ~m).any():
        raise InputError("the evaluation mask leaves out a positive")
    return m


def average_precision(labels: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
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
    mask
        (N, C) bool: the images that count for each class (:func:`evaluation_mask`;
        every positive must count); None: all. The AP of class ``c`` is then
        ``average_precision_score(labels[mask[:, c], c], scores[mask[:, c], c])``.

    Returns
    -------
    np.ndarray
        (C,) float64; NaN for classes without positives.

    Raises
    ------
    InputError
        Shape mismatch, non-binary labels, NaN/infinite scores, no images.
    """
    return _ranked(labels, scores, mask, auc=False)[0]


def average_precision_and_auc(labels: np.ndarray, scores: np.ndarray,
                              mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-class AP (:func:`average_precision`) and ROC AUC from one sort of each class.

    The AUC of class ``c`` is ``P(score_pos > score_neg) + P(tie) / 2`` over its
    positives and negatives (those in ``mask[:, c]``): for each positive, the
    negatives scoring below it plus half of those scoring the same, read off the
    class's sorted scores that AP already needs (ties by midranks, as
    :func:`sklearn.metrics.roc_auc_score`). NaN for a class without positives or
    without negatives. Same parameters as :func:`average_precision`.

    Returns
    -------
    (ap, auc)
        Two (C,) float64 arrays.
    """
    return _ranked(labels, scores, mask, auc=True)


def _ranked(labels: Any, scores: Any, mask: Any, auc: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """AP and (``auc``) ROC AUC of every class, each class sorted once."""
    y, s = _check(labels, scores)
    n, c = y.shape
    st = np.ascontiguousarray(s.T)
    yt = np.ascontiguousarray(y.T)
    n_out = np.zeros(c, dtype=np.int64)  # images left out of each class (sorted below every score)
    if mask is not None:
        mask = _check_mask(mask, y)
        # pairs that do not count sort below every score: never among the images scoring >= a positive
        st = np.where(mask.T, st, -np.inf)
        n_out = n - np.count_nonzero(mask, axis=0)
    elif np.shares_memory(st, s):  # s was already class-major: sort a copy, not the caller's array
        st = st.copy()
    pos_scores = st[yt]  # positives' scores, class by class
    st.sort(axis=1)  # ascending, per class, in place (st is this function's own array)
    sorted_all = st
    npos = np.count_nonzero(yt, axis=1)
    bounds = np.concatenate([[0], np.cumsum(npos)])
    out = np.full(c, np.nan)
    out_auc = np.full(c, np.nan) if auc else None
    for k in np.flatnonzero(npos):
        ps = np.sort(pos_scores[bounds[k] : bounds[k + 1]])
        # For a positive scoring v, the tie group of v ends after every image scoring >= v:
        # precision there = #positives >= v / #images >= v. Summing it over the positives
        # weights each group by the positives it holds (its recall gain), as sklearn does.
        pos_lt = np.searchsorted(ps, ps, side="left")
        all_lt = np.searchsorted(sorted_all[k], ps, side="left")
        out[k] = np.mean((npos[k] - pos_lt) / (n - all_lt))
        n_neg = n - n_out[k] - npos[k]
        if auc and n_neg > 0:
            # negatives below v (the left-out images sort below all) plus half the negatives tied at v
            pos_eq = np.searchsorted(ps, ps, side="right") - pos_lt
            all_eq = np.searchsorted(sorted_all[k], ps, side="right") - all_lt
            below = (all_lt - pos_lt - n_out[k]).sum() + 0.5 * (all_eq - pos_eq).sum()
            out_auc[k] = below / (float(npos[k]) * float(n_neg))
    return out, out_auc
