"""Fast weighted average precision for bootstraps over images (private).

A bootstrap resample of N images is a vector of multinomial counts ``w``
(N draws with replacement; ``w_i`` is how often image ``i`` was drawn). The
average precision of a class on the resample equals scikit-learn's
``average_precision_score(y, s, sample_weight=w)``::

    AP_w = sum_g  dTP_g * TP_g / (TP_g + FP_g)  /  TP_last

where ``g`` runs over the distinct scores in descending order (tie groups),
``TP_g``/``FP_g`` are the weighted counts of positives/negatives scoring at least
the score of group ``g``, and ``dTP_g`` the weighted positives inside group ``g``.
Images drawn zero times drop out, exactly as scikit-learn drops zero weights,
because they add nothing to any count and a group left without weight adds
``dTP_g = 0``.

Only groups holding at least one positive (in the full data) can contribute, so
each class is sorted **once** and cut into *blocks*: block ``j`` holds the images
ranked after positive-group ``j-1`` down to the end of positive-group ``j``;
images ranked below the last positive group are dropped. Then, for a batch of
resamples ``W`` (N x B counts),

- ``A @ W`` (``A``: sparse block-by-image indicator) gives the weight of every
  block, whose running sum within a class is ``TP_g + FP_g``;
- ``Apos @ W`` (positives only) gives ``dTP_g``, whose running sum is ``TP_g``.

No resample is ever re-sorted; the work per resample is one sparse product with
at most ``N * C`` non-zeros, done by scipy in compiled code.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from salanalysis._cluster import active_client, map_ordered

__all__ = [
    "SortedAP",
    "resample_weights",
    "weight_batches",
    "run_batches",
    "default_jobs",
    "bootstrap_p",
    "percentile_interval",
    "level_percentiles",
    "SortedAUC",
    "jackknife_weights",
    "bca_interval",
    "normal_interval",
    "CI_METHODS",
    "CI_CHOICES",
]

T = TypeVar("T")


def resample_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Multinomial counts of ``n`` draws with replacement, as an (n, n_boot) float32 array.

    Column ``b`` is the count vector of resample ``b`` (it sums to ``n``). Each
    resample is drawn by its own ``rng.integers(0, n, size=n)`` call, so the
    resamples of a seed do not depend on how they are grouped into batches.
    """
    counts = np.empty((n, n_boot), dtype=np.float32)
    for b in range(n_boot):
        counts[:, b] = np.bincount(rng.integers(0, n, size=n), minlength=n)
    return counts


def weight_batches(
    rng: np.random.Generator, n: int, n_boot: int, batch: int
) -> Iterator[np.ndarray]:
    """Yield the (n, b) weight batches of ``n_boot`` resamples, in a reproducible order."""
    from salanalysis.limits import check_count

    check_count("bootstrap", int(n_boot), "bootstrap resamples (n_boot)")
    done = 0
    while done < n_boot:
        b = min(batch, n_boot - done)
        yield resample_weights(rng, n, b)
        done += b


def _check_counts(weights: np.ndarray) -> None:
    """ValueError unless every weight is a non-negative whole number (a resample count)."""
    w = np.asarray(weights)
    if w.dtype.kind in "fc" and not np.array_equal(w, np.floor(w)):
        raise ValueError("bootstrap weights must be whole numbers (resample counts), got a fraction")
    if w.size and w.min() < 0:
        raise ValueError("bootstrap weights must be non-negative counts")


@dataclass
class SortedAP:
    """One score set sorted once per class, ready for weighted AP on many resamples.

    Build with :meth:`build`; call :meth:`ap` with a weight batch.
    """

    n_classes: int
    block_matrix: sp.csr_matrix  # (G, N) all images of each block
    pos_matrix: sp.csr_matrix  # (G, N) positives of each block
    starts: np.ndarray  # (C,) first block row of each class (G when the class has none)
    n_blocks: np.ndarray  # (C,) blocks per class

    @classmethod
    def build(cls, labels: np.ndarray, scores: np.ndarray) -> SortedAP:
        """Sort each class once and build the block matrices.

        Parameters
        ----------
        labels
            (N, C) bool.
        scores
            (N, C) float, finite.
        """
        n, c = labels.shape
        if n >= 2**24:  # counts and running sums are kept in float32 / int32
            raise ValueError(f"the fast bootstrap supports fewer than 2**24 images, got {n}")
        st = np.ascontiguousarray(scores.T)
        order = np.argsort(st, axis=1)[:, ::-1]  # descending; order inside ties is irrelevant
        vs = np.take_along_axis(st, order, axis=1)
        ys = np.take_along_axis(np.ascontiguousarray(labels.T), order, axis=1)
        # group id of each position: increases where the score changes
        new_group = np.ones((c, n), dtype=bool)
        new_group[:, 1:] = vs[:, 1:] != vs[:, :-1]
        gid = np.cumsum(new_group, axis=1) - 1  # (C, N), 0-based per class
        rows_a, cols_a, rows_p, cols_p = [], [], [], []
        starts = np.zeros(c, dtype=np.int64)
        n_blocks = np.zeros(c, dtype=np.int64)
        offset = 0
        for k in range(c):
            pos_groups = np.unique(gid[k][ys[k]])  # groups holding a positive, ascending
            starts[k] = offset
            n_blocks[k] = len(pos_groups)
            if len(pos_groups) == 0:
                continue
            last = np.searchsorted(gid[k], pos_groups[-1], side="right")  # positions kept
            block = np.searchsorted(pos_groups, gid[k][:last], side="left")
            rows_a.append(block + offset)
            cols_a.append(order[k, :last])
            pmask = ys[k, :last]
            rows_p.append(block[pmask] + offset)
            cols_p.append(order[k, :last][pmask])
            offset += len(pos_groups)
        g = offset
        starts[n_blocks == 0] = g

        def _mat(rows: list, cols: list) -> sp.csr_matrix:
            r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
            cc = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
            m = sp.csr_matrix(
                (np.ones(len(r), dtype=np.float32), (r, cc)), shape=(g, n), dtype=np.float32
            )
            m.sum_duplicates()
            return m

        return cls(c, _mat(rows_a, cols_a), _mat(rows_p, cols_p), starts, n_blocks)

    def ap(self, weights: np.ndarray) -> np.ndarray:
        """Weighted AP of every class for each resample column of ``weights``.

        Parameters
        ----------
        weights
            (N, B) non-negative counts (float32).

        Returns
        -------
        np.ndarray
            (B, C) float64; NaN where a class has no positive weight in a resample.

        Raises
        ------
        ValueError
            A weight that is negative or not a whole number (the running sums
            are integer counts: a fractional weight would be truncated).
        """
        _check_counts(weights)
        b = weights.shape[1]
        out = np.full((b, self.n_classes), np.nan)
        if self.block_matrix.shape[0] == 0:
            return out
        has = self.n_blocks > 0
        starts = self.starts[has]
        ends = starts + self.n_blocks[has]
        # Block sums are integer counts <= N (exact in float32 for N < 2**24). Running sums
        # run along the contiguous axis of (B, G) int32 arrays, restarted at each class.
        tot = np.ascontiguousarray((self.block_matrix @ weights).T, dtype=np.int32)  # (B, G)
        dtp = np.ascontiguousarray((self.pos_matrix @ weights).T, dtype=np.int32)
        tp = np.empty_like(dtp)
        for s0, s1 in zip(starts, ends):
            np.cumsum(tot[:, s0:s1], axis=1, out=tot[:, s0:s1])
            np.cumsum(dtp[:, s0:s1], axis=1, out=tp[:, s0:s1])
        total_pos = tp[:, ends - 1].astype(np.float64)  # TP at the last block of each class
        # dTP * TP / (TP + FP) in float64; a block without weight has TP = 0, so max(tot, 1)
        # changes nothing but avoids 0/0
        np.maximum(tot, 1, out=tot)
        contrib = np.multiply(dtp, tp, dtype=np.float64)
        np.divide(contrib, tot, out=contrib)
        sums = np.add.reduceat(contrib, starts, axis=1)  # (B, C_has)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(total_pos > 0, sums / np.where(total_pos > 0, total_pos, 1), np.nan)
        out[:, has] = ap
        return out


@dataclass
class SortedAUC:
    """One score set sorted once per class, ready for weighted ROC AUC on many resamples.

    The AUC of a class is ``P(score_pos > score_neg) + 0.5 P(tie)`` (the Mann-Whitney
    form, as :func:`sklearn.metrics.roc_auc_score`). With image weights ``w``, over the
    tie groups ``g`` of the class in ascending score order::

        AUC_w = sum_g P_g (N_<g + N_g / 2) / (P N)

    where ``P_g``/``N_g`` are the weights of the positives/negatives in group ``g``,
    ``N_<g`` the negative weight below it, and ``P``/``N`` the totals.
    """

    n_classes: int
    pos_matrix: sp.csr_matrix  # (G, N) positives of each tie group
    neg_matrix: sp.csr_matrix  # (G, N) negatives of each tie group
    starts: np.ndarray  # (C,) first group row of each class
    ends: np.ndarray  # (C,) one past the last group row of each class

    @classmethod
    def build(cls, labels: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> SortedAUC:
        """Sort each class once; ``mask`` (N, C) leaves out the images outside it (LVIS federated)."""
        n, c = labels.shape
        if n >= 2**24:
            raise ValueError(f"the fast bootstrap supports fewer than 2**24 images, got {n}")
        st = np.ascontiguousarray(scores.T)
        order = np.argsort(st, axis=1, kind="stable")  # ascending
        vs = np.take_along_axis(st, order, axis=1)
        ys = np.take_along_axis(np.ascontiguousarray(labels.T), order, axis=1)
        new_group = np.ones((c, n), dtype=bool)
        new_group[:, 1:] = vs[:, 1:] != vs[:, :-1]
        gid = np.cumsum(new_group, axis=1) - 1  # (C, N) 0-based per class
        n_groups = gid[:, -1] + 1 if n else np.zeros(c, dtype=np.int64)
        ends = np.cumsum(n_groups)
        starts = ends - n_groups
        rows = (gid + starts[:, None]).ravel()
        cols = order.ravel()
        pos = ys.ravel()
        keep = (np.ones(n * c, dtype=bool) if mask is None
                else np.take_along_axis(np.ascontiguousarray(np.asarray(mask, dtype=bool).T), order, axis=1).ravel())
        g = int(ends[-1]) if c else 0

        def _mat(mask: np.ndarray) -> sp.csr_matrix:
            m = sp.csr_matrix((np.ones(int(mask.sum()), dtype=np.float32), (rows[mask], cols[mask])),
                              shape=(g, n), dtype=np.float32)
            m.sum_duplicates()
            return m

        return cls(c, _mat(pos & keep), _mat(~pos & keep), starts.astype(np.int64), ends.astype(np.int64))

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """Weighted ROC AUC of every class for each column of ``weights`` ((N, B) counts).

        Returns (B, C) float64; NaN where a class lacks positive or negative weight.
        """
        b = weights.shape[1]
        out = np.full((b, self.n_classes), np.nan)
        if self.pos_matrix.shape[0] == 0:
            return out
        pw = np.ascontiguousarray((self.pos_matrix @ weights).T, dtype=np.float64)  # (B, G)
        nw = np.ascontiguousarray((self.neg_matrix @ weights).T, dtype=np.float64)
        below = np.empty_like(nw)
        for s0, s1 in zip(self.starts, self.ends):
            run = np.cumsum(nw[:, s0:s1], axis=1)
            below[:, s0:s1] = run - nw[:, s0:s1]
        num = np.add.reduceat(pw * (below + 0.5 * nw), self.starts, axis=1)
        tot_p = np.add.reduceat(pw, self.starts, axis=1)
        tot_n = np.add.reduceat(nw, self.starts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:] = np.where((tot_p > 0) & (tot_n > 0), num / (tot_p * tot_n), np.nan)
        return out


#: The worker threads of the bootstraps inside one analysis call (:func:`bootstrap_jobs`); None: the default.
_JOBS: ContextVar[int | None] = ContextVar("salanalysis_bootstrap_jobs", default=None)


@contextmanager
def bootstrap_jobs(jobs: int | None) -> Iterator[None]:
    """Within the block, a bootstrap called without ``jobs`` uses ``jobs`` threads (0: all cores).

    How an analysis entry point (``run_clutter(jobs=...)``) passes its ``jobs`` to the
    bootstraps it calls; results do not depend on it (:func:`run_batches`).
    """
    token = _JOBS.set(jobs)
    try:
        yield
    finally:
        _JOBS.reset(token)


def default_jobs(jobs: int | None) -> int:
    """Worker threads: ``jobs`` if given (or set by :func:`bootstrap_jobs`), all cores for ``0``,
    else the CPU count (at most 4)."""
    if jobs is None:
        jobs = _JOBS.get()
    if jobs is None:
        return max(1, min(4, os.cpu_count() or 1))
    if jobs == 0:
        return max(1, os.cpu_count() or 1)
    if jobs < 0:
        raise ValueError("jobs must be >= 0")
    from salanalysis.limits import check_count

    check_count("jobs", int(jobs), "jobs")
    return int(jobs)


def level_percentiles(level: float) -> tuple[float, float]:
    """The percentiles ``(100 (1 - level) / 2, 100 - 100 (1 - level) / 2)`` of a coverage ``level``."""
    lo = (1 - level) / 2 * 100
    return lo, 100 - lo


def bootstrap_p(reps: np.ndarray, axis: int = 0) -> np.ndarray | float:
    """Two-sided bootstrap p-value that a difference is 0, along ``axis``.

    ``min(1, 2 min(1 + #{d <= 0}, 1 + #{d >= 0}) / (B + 1))`` over the ``B`` finite
    resampled differences ``d``: twice the smaller tail mass beyond 0 (the test of the
    percentile interval), with the +1 correction that keeps it above 0. NaN where no
    resample is finite. A 1-D input gives a float.
    """
    reps = np.moveaxis(np.asarray(reps, dtype=np.float64), axis, 0)
    finite = np.isfinite(reps)
    n = finite.sum(axis=0)
    le = 1 + np.where(finite, reps <= 0, False).sum(axis=0)
    ge = 1 + np.where(finite, reps >= 0, False).sum(axis=0)
    p = np.where(n > 0, np.minimum(1.0, 2.0 * np.minimum(le, ge) / (n + 1)), np.nan)
    return float(p) if p.ndim == 0 else p


def percentile_interval(reps: np.ndarray, percentiles: tuple[float, float] = (2.5, 97.5),
                        axis: int = 0) -> tuple:
    """Percentile interval of the resamples along ``axis``, ignoring NaN (NaN where none is finite).

    Returns ``(low, high)``, the two ``percentiles`` (numpy's linear interpolation),
    floats for a 1-D input. :func:`level_percentiles` turns a coverage into them.
    """
    reps = np.moveaxis(np.asarray(reps, dtype=np.float64), axis, 0)
    lo = np.full(reps.shape[1:], np.nan)
    hi = np.full(reps.shape[1:], np.nan)
    if reps.shape[0]:
        ok = np.isfinite(reps).any(axis=0)
        if np.any(ok):
            lo[ok] = np.nanpercentile(reps[:, ok], percentiles[0], axis=0)
            hi[ok] = np.nanpercentile(reps[:, ok], percentiles[1], axis=0)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def run_batches(
    rng: np.random.Generator,
    n: int,
    n_boot: int,
    batch: int,
    work: Callable[[np.ndarray], T],
    jobs: int = 1,
) -> Iterator[tuple[int, T]]:
    """Apply ``work`` to every weight batch, in threads; yield ``(first resample, result)`` in order.

    The weights are drawn in the calling thread, batch after batch, so results do
    not depend on ``jobs``. scipy's sparse products and numpy's reductions release
    the GIL, so threads use several cores. At most ``jobs + 1`` batches are in flight.
    """
    batches = weight_batches(rng, n, n_boot, batch)
    client = active_client()
    if client is not None:  # a Dask cluster (salanalysis._cluster.use_cluster): blocks go to its workers
        done = 0
        sizes: deque = deque()

        def sized() -> Iterator[np.ndarray]:
            for w in batches:
                sizes.append(w.shape[1])
                yield w

        for res in map_ordered(client, _apply, sized(), shared=work):
            yield done, res
            done += sizes.popleft()
        return
    if jobs <= 1:
        done = 0
        for w in batches:
            yield done, work(w)
            done += w.shape[1]
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: deque = deque()
        done = 0
        for w in batches:
            pending.append((done, pool.submit(work, w)))
            done += w.shape[1]
            while len(pending) > jobs:
                start, fut = pending.popleft()
                yield start, fut.result()
        while pending:
            start, fut = pending.popleft()
            yield start, fut.result()


def _apply(work: Callable[[np.ndarray], T], weights: np.ndarray) -> T:
    """``work(weights)``: a replicate block on a cluster worker (``work`` is sent once)."""
    return work(weights)


#: How an interval was made (the ``ci_method`` of every table with bootstrap intervals).
CI_METHODS = {
    "BCa": "bias-corrected and accelerated bootstrap interval (Efron 1987; acceleration from a "
           "20-block jackknife)",
    "BC": "bias-corrected percentile bootstrap interval (Efron 1981; BCa with acceleration 0)",
    "centered percentile": "percentile interval of the replicates shifted so that their median equals the "
                          "estimate: the fallback where the estimate lies outside the central 95% of its "
                          "own bootstrap distribution (BCa would step past it)",
    "normal": "normal bootstrap interval: estimate +/- z * SD of the resampled values (the SD over resamples "
              "of images). Its estimand is the expected value of the metric on a test set of this size from "
              "the same population; chosen over BCa, percentile, basic and bias-corrected normal by coverage "
              "in benchmarks/calibration.py (mAP's bootstrap is biased upward, which throws BCa off)",
    "percentile": "percentile interval of the replicates: for the paired mAP difference (the upward bias of "
                  "resampled AP is shared by both score sets and cancels) and per class; chosen by coverage in "
                  "benchmarks/calibration.py",
    "withheld": "no interval: the class has too few positive images for any bootstrap interval to reach its "
                "coverage in benchmarks/calibration.py",
    "none": "no interval: fewer than 2 valid resamples, or no estimate",
}

#: Interval methods a caller may ask for (``ci=``).
CI_CHOICES = ("normal", "BCa")


def _normal_parts(estimate, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate (broadcast), SD of the finite replicates (ddof 1) and where both are usable."""
    reps = np.asarray(reps, dtype=np.float64)
    shape = reps.shape[1:]
    est = np.broadcast_to(np.asarray(estimate, dtype=np.float64), shape)
    ok = np.isfinite(reps)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, reps, 0.0).sum(axis=0) / np.maximum(n, 1)
        var = np.where(ok, (reps - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n - 1, 1)
    return est, np.sqrt(var), (n >= 2) & np.isfinite(est)


def normal_interval(estimate, reps: np.ndarray, level: float = 0.95) -> tuple:
    """Normal bootstrap intervals ``estimate +/- z SD(reps)``, column by column.

    Parameters
    ----------
    estimate
        Estimates on the full data, shape ``S`` (or a scalar).
    reps
        (B, *S) replicates; NaN marks a resample where the quantity is undefined (left out).
    level
        Coverage; ``z = Phi^-1((1 + level) / 2)``.

    Returns
    -------
    low, high, method
        Arrays of shape ``S`` (scalars for a scalar estimate and 1-D ``reps``); ``method``
        is ``"normal"``, or ``"none"`` (NaN bounds) with fewer than 2 finite replicates or
        no finite estimate.

    Notes
    -----
    The replicates give the spread only; the interval is centered on the estimate, not on
    the replicates' mean or median: resampling images duplicates them, which biases a
    resampled AP upward (ties of duplicates), so their location is not the estimate's.
    """
    from scipy.stats import norm

    est, sd, usable = _normal_parts(estimate, reps)
    half = norm.ppf((1 + level) / 2) * sd
    lo = np.where(usable, est - half, np.nan)
    hi = np.where(usable, est + half, np.nan)
    method = np.where(usable, "normal", "none").astype(object)
    if lo.ndim == 0:
        return lo[()], hi[()], method[()]
    return lo, hi, method


def jackknife_weights(n: int, blocks: int = 20) -> np.ndarray:
    """(n, m) 0/1 weights of a delete-a-block jackknife: column j drops every ``m``-th image from ``j``.

    ``m = min(n, blocks)``; the interleaved blocks do not depend on the images' order in any
    systematic way for data sorted by id.
    """
    m = max(1, min(int(n), int(blocks)))
    w = np.ones((n, m), dtype=np.float32)
    w[np.arange(n), np.arange(n) % m] = 0.0
    return w


def _quantiles(sorted_reps: np.ndarray, n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles (numpy's default) of each column's first ``n`` sorted values."""
    cols = np.arange(sorted_reps.shape[1])
    pos = np.clip(np.nan_to_num(q, nan=0.5), 0.0, 1.0) * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    frac = pos - lo
    a, b = sorted_reps[lo, cols], sorted_reps[hi, cols]
    with np.errstate(invalid="ignore"):
        return np.where(frac > 0, a + frac * (b - a), a)


def bca_interval(estimate, reps: np.ndarray, jackknife: np.ndarray | None = None,
                 level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias-corrected (and accelerated) bootstrap intervals, column by column.

    Parameters
    ----------
    estimate
        The estimates on the full data, shape ``S`` (or a scalar).
    reps
        (B, *S) bootstrap replicates; NaN marks a resample where the quantity is undefined.
    jackknife
        (m, *S) delete-a-block jackknife estimates (:func:`jackknife_weights`), for the
        acceleration; None gives the BC interval (acceleration 0).
    level
        Coverage.

    Returns
    -------
    low, high, method
        Arrays of shape ``S`` (``method``: a key of :data:`CI_METHODS`).

    Notes
    -----
    ``z0 = Phi^-1(p0)`` with ``p0`` the share of replicates below the estimate (ties
    count half); ``a = sum d^3 / (6 (sum d^2)^(3/2))`` with ``d`` the jackknife
    deviations from their mean; the interval is the ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))``
    quantiles for ``z = Phi^-1((1 -+ level) / 2)``. When ``|z0|`` reaches the interval's own
    ``z`` (the estimate outside the central ``level`` of its bootstrap distribution, e.g. AP
    near chance, which resampling duplicated images biases upward), the correction would
    step past the estimate: the interval is then the percentile interval of the replicates
    shifted so that their median equals the estimate ("centered percentile").
    """
    from scipy.stats import norm

    reps = np.asarray(reps, dtype=np.float64)
    shape = reps.shape[1:]
    k = int(np.prod(shape, dtype=np.int64))
    R = reps.reshape(reps.shape[0], k)
    est = np.broadcast_to(np.asarray(estimate, dtype=np.float64), shape).ravel()
    ok = np.isfinite(R)
    n = ok.sum(axis=0)
    Rs = np.sort(np.where(ok, R, np.inf), axis=0) if R.shape[0] else np.full((1, k), np.inf)
    with np.errstate(invalid="ignore"):
        below = (ok & (R < est)).sum(axis=0)
        ties = (ok & (R == est)).sum(axis=0)
    p0 = np.where(n > 0, (below + 0.5 * ties) / np.maximum(n, 1), np.nan)
    zq = norm.ppf((1 + level) / 2)
    z0 = norm.ppf(p0)
    a = np.zeros(k)
    if jackknife is not None:
        J = np.asarray(jackknife, dtype=np.float64).reshape(len(jackknife), k)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: acceleration 0
            d = np.nanmean(J, axis=0) - J
            s2 = np.nansum(d**2, axis=0)
            a = np.where(s2 > 0, np.nansum(d**3, axis=0) / (6 * s2**1.5), 0.0)
        a = np.nan_to_num(a)
    usable = (n >= 2) & np.isfinite(est)
    degenerate = usable & ~(np.abs(z0) < zq)
    bca = usable & ~degenerate
    lo = np.full(k, np.nan)
    hi = np.full(k, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for sign, out in ((-1.0, lo), (1.0, hi)):
            z = z0 + sign * zq
            q = norm.cdf(z0 + z / (1 - a * z))
            out[bca] = _quantiles(Rs, n, q)[bca]
            if degenerate.any():
                tail = (1 - level) / 2 if sign < 0 else (1 + level) / 2
                med = _quantiles(Rs, n, np.full(k, 0.5))
                out[degenerate] = (_quantiles(Rs, n, np.full(k, tail)) - med + est)[degenerate]
    method = np.full(k, "none", dtype=object)
    method[bca] = "BCa" if jackknife is not None else "BC"
    method[degenerate] = "centered percentile"
    return lo.reshape(shape), hi.reshape(shape), method.reshape(shape)
