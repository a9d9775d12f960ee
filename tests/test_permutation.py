"""Paired permutation test of per-class AP differences and the multiplicity adjustment (Fig. 4)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from statsmodels.stats.multitest import multipletests

from salanalysis.metrics.ap import average_precision
from salanalysis.permutation import (
    adjust_pvalues,
    category_decisions,
    paired_permutation_ap,
    permutation_p,
)


def _sk_delta(y, a, b):
    return np.array([average_precision_score(y[:, c], b[:, c]) - average_precision_score(y[:, c], a[:, c])
                     for c in range(y.shape[1])])


def test_observed_delta_is_sklearn_with_ties_and_mask(rng):
    n, c = 80, 6
    y = rng.random((n, c)) < 0.3
    y[0] = True
    a = np.round(y + rng.normal(0, 1, (n, c)), 1)  # many ties, within and across models
    b = np.round(y + rng.normal(0, 1, (n, c)), 1)
    r = paired_permutation_ap(y, a, b, n_perm=0)
    np.testing.assert_allclose(r.delta, _sk_delta(y, a, b), atol=1e-12)
    assert r.null.shape == (0, c)
    # federated mask: per class only the listed images count (sklearn on the subset)
    mask = y | (rng.random((n, c)) < 0.6)
    r = paired_permutation_ap(y, a, b, n_perm=0, mask=mask)
    ref = [average_precision_score(y[mask[:, j], j], b[mask[:, j], j])
           - average_precision_score(y[mask[:, j], j], a[mask[:, j], j]) for j in range(c)]
    np.testing.assert_allclose(r.delta, ref, atol=1e-12)
    np.testing.assert_allclose(r.delta, average_precision(y, b, mask) - average_precision(y, a, mask), atol=1e-12)


def test_null_is_the_exhaustive_swap_distribution():
    # 7 images, 2 classes: every one of the 2**7 swap patterns by brute force with sklearn.
    # Each permuted difference must be one of them, drawn with probability 1/128 each,
    # and the Monte Carlo p must approach the exact p = #{|d(w)| >= |d|} / 128.
    rng = np.random.default_rng(3)
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    a = rng.random((7, 2))
    b = np.round(rng.random((7, 2)), 1)
    exact = []
    for w in itertools.product([False, True], repeat=7):
        w = np.array(w)[:, None]
        exact.append(_sk_delta(y, np.where(w, b, a), np.where(w, a, b)))
    exact = np.array(exact)  # (128, 2), the observed difference is the first row
    r = paired_permutation_ap(y, a, b, n_perm=20000, seed=1)
    np.testing.assert_allclose(r.delta, exact[0], atol=1e-12)
    # every permuted value is an exhaustive one, for both classes jointly (same swap for the image)
    dist = np.abs(r.null[:, None, :] - exact[None, :, :]).max(axis=2).min(axis=1)
    assert dist.max() < 1e-12
    p_exact = (np.abs(exact) >= np.abs(exact[0]) - 1e-12).mean(axis=0)
    p = permutation_p(r.delta, r.null)
    se = np.sqrt(p_exact * (1 - p_exact) / 20000)
    assert np.all(np.abs(p - p_exact) < 5 * se + 1e-4)
    # swapping every image negates the difference: the null is symmetric
    np.testing.assert_allclose(exact[-1], -exact[0], atol=1e-12)
    assert abs(np.mean(r.null[:, 0] > 1e-12) - np.mean(r.null[:, 0] < -1e-12)) < 0.02


def test_permutation_p_formula():
    null = np.array([[0.1, 0.0], [-0.3, 0.0], [0.25, 0.0], [0.05, 0.0]])
    # (1 + #{|null| >= |obs|}) / (n + 1): class 0 obs 0.25 -> 1 + 2 hits; class 1 obs 0 -> all 4 hit
    np.testing.assert_allclose(permutation_p([0.25, 0.0], null), [3 / 5, 1.0])
    assert np.isnan(permutation_p([np.nan], null[:, :1])[0])
    assert np.isnan(permutation_p([0.2], np.empty((0, 1)))[0])


@pytest.mark.parametrize("method,ref", [("bh", "fdr_bh"), ("holm", "holm")])
def test_adjust_matches_statsmodels(rng, method, ref):
    p = rng.random(40) ** 3
    p[[3, 9]] = p[5]  # ties
    p[[1, 17]] = np.nan
    got = adjust_pvalues(p, method)
    ok = np.isfinite(p)
    # statsmodels.stats.multitest.multipletests(p[ok], method=ref)[1]
    np.testing.assert_allclose(got[ok], multipletests(p[ok], method=ref)[1], rtol=1e-12)
    assert np.isnan(got[~ok]).all()
    with pytest.raises(ValueError, match="adjust"):
        adjust_pvalues(p, "bonferroni")


def _data(rng, n, c, effect_classes=(), effect=0.0):
    y = rng.random((n, c)) < 0.2
    y[: c, :] |= np.eye(c, dtype=bool)[: min(n, c)]
    a = y + 0.5 * rng.normal(0, 1, (n, 1)) + rng.normal(0, 1, (n, c))
    b = y + 0.5 * rng.normal(0, 1, (n, 1)) + rng.normal(0, 1, (n, c))
    for j in effect_classes:
        b[:, j] += effect * y[:, j]
    return y, a, b


def test_strong_effect_flagged_and_the_rest_not(rng):
    y, a, b = _data(rng, 300, 12, effect_classes=(0, 1, 2), effect=3.0)
    d = category_decisions(paired_permutation_ap(y, a, b, n_perm=999, seed=0))
    assert list(d["verdict"][:3]) == ["improved"] * 3
    assert (d["verdict"][3:] == "within noise").all()
    assert d["can_pass"]
    # and the reverse comparison worsens the same classes
    d2 = category_decisions(paired_permutation_ap(y, b, a, n_perm=999, seed=0), adjust="holm")
    assert list(d2["verdict"][:3]) == ["worsened"] * 3


def test_null_flags_little_and_most_improve_is_not_significant():
    # 30 data sets of two exchangeable models: at most a couple with any flag (FDR = FWER 5% here)
    any_flag, balance_sig = 0, 0
    for r in range(30):
        y, a, b = _data(np.random.default_rng(100 + r), 150, 20)
        d = category_decisions(paired_permutation_ap(y, a, b, n_perm=499, seed=r))
        any_flag += bool(np.isin(d["verdict"], ["improved", "worsened"]).any())
        balance_sig += d["p_balance"] < 0.05
    assert any_flag <= 4 and balance_sig <= 4  # expected 1.5; P(> 4 | rate 0.05) < 0.02


def test_most_improve_detects_a_small_effect_everywhere(rng):
    # every class a little better with B: no single class passes, the balance does
    y, a, b = _data(rng, 400, 30, effect_classes=range(30), effect=0.6)
    d = category_decisions(paired_permutation_ap(y, a, b, n_perm=999, seed=0))
    assert d["balance"] > 10 and d["p_balance"] < 0.01 and d["p_mAP"] < 0.01
    assert d["n_positive"] + d["n_negative"] == 30


def test_decisions_edge_cases(rng):
    y, a, b = _data(rng, 60, 5)
    y[:, 4] = False  # no positive: no test, no verdict
    perm = paired_permutation_ap(y, a, b, n_perm=9, seed=0)
    d = category_decisions(perm)
    assert np.isnan(d["p_val"][4]) and d["verdict"][4] == ""
    assert d["p_min"] == pytest.approx(0.1) and not d["can_pass"]  # 0.1 > 0.05 / 4
    d0 = category_decisions(paired_permutation_ap(y, a, b, n_perm=0))
    assert list(d0["verdict"][:4]) == ["not tested"] * 4 and np.isnan(d0["p_mAP"])
    with pytest.raises(ValueError, match="n_perm"):
        paired_permutation_ap(y, a, b, n_perm=-1)
    with pytest.raises(ValueError, match="alpha"):
        category_decisions(perm, alpha=1.5)
    # the same seed gives the same null
    np.testing.assert_array_equal(paired_permutation_ap(y, a, b, n_perm=20, seed=4).null,
                                  paired_permutation_ap(y, a, b, n_perm=20, seed=4).null)


def test_null_does_not_depend_on_threads_or_chunking(monkeypatch):
    # the swap patterns are drawn in the calling thread, chunk by chunk, and the chunk size does
    # not depend on the threads: 1 or 3 threads give the same null, bit for bit (several blocks here)
    from salanalysis import permutation

    rng = np.random.default_rng(11)
    y = rng.random((60, 5)) < 0.3
    a = np.round(rng.random((60, 5)), 1)
    b = np.round(rng.random((60, 5)), 1)
    monkeypatch.setattr(permutation, "_CHUNK_ELEMENTS", 7 * 120)  # 7 permutations per block
    one = permutation.paired_permutation_ap(y, a, b, n_perm=50, seed=2, jobs=1)
    three = permutation.paired_permutation_ap(y, a, b, n_perm=50, seed=2, jobs=3)
    np.testing.assert_array_equal(one.null, three.null)
    np.testing.assert_array_equal(one.delta, three.delta)
    assert np.isfinite(one.null[:, y.any(axis=0)]).all()
