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

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SortedAP", "resample_weights"]


def resample_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Multinomial counts of ``n`` draws with replacement, as an (n, n_boot) float32 array.

    Column ``b`` is the count vector of resample ``b`` (it sums to ``n``).
    """
    draws = rng.integers(0, n, size=(n_boot, n))
    draws += (np.arange(n_boot) * n)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n * n_boot).reshape(n_boot, n)
    return np.ascontiguousarray(counts.T, dtype=np.float32)


def weight_batches(
    rng: np.random.Generator, n: int, n_boot: int, batch: int
) -> Iterator[np.ndarray]:
    """Yield the (n, b) weight batches of ``n_boot`` resamples, in a reproducible order."""
    done = 0
    while done < n_boot:
        b = min(batch, n_boot - done)
        yield resample_weights(rng, n, b)
        done += b


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
        """
        b = weights.shape[1]
        out = np.full((b, self.n_classes), np.nan)
        if self.block_matrix.shape[0] == 0:
            return out
        tot = np.asarray(self.block_matrix @ weights, dtype=np.float64)  # (G, B) block weights
        dtp = np.asarray(self.pos_matrix @ weights, dtype=np.float64)
        has = self.n_blocks > 0
        starts = self.starts[has]
        # running sums restarted at each class: global cumsum minus the sum before the class
        np.cumsum(tot, axis=0, out=tot)
        tp = np.cumsum(dtp, axis=0)
        tot_before = np.zeros((len(starts), b))
        tp_before = np.zeros((len(starts), b))
        tot_before[1:] = tot[starts[1:] - 1]
        tp_before[1:] = tp[starts[1:] - 1]
        reps = self.n_blocks[has]
        tot -= np.repeat(tot_before, reps, axis=0)
        tp -= np.repeat(tp_before, reps, axis=0)
        # contribution dTP * precision; a block without weight has dTP = 0 (0/0 avoided)
        prec = np.divide(tp, tot, out=np.zeros_like(tp), where=tot > 0)
        contrib = dtp * prec
        sums = np.add.reduceat(contrib, starts, axis=0)  # (C_has, B)
        total_pos = tp[starts + reps - 1]  # TP at the last block of each class
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(total_pos > 0, sums / np.where(total_pos > 0, total_pos, 1), np.nan)
        out[:, has] = ap.T
        return out
