"""Ranking measures beside AP: ROC AUC, chance AP and chance-corrected AP.

AP's chance level is the class's prevalence (more exactly :func:`chance_ap`), so a
score set's mAP rises wherever classes become more frequent, for example with the
number of objects per image (Fig. 3), even for a random scorer. Of these measures only
the ROC AUC is free of prevalence; the chance-corrected AP removes AP's chance level
but still rises with prevalence for any informative scorer (``benchmarks/calibration.py``):

- :func:`roc_auc`: per-class ROC AUC, ``P(score_pos > score_neg) + P(tie) / 2`` (0.5 for
  any random ranking, whatever the prevalence), equal to
  :func:`sklearn.metrics.roc_auc_score`;
- :func:`chance_ap`: the expected AP of a uniformly random ranking of ``n`` images with
  ``k`` positives (exact):
  ``E[AP] = (k - 1) / (n - 1) + H_n (n - k) / (n (n - 1))``, ``H_n`` the n-th harmonic
  number. (A positive at rank ``r`` has precision ``(1 + X) / r`` with ``X`` the other
  positives above it, hypergeometric with mean ``(r - 1)(k - 1)/(n - 1)``; average over
  ``r``.) It exceeds the prevalence ``k / n`` by about ``H_n / n``;
- :func:`normalized_ap`: the chance-corrected AP ``(AP - chance AP) / (1 - chance AP)``:
  0 in expectation for a random ranking, 1 for a perfect ranking. It is **not**
  prevalence-free: at a fixed ranking quality (the same score distributions of
  positives and negatives) AP, and with it this ratio, rises with prevalence. (The
  former ``(AP - prevalence) / (1 - prevalence)`` was not even 0 at chance: a random
  ranking's AP exceeds the prevalence by about ``H_n / n``, e.g. 0.32 for 1 positive
  in 5 images.)
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


def normalized_ap(ap, n_pos, n) -> np.ndarray:
    """Chance-corrected AP ``(AP - chance AP) / (1 - chance AP)`` of ``n_pos`` positives among ``n`` images.

    The chance AP is :func:`chance_ap` (exact for a uniformly random ranking), so a random
    scorer's expected value is 0 whatever the prevalence and the number of images (for
    weighted, bootstrap data ``n_pos`` may be a weighted count). NaN where AP is NaN, there
    is no positive, or every image is positive (chance AP 1).
    """
    ap = np.asarray(ap, dtype=np.float64)
    ch = chance_ap(n_pos, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ch < 1, (ap - ch) / (1 - ch), np.nan)
