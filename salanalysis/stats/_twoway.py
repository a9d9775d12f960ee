"""Dependence between objects of one class: two-way clustered and within-category tests of detected - missed.

Objects share more than their image: a class's objects share its typical size and its
detection rate. When classes differ at random in both, a data set's few dozen classes
make the two correlated by chance, and a test that clusters by image alone rejects a
true null far too often (benchmarks/calibration.py: 0.19-0.27 at alpha 0.05). Two
remedies, both on the same regression ``variable ~ 1 + detected`` as the image-clustered t:

- :func:`cluster2_ols`: standard errors clustered two-way by image and category
  (Cameron, Gelbach & Miller 2011): V = V_image + V_category - V_image x category, each
  term a CR1 sandwich; t with min(G_image, G_category) - 1 dof (statsmodels' choice);
- :func:`within_category_ols`: the same with category fixed effects (detected vs missed
  within a category), standard errors clustered by image; t with G_image - 1 dof.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

__all__ = ["MIN_CATEGORIES_TWO_WAY", "cluster2_ols", "within_category_ols"]

#: Fewest categories for which the two-way clustered t is the verdict: its variance rests on
#: the category sums, and with fewer clusters the t with G - 1 dof has little power and a
#: poorly estimated variance; below it the within-category test is the verdict.
MIN_CATEGORIES_TWO_WAY = 10

_NAN = dict.fromkeys(("statistic", "dof", "p_val", "effect", "effect_ci95_low", "effect_ci95_high"), np.nan)


def _t_result(beta: float, var: float, dof: float) -> dict:
    if not np.isfinite(var) or var <= 0 or dof < 1:
        return dict(_NAN, effect=beta)
    se = float(np.sqrt(var))
    t = beta / se
    half = float(sps.t.ppf(0.975, dof)) * se
    return dict(statistic=t, dof=float(dof), p_val=float(2 * sps.t.sf(abs(t), dof)), effect=beta,
                effect_ci95_low=beta - half, effect_ci95_high=beta + half)


def cluster2_ols(x: np.ndarray, y: np.ndarray, image: np.ndarray, category: np.ndarray) -> dict:
    """OLS ``x ~ 1 + y`` with standard errors clustered by image and by category (CGM 2011).

    Uses statsmodels' ``cov_type="cluster"`` with a two-column ``groups`` array (each of
    the three sandwiches with its own CR1 factor G/(G-1) (N-1)/(N-K)); a variance that
    comes out non-positive (possible with two-way clustering) gives NaN statistics.

    Returns
    -------
    dict
        ``statistic`` (t), ``dof`` (min(G_image, G_category) - 1), ``p_val``, ``effect``
        (mean(detected) - mean(missed)), ``effect_ci95_low``, ``effect_ci95_high``.
    """
    import statsmodels.api as sm

    X = np.column_stack([np.ones_like(y), y])
    groups = np.column_stack([np.unique(image, return_inverse=True)[1], np.unique(category, return_inverse=True)[1]])
    with np.errstate(invalid="ignore"):
        res = sm.OLS(x, X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    var = float(np.asarray(res.cov_params())[1, 1])
    return _t_result(float(res.params[1]), var, float(res.df_resid_inference))


def within_category_ols(x: np.ndarray, y: np.ndarray, image: np.ndarray, category: np.ndarray) -> dict:
    """OLS ``x ~ detected + C(category)`` with CR1 standard errors clustered by image.

    Computed by demeaning ``x`` and ``y`` within categories (Frisch-Waugh-Lovell): the
    coefficient and the cluster sandwich equal those of the dummy regression; the CR1
    factor G/(G-1) (N-1)/(N-K) uses K = 1 + number of categories, as statsmodels does
    for the dummy regression (the tests check it). A category whose objects are all
    detected or all missed adds nothing to the coefficient.

    Returns
    -------
    dict
        As :func:`cluster2_ols`; ``dof`` = G_image - 1; ``effect`` is the within-category
        difference detected - missed (NaN statistics when no category has both).
    """
    _, cat = np.unique(category, return_inverse=True)
    _, img = np.unique(image, return_inverse=True)
    n_cat, n_img, n = int(cat.max()) + 1, int(img.max()) + 1, len(x)
    counts = np.bincount(cat, minlength=n_cat)
    xd = x - (np.bincount(cat, weights=x, minlength=n_cat) / counts)[cat]
    yd = y - (np.bincount(cat, weights=y, minlength=n_cat) / counts)[cat]
    syy = float(yd @ yd)
    k = n_cat + 1
    if syy <= 1e-12 * n or n - k < 1 or n_img < 3:
        return dict(_NAN)
    beta = float(yd @ xd) / syy
    e = xd - beta * yd
    score = np.bincount(img, weights=yd * e, minlength=n_img)
    c = n_img / (n_img - 1) * (n - 1) / (n - k)
    return _t_result(beta, c * float(score @ score) / syy**2, n_img - 1)
