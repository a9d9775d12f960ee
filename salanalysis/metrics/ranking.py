"""Ranking measures that do not move with prevalence: ROC AUC, chance AP and normalised AP.

AP's chance level is the class's prevalence (more exactly :func:`chance_ap`), so a
score set's mAP rises wherever classes become more frequent, for example with the
number of objects per image (Fig. 3), even for a random scorer. These measures
separate ranking quality from prevalence:

- :func:`roc_auc`: per-class ROC AUC, ``P(score_pos > score_neg) + P(tie) / 2`` (0.5 for
  any random ranking, whatever the prevalence), equal to
  :func:`sklearn.metrics.roc_auc_score`;
- :func:`chance_ap`: the expected AP of a uniformly random ranking of ``n`` images with
  ``k`` positives (exact):
  ``E[AP] = (k - 1) / (n - 1) + H_n (n - k) / (n (n - 1))``, ``H_n`` the n-th harmonic
  number. (A positive at rank ``r`` has precision ``(1 + X) / r`` with ``X`` the other
  positives above it, hypergeometric with mean ``(r - 1)(k - 1)/(n - 1)``; average over
  ``r``.) It exceeds the prevalence ``k / n`` by about ``H_n / n``;
- :func:`normalized_ap`: ``(AP - prevalence) / (1 - prevalence)``: 0 at the prevalence,
  1 for a perfect ranking.
"""

from __future__ import annotations

import numpy as np

from salanalysis.metrics.ap import average_precision_and_auc

__all__ = ["roc_auc", "chance_ap", "normalized_ap", "prevalence"]


def roc_auc(labels: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-class ROC AUC (ties count half), NaN for a class without positives or without negatives.

    ``mask`` (N, C) bool: the images that count for each class (LVIS federated evaluation).
    Computed from one sort of each class, the one average precision uses
    (:func:`~salanalysis.metrics.ap.average_precision_and_auc`).
    """
    return average_precision_and_auc(labels, scores, mask)[1]


def chance_ap(n_pos, n) -> np.ndarray:
    """Expected AP of a uniformly random ranking of ``n`` images holding ``n_pos`` positives.

    NaN where ``n_pos`` is 0; 1 where every image is positive.
    """
    k = np.asarray(n_pos, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    from scipy.special import digamma

    h = digamma(n + 1) + np.euler_gamma  # H_n
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(n > 1, (k - 1) / (n - 1) + h * (n - k) / (n * (n - 1)), 1.0)
    return np.where(k > 0, e, np.nan)


def prevalence(labels: np.ndarray) -> np.ndarray:
    """Share of positive images of each class."""
    y = np.asarray(labels, dtype=bool)
    return y.mean(axis=0) if y.shape[0] else np.full(y.shape[1], np.nan)


def normalized_ap(ap, prev) -> np.ndarray:
    """``(AP - prevalence) / (1 - prevalence)``; NaN where AP is NaN or every image is positive."""
    ap = np.asarray(ap, dtype=np.float64)
    prev = np.asarray(prev, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prev < 1, (ap - prev) / (1 - prev), np.nan)
