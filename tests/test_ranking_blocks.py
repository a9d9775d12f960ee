"""The one-product bootstrap of AP and AUC (salanalysis._ranking_blocks) and clutter's single bootstrap.

The references are the earlier implementations, kept in :mod:`salanalysis._bootstrap`
(:class:`SortedAP`, :class:`SortedAUC`, themselves tested against scikit-learn in
test_metrics.py), and scikit-learn directly; the results must be equal bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from salanalysis._bootstrap import SortedAP, SortedAUC, resample_weights, weight_batches
from salanalysis._ranking_blocks import SortedRanking
from salanalysis.clutter import clutter_all, clutter_difference, clutter_tables, run_clutter
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics import bootstrap_ranking
from salanalysis.scores import Scores


def _case(rng, n, c, decimals, masked):
    y = rng.random((n, c)) < rng.uniform(0.02, 0.6)
    s = rng.random((n, c))
    if decimals is not None:
        s = np.round(s, decimals)
    mask = ((rng.random((n, c)) < 0.7) | y) if masked else None
    return y, s, mask


@pytest.mark.parametrize("decimals", [None, 0, 1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_same_bits_as_sorted_ap_and_auc(decimals, masked):
    rng = np.random.default_rng(7 + (decimals or 0) + 10 * masked)
    for _ in range(15):
        n, c = int(rng.integers(1, 70)), int(rng.integers(1, 9))
        y, s, mask = _case(rng, n, c, decimals, masked)
        w = resample_weights(rng, n, 9)
        w[:, 0] = 1.0  # the full data: compare with scikit-learn too
        got = SortedRanking.build(y, s, mask).measures(w)
        ap_ref = SortedAP.build(y, s if mask is None else np.where(mask, s, -np.inf)).ap(w)
        auc_ref = SortedAUC.build(y, s, mask).auc(w)
        np.testing.assert_array_equal(got["AP"], ap_ref)  # NaN in the same places too
        np.testing.assert_array_equal(got["AUC"], auc_ref)
        for k in range(c):
            m = np.ones(n, bool) if mask is None else mask[:, k]
            if y[m, k].any():
                assert got["AP"][0, k] == pytest.approx(average_precision_score(y[m, k], s[m, k]), abs=1e-12)
            if y[m, k].any() and (~y[m, k]).any():
                assert got["AUC"][0, k] == pytest.approx(roc_auc_score(y[m, k], s[m, k]), abs=1e-12)


def test_no_ties_drops_the_tie_rows_and_a_class_without_positives_is_nan():
    rng = np.random.default_rng(3)
    y, s, _ = _case(rng, 50, 4, None, False)
    y[:, 2] = False
    r = SortedRanking.build(y, s)
    assert not r.ties
    assert r.matrix.shape[0] == 2 * int(r.ends[-1]) + 3  # gaps and positives of each positive group, 3 tails
    out = r.measures(resample_weights(rng, 50, 4))
    assert np.isnan(out["AP"][:, 2]).all() and np.isnan(out["AUC"][:, 2]).all()
    assert np.isfinite(out["AP"][:, [0, 1, 3]]).all()


def test_bootstrap_ranking_equals_the_two_sorted_classes():
    rng = np.random.default_rng(11)
    y, s, mask = _case(rng, 300, 6, 2, True)
    s2 = np.round(rng.random(s.shape), 3)
    rb = bootstrap_ranking(y, [s, s2], n_boot=70, seed=5, auc=True, mask=mask, jobs=2)
    ref_ap, ref_auc = [], []
    for w in weight_batches(np.random.default_rng(5), 300, 70, 13):  # any batching draws the same resamples
        ref_ap.append(np.stack([SortedAP.build(y, np.where(mask, x, -np.inf)).ap(w) for x in (s, s2)], axis=1))
        ref_auc.append(np.stack([SortedAUC.build(y, x, mask).auc(w) for x in (s, s2)], axis=1))
    np.testing.assert_array_equal(rb.reps["AP"], np.concatenate(ref_ap))
    np.testing.assert_array_equal(rb.reps["AUC"], np.concatenate(ref_auc))


def _annotations(rng, n=400, c=6):
    images, anns, aid = [], [], 1
    for i in range(n):
        images.append({"id": i + 1, "width": 64, "height": 48})
        for _ in range(int(rng.integers(0, 7))):
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(rng.integers(1, c + 1)),
                         "bbox": [1.0, 1.0, 5.0, 5.0], "iscrowd": 0})
            aid += 1
    ann = Annotations({"images": images, "annotations": anns,
                       "categories": [{"id": j + 1, "name": f"c{j}"} for j in range(c)]})
    y = ann.label_matrix()
    sets = [Scores.from_array(name, ann, np.round(np.clip(y * shift + rng.random(y.shape), 0, 1), 3))
            for name, shift in (("A", 0.3), ("B", 0.6), ("C", 0.1))]
    return ann, sets


def test_clutter_all_equals_the_separate_tables(tmp_path):
    ann, sets = _annotations(np.random.default_rng(2))
    opts = {"min_images": 20, "n_boot": 60, "seed": 9}
    cm, trend, diffs = clutter_all(ann, sets, [("A", "B"), ("C", "A")], **opts)
    cm0, trend0 = clutter_tables(ann, sets, **opts)
    pd.testing.assert_frame_equal(cm, cm0, check_exact=True)
    pd.testing.assert_frame_equal(trend, trend0, check_exact=True)
    k = cm.attrs["k"]
    for (a, b), d in zip([(0, 1), (2, 0)], diffs):
        d0 = clutter_difference(ann, sets[a], sets[b], k=k, **opts)
        pd.testing.assert_frame_equal(d, d0, check_exact=True)  # the same resamples, one bootstrap
    res = run_clutter(ann, {s.name: s for s in sets}, tmp_path, **opts)
    assert list(res.difference["model_b"].unique()) == ["B", "C"]
    with pytest.raises(InputError, match="'D' is not among"):
        clutter_all(ann, sets, [("A", "D")], **opts)


def test_masked_roc_auc_equals_the_per_class_subsets():
    from salanalysis.metrics.ranking import roc_auc

    rng = np.random.default_rng(4)
    for _ in range(30):
        n, c = int(rng.integers(1, 80)), int(rng.integers(1, 10))
        y, s, mask = _case(rng, n, c, int(rng.integers(0, 3)), True)
        got = roc_auc(y, s, mask)
        for k in range(c):
            m = mask[:, k]
            if y[m, k].any() and (~y[m, k]).any():
                # the earlier implementation: the class's own images alone (bit for bit), and scikit-learn
                assert got[k] == roc_auc(y[m, k : k + 1], s[m, k : k + 1])[0]
                assert got[k] == pytest.approx(roc_auc_score(y[m, k], s[m, k]), abs=1e-12)
            else:
                assert np.isnan(got[k])
