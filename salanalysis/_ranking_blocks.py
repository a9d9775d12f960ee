"""Weighted AP and ROC AUC of many resamples from one sort and one sparse product (private).

:class:`~salanalysis._bootstrap.SortedAP` and :class:`~salanalysis._bootstrap.SortedAUC`
each need a sparse product with the resample weights, and the AUC's has a row for
every tie group of every class (about ``N x C`` rows), so its dense per-batch arrays
grow with the number of images times the number of classes. Both measures only need
the weights of a few segments of each class's descending order, cut at the tie groups
holding a positive (``m`` of them):

- ``gap_j``: the negatives ranked strictly between positive groups ``j-1`` and ``j``;
- ``tie_j``: the negatives tied with positive group ``j``; ``pos_j``: its positives;
- ``tail``: the negatives ranked below the last positive group.

Then (descending order, ``j`` over positive groups)::

    TP_j + FP_j = sum_{i <= j} (gap_i + tie_i + pos_i)      TP_j = sum_{i <= j} pos_i
    AP  = sum_j pos_j TP_j / (TP_j + FP_j) / TP_m
    AUC = sum_j pos_j (below_j + tie_j / 2) / (P N),   below_j = N - sum_{i <= j} (gap_i + tie_i)

with ``P``/``N`` the total positive/negative weight. A tie group without a positive
adds nothing to either sum, so these are the same numbers as the two classes give
(bit for bit: the weights are integer counts, every term is an integer or a half
integer, the AP's terms are added in the same order). One segment matrix
(``3 m + 1`` rows per class) replaces both, so each resample costs one sparse product with at
most ``N x C`` non-zeros and dense work proportional to the positive groups.
Images outside the evaluation mask (LVIS federated) have no segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SortedRanking"]


@dataclass
class SortedRanking:
    """One score set sorted once per class, ready for weighted AP and ROC AUC on many resamples."""

    n_classes: int
    matrix: sp.csr_matrix  # ((2 or 3) Gp + C_has, N) segment x image: the gaps, ties (if any) and
    # positives of the Gp positive groups, then the tails of the classes with a positive
    has: np.ndarray  # (C,) bool: classes with a positive
    group_class: np.ndarray  # (Gp,) position (among the classes with a positive) of each positive group's class
    starts: np.ndarray  # (C_has,) first positive group of each class with a positive
    ends: np.ndarray  # (C_has,) one past its last positive group
    ties: bool  # whether the tie rows are there (else no negative ties with a positive)

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    @classmethod
    def build(cls, labels: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> SortedRanking:
        """Sort each class once and build the segment matrix.

        Parameters
        ----------
        labels
            (N, C) bool.
        scores
            (N, C) float, finite.
        mask
            (N, C) bool, holding every positive: the images that count for each class; None: all.
        """
        y = np.asarray(labels, dtype=bool)
        n, c = y.shape
        if n >= 2**24:  # counts are kept in float32
            raise ValueError(f"the fast bootstrap supports fewer than 2**24 images, got {n}")
        st = np.ascontiguousarray(np.asarray(scores, dtype=np.float64).T)
        order = np.argsort(-st, axis=1, kind="stable")  # descending; order inside ties is irrelevant
        vs = np.take_along_axis(st, order, axis=1)
        ys = np.take_along_axis(np.ascontiguousarray(y.T), order, axis=1)
        keep = (np.ones((c, n), dtype=bool) if mask is None
                else np.take_along_axis(np.ascontiguousarray(np.asarray(mask, dtype=bool).T), order, axis=1))
        new_group = np.ones((c, n), dtype=bool)
        new_group[:, 1:] = vs[:, 1:] != vs[:, :-1]
        gid = np.cumsum(new_group, axis=1) - 1  # (C, N) tie group of each position, 0-based per class
        flat = gid + (np.arange(c, dtype=np.int64) * max(n, 1))[:, None]
        group_has_pos = np.zeros(c * max(n, 1), dtype=bool)
        group_has_pos[flat[ys]] = True
        in_pos_group = group_has_pos[flat]  # (C, N)
        # positive groups started at or before each position: the index of its positive group (+1)
        count = np.cumsum(new_group & in_pos_group, axis=1)
        m = count[:, -1] if n else np.zeros(c, dtype=np.int64)  # positive groups per class
        has = m > 0
        gp = int(m.sum())
        ties = bool((in_pos_group & ~ys & keep).any())  # a negative tied with a positive somewhere
        nt = 1 if ties else 0
        first = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)  # first positive group of each class
        tail_row = (2 + nt) * gp + np.cumsum(has) - 1  # tail of class k (classes with a positive only)
        # rows: gap of positive group g -> g, its tie -> gp + g (only when there are ties), its
        # positives -> (1 + nt) gp + g; the tails after them
        g_index = first[:, None] + count  # the positive group ending at or after each position
        seg = np.where(in_pos_group, g_index - 1 + gp * np.where(ys, 1 + nt, 1),
                       np.where(count < m[:, None], g_index, tail_row[:, None]))
        take = keep & has[:, None]
        rows = seg[take]
        cols = order[take]
        r = (2 + nt) * gp + int(has.sum())
        mat = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(r, n), dtype=np.float32)
        mat.sum_duplicates()
        mh = m[has].astype(np.int64)
        ends = np.cumsum(mh)
        starts = ends - mh
        group_class = np.repeat(np.arange(len(mh), dtype=np.int64), mh)
        return cls(c, mat, has, group_class, starts, ends, ties)

    def _running(self, x: np.ndarray) -> np.ndarray:
        """Cumulative sums down the positive groups (rows), restarted at each class (exact: integers)."""
        cs = np.cumsum(x, axis=0)
        before = np.zeros((len(self.starts), x.shape[1]))
        nz = self.starts > 0
        before[nz] = cs[self.starts[nz] - 1]
        cs -= before[self.group_class]
        return cs

    def measures(self, weights: np.ndarray, auc: bool = True) -> dict[str, np.ndarray]:
        """Weighted ``AP`` and (with ``auc``) ``AUC`` of every class, (B, C) float64 each.

        ``weights``: (N, B) non-negative integer counts (float32). NaN where a class has no
        positive weight in a resample (AP) or lacks positive or negative weight (AUC).
        """
        b = weights.shape[1]
        out = {"AP": np.full((b, self.n_classes), np.nan)}
        if auc:
            out["AUC"] = np.full((b, self.n_classes), np.nan)
        if not self.has.any():
            return out
        gp = len(self.group_class)
        nt = 1 if self.ties else 0
        seg = np.asarray(self.matrix @ weights, dtype=np.float64)  # (R, B) integer counts, exact
        gap, pos, tail = seg[:gp], seg[(1 + nt) * gp:(2 + nt) * gp], seg[(2 + nt) * gp:]
        neg = gap + seg[gp:2 * gp] if self.ties else gap
        tot = self._running(neg + pos)  # TP + FP at the end of each positive group
        tp = self._running(pos)
        total_pos = tp[self.ends - 1].T  # (B, C_has)
        if auc:
            neg_above = tot - tp  # negatives ranked at or above each positive group
            neg_total = neg_above[self.ends - 1] + tail  # (C_has, B)
        np.maximum(tot, 1, out=tot)  # a group without weight has pos = 0: nothing changes
        np.multiply(tp, pos, out=tp)
        np.divide(tp, tot, out=tp)
        # summed along the contiguous axis, as SortedAP does, so that the rounding is the same
        sums = np.add.reduceat(np.ascontiguousarray(tp.T), self.starts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["AP"][:, self.has] = np.where(total_pos > 0, sums / np.where(total_pos > 0, total_pos, 1), np.nan)
        if auc:
            below = neg_total[self.group_class]
            below -= neg_above
            if self.ties:
                below += 0.5 * seg[gp:2 * gp]
            below *= pos
            num = np.add.reduceat(below, self.starts, axis=0).T  # exact: sums of half integers
            tot_n = neg_total.T
            with np.errstate(invalid="ignore", divide="ignore"):
                out["AUC"][:, self.has] = np.where((total_pos > 0) & (tot_n > 0), num / (total_pos * tot_n), np.nan)
        return out
