"""Chance AP and the chance-corrected AP (salanalysis.metrics.ranking) against enumeration and simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from salanalysis.metrics import chance_ap, normalized_ap, per_class_metrics


@pytest.mark.parametrize(("n", "k"), [(5, 1), (6, 2), (7, 3), (8, 1), (8, 7)])
def test_chance_corrected_ap_is_zero_on_average_over_every_random_ranking(n, k):
    # every placement of k positives among n ranked images is equally likely under a random
    # ranking: the mean of scikit-learn's AP over all C(n, k) placements is the exact chance AP,
    # and the chance-corrected AP averages to exactly 0
    aps = [average_precision_score(np.isin(np.arange(n), pl), -np.arange(n))
           for pl in itertools.combinations(range(n), k)]
    assert np.mean(aps) == pytest.approx(float(chance_ap(k, n)), abs=1e-12)
    assert np.mean(normalized_ap(np.array(aps), k, n)) == pytest.approx(0.0, abs=1e-12)
    # the former (AP - prevalence) / (1 - prevalence) is not 0 at chance: (H_n - 1) / (n - 1) for k = 1
    old = (np.mean(aps) - k / n) / (1 - k / n)
    if k == 1:
        h = sum(1 / i for i in range(1, n + 1))
        assert old == pytest.approx((h - 1) / (n - 1), abs=1e-12)  # 0.32 for n = 5
    assert old > 0.01


def test_normalized_ap_edges():
    assert normalized_ap(1.0, 2, 10) == pytest.approx(1.0)  # a perfect ranking
    assert np.isnan(normalized_ap(0.5, 0, 10))  # no positive
    assert np.isnan(normalized_ap(1.0, 4, 4))  # every image positive: chance AP 1
    assert np.isnan(normalized_ap(np.nan, 2, 10))


def test_chance_correction_is_not_prevalence_free_but_auc_is():
    # fixed ranking quality (d' = 1.5 for every class): the chance-corrected AP still rises with
    # prevalence, the ROC AUC does not (its expectation is Phi(1.5 / sqrt 2) = 0.856 at any prevalence)
    from scipy.stats import norm

    rng = np.random.default_rng(5)
    n, prevs = 4000, np.array([0.01, 0.03, 0.1, 0.3])
    norm_ap, auc = [], []
    for _ in range(20):
        y = rng.random((n, len(prevs))) < prevs
        s = 1.5 * y + rng.normal(size=y.shape)
        pc = per_class_metrics(y, 1 / (1 + np.exp(-s)))
        norm_ap.append(pc["AP_norm"].to_numpy())
        auc.append(pc["AUC"].to_numpy())
        assert pc["AUC"].to_numpy() == pytest.approx([roc_auc_score(y[:, c], s[:, c]) for c in range(4)])
    norm_ap, auc = np.mean(norm_ap, axis=0), np.mean(auc, axis=0)
    assert np.all(np.diff(norm_ap) > 0.03)  # rises with prevalence (0.17 -> 0.57 or so)
    assert auc == pytest.approx(np.full(4, norm.cdf(1.5 / np.sqrt(2))), abs=0.015)
