"""Paired permutation test of per-class AP differences, and multiplicity adjustment (Fig. 4).

Test
----
Two score sets ``A`` and ``B`` scored the same images. Under the null hypothesis
"the two models are exchangeable" (for every image, the pair of score vectors
``(a_i, b_i)`` is as likely as ``(b_i, a_i)``), swapping the two models' scores of
an image changes nothing in distribution. :func:`paired_permutation_ap` draws
``n_perm`` random swap patterns (each image swapped with probability 1/2, the
same swap for every class of the image, so the dependence between classes that
share images is kept) and recomputes every class's ``AP(B') - AP(A')``. The
Monte Carlo p-value ``(1 + #{|d*| >= |d|}) / (n_perm + 1)`` is exact (valid at
every level) under that null for any ``n_perm``; its smallest value is
``1 / (n_perm + 1)``, so ``n_perm`` must exceed ``m / alpha`` for ``m`` classes
before a Bonferroni/Holm or Benjamini-Hochberg correction can pass at all.

Because the swap pattern is shared by all classes, the same permutations give the
null distribution of any statistic over the classes: the mean difference (delta
mAP) and the balance ``#{d > 0} - #{d < 0}`` ("most categories improve").

Algorithm
---------
For one class, the ``2N`` scores of both models are pooled and sorted once. A swap
pattern picks, for every image, which of its two pooled items belongs to ``A'``
(the other to ``B'``). The number of ``A'`` items scoring at least a positive's
score is a prefix sum over the pooled order (ties: the end of the tie group, as
:func:`salanalysis.metrics.average_precision` and scikit-learn), so each
permutation costs one cumulative sum over the pooled items down to the lowest
positive, vectorised over permutations; ``B'`` takes the complement.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["PermutationAP", "paired_permutation_ap", "permutation_p", "adjust_pvalues", "category_decisions",
           "ADJUST_METHODS"]

#: Multiplicity adjustments: name -> statsmodels ``multipletests`` method it equals.
ADJUST_METHODS = {"bh": "fdr_bh", "holm": "holm"}

_CHUNK_ELEMENTS = 1_000_000  # permutations x pooled items per block (memory ~ 4 bytes each)


@dataclass
class PermutationAP:
    """Observed and permuted per-class AP differences ``AP_B - AP_A``.

    Attributes
    ----------
    delta
        (C,) observed differences; NaN for classes without a positive.
    null
        (n_perm, C) differences under random within-image swaps of the two models.
    n_perm, seed
        Number of permutations and the seed that drew them.
    """

    delta: np.ndarray
    null: np.ndarray
    n_perm: int
    seed: int


def _class_layout(y: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Pooled sort of one class: image and model of each item down to the lowest positive, and
    for each positive item its tie-group end and the number of positive items up to that end."""
    n = len(y)
    v = np.concatenate([a, b])
    order = np.argsort(-v, kind="stable")
    vs = v[order]
    n2 = 2 * n
    is_last = np.ones(n2, dtype=bool)
    is_last[:-1] = vs[1:] != vs[:-1]
    end = np.minimum.accumulate(np.where(is_last, np.arange(n2), n2)[::-1])[::-1]
    yy = np.concatenate([y, y])[order]
    sp = np.flatnonzero(yy)  # sorted positions of the positive items (2m of them)
    e = end[sp]
    length = int(e.max()) + 1
    k = np.searchsorted(sp, e, side="right")  # positive items at positions <= e
    img = (order % n)[:length]
    from_b = (order >= n)[:length]
    return img, from_b, sp, e, k, int(y.sum())


def _ap_pair(u: np.ndarray, sp: np.ndarray, e: np.ndarray, k: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """AP of A' and B' for pooled items x permutations ``u`` (L, P): True where the item belongs to A'."""
    dtype = np.int16 if u.shape[0] < np.iinfo(np.int16).max else np.int32
    ca = np.cumsum(u, axis=0, dtype=dtype)[e].astype(np.float64)  # A' items scoring >= each positive
    upos = u[sp]
    cpa = np.cumsum(upos, axis=0, dtype=np.int32)[k - 1].astype(np.float64)  # A' positives >= it
    cb = (e + 1)[:, None] - ca
    cpb = k[:, None] - cpa
    ap_a = np.where(upos, cpa / np.maximum(ca, 1), 0.0).sum(axis=0) / m
    ap_b = np.where(upos, 0.0, cpb / np.maximum(cb, 1)).sum(axis=0) / m
    return ap_a, ap_b


def paired_permutation_ap(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_perm: int = 9999,
    seed: int = 0,
    mask: np.ndarray | None = None,
    jobs: int | None = None,
) -> PermutationAP:
    """Per-class ``AP(b) - AP(a)`` and its null distribution under within-image swaps.

    Parameters
    ----------
    labels
        (N, C) bool ground truth.
    a, b
        (N, C) finite scores of the two models (only their order within a class matters).
    n_perm
        Random swap patterns (0: observed differences only).
    seed
        Seed of the swap patterns (the same seed gives the same result).
    mask
        (N, C) bool: the images that count for each class (LVIS federated rule);
        None: all. Pairs outside it drop out of both models' AP.
    jobs
        Worker threads over the classes (None: as the bootstraps, :func:`salanalysis._bootstrap.default_jobs`;
        0: all cores). The result does not depend on it.

    Returns
    -------
    PermutationAP
        ``delta`` equals ``average_precision(labels, b) - average_precision(labels, a)``.
    """
    from salanalysis.metrics.ap import _check, _check_mask

    y, sa = _check(labels, a)
    _, sb = _check(labels, b)
    if sa.shape != sb.shape:
        raise ValueError(f"score sets have shapes {sa.shape} and {sb.shape}")
    if isinstance(n_perm, bool) or int(n_perm) != n_perm or n_perm < 0:
        raise ValueError(f"n_perm must be a non-negative integer, got {n_perm!r}")
    n_perm = int(n_perm)
    if mask is not None:
        mask = _check_mask(mask, y)
        sa = np.where(mask, sa, -np.inf)
        sb = np.where(mask, sb, -np.inf)
    n, c = y.shape
    layouts = [(j, _class_layout(y[:, j], sa[:, j], sb[:, j])) for j in range(c) if y[:, j].any()]
    delta = np.full(c, np.nan)
    null = np.full((n_perm, c), np.nan)
    for j, (_img, from_b, sp, e, k, m) in layouts:
        ap_a, ap_b = _ap_pair(~from_b[:, None], sp, e, k, m)
        delta[j] = ap_b[0] - ap_a[0]
    if n_perm == 0 or not layouts:
        return PermutationAP(delta, null, n_perm, int(seed))
    from salanalysis._bootstrap import default_jobs

    rng = np.random.default_rng(seed)
    longest = max(len(lay[0]) for _, lay in layouts)
    threads = min(default_jobs(jobs), len(layouts))
    # the chunk does not depend on the threads (the swap patterns of a seed are drawn chunk by
    # chunk); each thread holds its own (L, P) work arrays, so memory is threads x the chunk's
    chunk = max(1, min(n_perm, _CHUNK_ELEMENTS // max(longest, n)))

    def one_class(lay, swap: np.ndarray, start: int, stop: int) -> None:
        j, (img, from_b, sp, e, k, m) = lay
        u = swap[img] ^ ~from_b[:, None]  # item from A and not swapped, or from B and swapped: in A'
        ap_a, ap_b = _ap_pair(u, sp, e, k, m)
        null[start:stop, j] = ap_b - ap_a

    # the swap patterns are drawn here, chunk after chunk, so the null does not depend on the
    # threads; numpy's cumulative sums release the GIL, so classes run on several cores
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, n_perm, chunk):
            stop = min(n_perm, start + chunk)
            swap = rng.integers(0, 2, size=(n, stop - start), dtype=np.uint8).astype(bool)  # images x perms
            n_done = len(layouts)
            list(pool.map(one_class, layouts, [swap] * n_done, [start] * n_done, [stop] * n_done))
    return PermutationAP(delta, null, n_perm, int(seed))


def permutation_p(observed: np.ndarray | float, null: np.ndarray) -> np.ndarray:
    """Two-sided Monte Carlo permutation p-value(s): ``(1 + #{|null| >= |observed|}) / (n_perm + 1)``.

    ``null`` is (n_perm,) or (n_perm, K) for K statistics; NaN where the observed value
    is NaN or there are no permutations. A relative tolerance of 1e-9 counts a
    permuted value equal to the observed one up to rounding as at least as extreme.
    """
    obs = np.atleast_1d(np.asarray(observed, dtype=np.float64))
    nul = np.asarray(null, dtype=np.float64)
    if nul.shape[0] == 0:
        return np.full(obs.shape, np.nan)
    nul = nul.reshape(nul.shape[0], -1)
    thr = np.abs(obs) * (1 - 1e-9) - 1e-12
    hits = (np.abs(nul) >= thr[None, :]).sum(axis=0)
    p = (1 + hits) / (nul.shape[0] + 1)
    return np.where(np.isfinite(obs), p, np.nan)


def adjust_pvalues(p: np.ndarray, method: str = "bh") -> np.ndarray:
    """Multiplicity-adjusted p-values over the finite entries of ``p`` (NaN stays NaN).

    ``method``: ``"bh"`` (Benjamini-Hochberg step-up, controls the false discovery
    rate; equals statsmodels' ``multipletests(method="fdr_bh")``) or ``"holm"``
    (Holm step-down, controls the family-wise error rate; ``method="holm"``).
    Reject where the adjusted value is below alpha.
    """
    if method not in ADJUST_METHODS:
        raise ValueError(f"adjust must be one of {', '.join(ADJUST_METHODS)}, got {method!r}")
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    x = p[ok]
    m = len(x)
    if m == 0:
        return out
    if method == "bh":
        order = np.argsort(x, kind="stable")[::-1]  # largest first
        ranks = np.arange(m, 0, -1)
        q = np.minimum.accumulate(x[order] * m / ranks)
    else:
        order = np.argsort(x, kind="stable")
        q = np.maximum.accumulate(x[order] * (m - np.arange(m)))
    adj = np.empty(m)
    adj[order] = np.minimum(q, 1.0)
    out[ok] = adj
    return out


def category_decisions(perm: PermutationAP, *, adjust: str = "bh", alpha: float = 0.05) -> dict:
    """The per-class verdicts and the two whole-set tests of a :class:`PermutationAP`.

    Returns
    -------
    dict
        - ``p_val``: (C,) two-sided permutation p of each class's difference (:func:`permutation_p`)
        - ``q_val``: (C,) ``p_val`` adjusted over the classes with a positive (:func:`adjust_pvalues`)
        - ``verdict``: (C,) ``"improved"`` / ``"worsened"`` where ``q_val < alpha`` (by the sign
          of the difference), ``"within noise"`` otherwise, ``"not tested"`` without
          permutations, ``""`` for classes without a positive
        - ``delta_mAP``, ``p_mAP``: mean difference over the classes with a positive and its
          permutation p (the same permutations)
        - ``n_positive``, ``n_negative``: classes with a difference above / below 0;
          ``balance`` = ``n_positive - n_negative``, ``p_balance``: its two-sided permutation
          p (the count over classes recomputed on every permutation, which keeps the
          dependence between classes that share images)
        - ``p_min``: the smallest attainable p, ``1 / (n_perm + 1)``; ``can_pass``: whether
          the correction can pass it at all (``p_min`` at most ``alpha / m`` for Holm,
          ``alpha / m`` for the first Benjamini-Hochberg step as well)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    d = perm.delta
    has = np.isfinite(d)
    tested = perm.n_perm > 0
    p = permutation_p(d, perm.null) if tested else np.full(d.shape, np.nan)
    q = adjust_pvalues(p, adjust)
    verdict = np.where(~has, "", "within noise").astype(object)
    if tested:
        sig = has & (q < alpha)
        verdict[sig & (d > 0)] = "improved"
        verdict[sig & (d < 0)] = "worsened"
    else:
        verdict[has] = "not tested"
    dm = float(np.mean(d[has])) if has.any() else np.nan
    null_m = perm.null[:, has].mean(axis=1) if has.any() else np.empty(0)
    n_pos, n_neg = int((d[has] > 0).sum()), int((d[has] < 0).sum())
    null_bal = (np.sign(perm.null[:, has])).sum(axis=1)
    m = int(has.sum())
    p_min = 1.0 / (perm.n_perm + 1)
    return {"p_val": p, "q_val": q, "verdict": verdict, "delta_mAP": dm,
            "p_mAP": float(permutation_p(dm, null_m)[0]) if tested and has.any() else np.nan,
            "n_positive": n_pos, "n_negative": n_neg, "balance": n_pos - n_neg,
            "p_balance": float(permutation_p(n_pos - n_neg, null_bal)[0]) if tested and has.any() else np.nan,
            "p_min": p_min, "can_pass": bool(m == 0 or p_min <= alpha / m)}
