"""Detected (true positive) vs missed (false negative) objects: Fig. 2's numbers and tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis._bootstrap import bootstrap_p, percentile_interval
from salanalysis.errors import InputError
from salanalysis.errors import require_columns as _require
from salanalysis.limits import check_count
from salanalysis.stats._common import (
    UNITS,
    Z975,
    _holm,
    _mean_ci,
    _numeric,
    _outcome,
    _resolve_models,
    _resolve_variables,
    default_units,
    unit_rows,
)
from salanalysis.stats._twoway import MIN_CATEGORIES_TWO_WAY, cluster2_ols, within_category_ols

__all__ = ["TEST_MEANINGS", "VERDICT_TEST", "FAMILY_MEANINGS", "tpfn_descriptives", "tpfn_tests", "claim_family"]

#: One-line meaning of every ``test`` of :func:`tpfn_tests`.
TEST_MEANINGS: dict[str, str] = {
    "student_t": "Student's unpaired t-test (pooled variance, as in the paper); effect = "
    "mean(detected) - mean(missed) with its pooled-variance 95% CI.",
    "welch_t": "Welch's unpaired t-test (unequal variances); effect = mean(detected) - "
    "mean(missed) with its Welch 95% CI.",
    "mann_whitney_u": "Mann-Whitney U of detected vs missed (rank test, no normality assumed); "
    "effect = rank-biserial correlation 2U/(n_detected n_missed) - 1 with a Hanley-McNeil CI.",
    "cohen_d": "Cohen's d = (mean(detected) - mean(missed)) / pooled SD with a Hedges-Olkin "
    "normal-approximation CI; no test of its own (its test is student_t).",
    "cluster_ols": "OLS of the variable on detected with standard errors clustered by image "
    "(CR1, t with n_images - 1 dof): the t-test without assuming objects of an image independent.",
    "cluster_bootstrap": "Difference in means with a percentile bootstrap that resamples whole "
    "images; statistic = difference / bootstrap SE, p = two-sided bootstrap p.",
    "cluster2_ols": "OLS of the variable on detected with standard errors clustered two-way by image "
    "and category (Cameron-Gelbach-Miller; t with min(G_image, G_category) - 1 dof): objects of one "
    "class share its typical value and detection rate too.",
    "within_category": "OLS of the variable on detected with category fixed effects (detected vs "
    "missed within a category), standard errors clustered by image (t with n_images - 1 dof).",
}

#: What the ``family`` column of :func:`tpfn_tests` and :func:`classwise_correlations` says.
FAMILY_MEANINGS: dict[str, str] = {
    "claim": "one of the paper's Fig. 2 / Sec. 3.2 variables (size, center distance, saliency per human "
    "source): Holm-adjusted over these, per model, unit and test",
    "duplicate": "area_px, the same size as area_frac in pixels: not a separate hypothesis, unadjusted",
    "control": "a control source (e.g. the center-bias map), not a claim: unadjusted",
    "other": "a variable outside the paper's claims: unadjusted",
}


def claim_family(variable: str, controls: Sequence[str] = ()) -> str:
    """Which family a variable's test belongs to (:data:`FAMILY_MEANINGS`): ``claim`` for
    ``area_frac``, ``center_dist`` and ``sal_max_NAME`` of a source not in ``controls``."""
    ctl = {c if c.startswith("sal_max_") else f"sal_max_{c}" for c in controls}
    if variable == "area_px":
        return "duplicate"
    if variable in ctl:
        return "control"
    if variable in ("area_frac", "center_dist") or variable.startswith("sal_max_"):
        return "claim"
    return "other"


def _descriptives_one(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """One unit of :func:`tpfn_descriptives` (the same arguments and columns, no ``unit``)."""
    models = _resolve_models(objects, models)
    variables = _resolve_variables(objects, variables)
    rows = []
    for model in models:
        y = _outcome(objects, model)
        for var in variables:
            x = _numeric(objects, var)
            ok = np.isfinite(x) & np.isfinite(y)
            for group, flag in (("detected", 1.0), ("missed", 0.0)):
                n, mean, sd, sem, lo, hi = _mean_ci(x[ok & (y == flag)])
                rows.append(
                    {
                        "model": model,
                        "variable": var,
                        "group": group,
                        "n": n,
                        "mean": mean,
                        "sd": sd,
                        "sem": sem,
                        "ci95_low": lo,
                        "ci95_high": hi,
                        "n_excluded_nan": int((~ok).sum()),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "variable",
            "group",
            "n",
            "mean",
            "sd",
            "sem",
            "ci95_low",
            "ci95_high",
            "n_excluded_nan",
        ],
    )


def _student(a: np.ndarray, b: np.ndarray) -> dict:
    n1, n2 = len(a), len(b)
    res = sps.ttest_ind(a, b, equal_var=True)
    dof = n1 + n2 - 2
    diff = float(a.mean() - b.mean())
    sp2 = ((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / dof
    return _t_row(res, dof, diff, np.sqrt(sp2 * (1 / n1 + 1 / n2)))


def _t_row(res, dof: float, diff: float, se: float) -> dict:
    """A t-test's row: statistic, dof, p and the difference with its t 95% interval."""
    half = float(sps.t.ppf(0.975, dof)) * se
    return dict(
        statistic=float(res.statistic),
        dof=float(dof),
        p_val=float(res.pvalue),
        effect=diff,
        effect_ci95_low=diff - half,
        effect_ci95_high=diff + half,
    )


def _welch(a: np.ndarray, b: np.ndarray) -> dict:
    n1, n2 = len(a), len(b)
    v1, v2 = a.var(ddof=1) / n1, b.var(ddof=1) / n2
    res = sps.ttest_ind(a, b, equal_var=False)
    # Welch-Satterthwaite degrees of freedom
    dof = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    diff = float(a.mean() - b.mean())
    return _t_row(res, dof, diff, np.sqrt(v1 + v2))


def _mann_whitney(a: np.ndarray, b: np.ndarray) -> dict:
    n1, n2 = len(a), len(b)
    res = sps.mannwhitneyu(a, b, alternative="two-sided")
    u = float(res.statistic)  # U of the detected group
    auc = u / (n1 * n2)  # P(X_detected > X_missed) + 0.5 P(tie)
    # Hanley & McNeil (1982) standard error of the AUC, mapped to r = 2 AUC - 1.
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2)) / (n1 * n2)
    se = np.sqrt(max(var, 0.0))
    lo, hi = max(auc - Z975 * se, 0.0), min(auc + Z975 * se, 1.0)
    return dict(
        statistic=u,
        dof=np.nan,
        p_val=float(res.pvalue),
        effect=2 * auc - 1,
        effect_ci95_low=2 * lo - 1,
        effect_ci95_high=2 * hi - 1,
    )


def _cohen_d(a: np.ndarray, b: np.ndarray) -> dict:
    n1, n2 = len(a), len(b)
    sp = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    d = float((a.mean() - b.mean()) / sp) if sp > 0 else np.nan
    # Hedges & Olkin (1985): var(d) ~= (n1 + n2) / (n1 n2) + d^2 / (2 (n1 + n2))
    se = np.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
    return dict(
        statistic=d,
        dof=np.nan,
        p_val=np.nan,
        effect=d,
        effect_ci95_low=d - Z975 * se,
        effect_ci95_high=d + Z975 * se,
    )


def _cluster_ols(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    import statsmodels.api as sm

    X = np.column_stack([np.ones_like(y), y])
    res = sm.OLS(x, X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    lo, hi = res.conf_int()[1]
    return dict(
        statistic=float(res.tvalues[1]),
        dof=float(res.df_resid_inference),
        p_val=float(res.pvalues[1]),
        effect=float(res.params[1]),
        effect_ci95_low=float(lo),
        effect_ci95_high=float(hi),
    )


_NAN_TEST = dict.fromkeys(("statistic", "dof", "p_val", "effect", "effect_ci95_low", "effect_ci95_high"), np.nan)


def _cluster_bootstrap(
    cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_clusters: int, n_boot: int, seed: int
) -> list[dict]:
    """Percentile bootstrap over clusters of mean(detected) - mean(missed), for many cells at once.

    Each cell is (x, y, cluster code) restricted to usable rows. All cells share the
    same resampled clusters (common random numbers), drawn as multinomial weights.
    """
    sums = []
    for x, y, g in cells:
        det = y == 1
        cols = [
            np.bincount(g[det], weights=x[det], minlength=n_clusters),
            np.bincount(g[det], minlength=n_clusters).astype(float),
            np.bincount(g[~det], weights=x[~det], minlength=n_clusters),
            np.bincount(g[~det], minlength=n_clusters).astype(float),
        ]
        sums.append(np.column_stack(cols))
    M = np.concatenate(sums, axis=1)  # (G, 4 * cells)
    check_count("bootstrap", int(n_boot), "n_boot")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, int(4e6 // max(n_clusters, 1))))
    boots = []
    done = 0
    p = np.full(n_clusters, 1.0 / n_clusters)
    while done < n_boot:
        b = min(chunk, n_boot - done)
        W = rng.multinomial(n_clusters, p, size=b).astype(float)  # (b, G)
        S = (W @ M).reshape(b, len(cells), 4)
        with np.errstate(invalid="ignore", divide="ignore"):
            boots.append(S[:, :, 0] / S[:, :, 1] - S[:, :, 2] / S[:, :, 3])
        done += b
    D = np.concatenate(boots, axis=0)  # (n_boot, cells)
    out = []
    for j, (x, y, _) in enumerate(cells):
        d = D[:, j]
        d = d[np.isfinite(d)]
        obs = float(x[y == 1].mean() - x[y == 0].mean())
        if len(d) < 2:
            out.append(dict(_NAN_TEST, effect=obs))
            continue
        se = float(d.std(ddof=1))
        p_val = bootstrap_p(d)
        lo, hi = percentile_interval(d)
        out.append(
            dict(
                statistic=obs / se if se > 0 else np.nan,
                dof=np.nan,
                p_val=float(p_val),
                effect=obs,
                effect_ci95_low=float(lo),
                effect_ci95_high=float(hi),
            )
        )
    return out


_TEST_COLUMNS = [
    "model",
    "variable",
    "test",
    "statistic",
    "dof",
    "p_val",
    "p_holm",
    "effect",
    "effect_name",
    "effect_ci95_low",
    "effect_ci95_high",
    "n_detected",
    "n_missed",
    "n_excluded_nan",
    "n_images",
    "n_categories",
    "family",
    "meaning",
]


_EFFECT_NAMES = {
    "student_t": "mean_diff",
    "welch_t": "mean_diff",
    "mann_whitney_u": "rank_biserial",
    "cohen_d": "cohen_d",
    "cluster_ols": "mean_diff",
    "cluster_bootstrap": "mean_diff",
    "cluster2_ols": "mean_diff",
    "within_category": "within_category_mean_diff",
}


def _tests_one(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
    *,
    cluster: str | None = "image_id",
    category: str | None = "category_id",
    controls: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One unit of :func:`tpfn_tests` (the same arguments and columns, no ``unit`` or ``role``)."""
    models = _resolve_models(objects, models)
    variables = _resolve_variables(objects, variables)
    if cluster is not None:
        _require(objects, [cluster])
        codes_all, uniq = pd.factorize(objects[cluster], use_na_sentinel=True)
    cat_all = None
    if cluster is not None and category is not None and category in objects.columns:
        cat_all = pd.factorize(objects[category], use_na_sentinel=True)[0]
    rows: list[dict] = []
    boot_cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    boot_rows: list[int] = []
    for model in models:
        y_all = _outcome(objects, model)
        for var in variables:
            x_all = _numeric(objects, var)
            ok = np.isfinite(x_all) & np.isfinite(y_all)
            if cluster is not None:
                ok &= codes_all >= 0
            x, y = x_all[ok], y_all[ok]
            a, b = x[y == 1], x[y == 0]
            base = {
                "model": model,
                "variable": var,
                "n_detected": len(a),
                "n_missed": len(b),
                "n_excluded_nan": int((~ok).sum()),
                "n_images": np.nan,
            }
            enough = len(a) >= 2 and len(b) >= 2
            for test, fn in (
                ("student_t", _student),
                ("welch_t", _welch),
                ("mann_whitney_u", _mann_whitney),
                ("cohen_d", _cohen_d),
            ):
                vals = fn(a, b) if enough else dict(_NAN_TEST)
                rows.append({**base, "test": test, **vals})
            if cluster is None:
                continue
            g = codes_all[ok]
            n_img = len(np.unique(g))
            # a cluster-robust covariance of 2 coefficients needs more than 2 clusters
            vals = _cluster_ols(x, y, g) if enough and n_img >= 3 else dict(_NAN_TEST)
            rows.append({**base, "n_images": n_img, "test": "cluster_ols", **vals})
            if cat_all is not None:
                c = cat_all[ok]
                has = c >= 0
                n_cat = len(np.unique(c[has]))
                both = enough and n_img >= 3 and n_cat >= 2
                for test, fn in (("cluster2_ols", cluster2_ols), ("within_category", within_category_ols)):
                    vals = fn(x[has], y[has], g[has], c[has]) if both else dict(_NAN_TEST)
                    rows.append({**base, "n_images": n_img, "n_categories": n_cat, "test": test, **vals})
            if n_boot > 0:
                rows.append({**base, "n_images": n_img, "test": "cluster_bootstrap", **_NAN_TEST})
                if enough and n_img >= 3:
                    boot_cells.append((x, y, g))
                    boot_rows.append(len(rows) - 1)
    if boot_cells:
        for i, vals in zip(boot_rows, _cluster_bootstrap(boot_cells, len(uniq), n_boot, seed)):
            rows[i].update(vals)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=_TEST_COLUMNS)
    out["effect_name"] = out["test"].map(_EFFECT_NAMES)
    out["meaning"] = out["test"].map(TEST_MEANINGS)
    if "n_categories" not in out.columns:
        out["n_categories"] = np.nan
    out["family"] = [claim_family(v, controls) for v in out["variable"]]
    out["p_holm"] = np.nan
    claim = out[out["family"] == "claim"]
    for _, idx in claim.groupby(["model", "test"], sort=False).groups.items():
        out.loc[idx, "p_holm"] = _holm(out.loc[idx, "p_val"])
    return out[_TEST_COLUMNS].reset_index(drop=True)



#: The test whose (Holm-adjusted) p-value is the verdict in summaries and figures when the table
#: has categories: objects of one image, and objects of one class, are not independent; the
#: object-level Student t is anti-conservative under image effects, the image-clustered t under
#: class effects (benchmarks/calibration.py). With fewer than
#: :data:`~salanalysis.stats._twoway.MIN_CATEGORIES_TWO_WAY` categories the verdict is
#: ``within_category``; without a category column, ``cluster_ols``. The ``role`` column says which.
VERDICT_TEST = "cluster2_ols"


def _roles(t: pd.DataFrame) -> pd.Series:
    """``role`` of each row of one unit: paper, verdict, sensitivity or alternative."""
    cats = t.loc[t["test"] == "cluster2_ols", "n_categories"]
    n_cat = float(cats.max()) if len(cats) and cats.notna().any() else 0.0
    if n_cat >= MIN_CATEGORIES_TWO_WAY:
        roles = {"cluster2_ols": "verdict", "within_category": "sensitivity"}
    elif n_cat >= 2:
        roles = {"within_category": "verdict", "cluster2_ols": "alternative"}
    else:
        roles = {"cluster_ols": "verdict"}
    return t["test"].map({"student_t": "paper", **roles}).fillna("alternative")


def _by_unit(fn, objects: pd.DataFrame, units: Sequence[str] | None, **kws) -> pd.DataFrame:
    units = default_units(objects) if units is None else list(units)
    bad = [u for u in units if u not in UNITS]
    if bad:
        raise InputError(f"unknown unit(s) {', '.join(bad)}; choose from {', '.join(UNITS)}")
    parts = []
    for unit in units:
        t = fn(unit_rows(objects, unit), **kws)
        t.insert(1, "unit", unit)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def tpfn_descriptives(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
    *,
    units: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean, SD, SEM and 95% CI of each variable for detected and missed objects (Fig. 2).

    Parameters
    ----------
    objects
        The object table (:func:`salanalysis.objects.object_table`).
    models
        Score-set names (``detected_NAME`` columns); default all.
    variables
        Columns to describe; default :func:`default_variables` (``area_frac``,
        ``area_px``, ``center_dist``, every ``sal_max_NAME``).
    units
        Analysis units (:data:`~salanalysis.stats.UNITS`): ``object`` (the paper's),
        ``single_instance``, ``image_class``; default all three when the table has
        ``image_id`` and ``category_id``.

    Returns
    -------
    pandas.DataFrame
        One row per (model, unit, variable, group):

        - ``model``: score-set name; ``unit``: the analysis unit;
        - ``variable``: column described;
        - ``group``: ``'detected'`` (true positive) or ``'missed'`` (false negative);
        - ``n``: rows of the unit in the group with a finite value;
        - ``mean``, ``sd`` (ddof=1), ``sem`` (sd / sqrt(n)): the paper's error bar is ``sem``;
        - ``ci95_low``, ``ci95_high``: t interval mean +- t(0.975, n-1) * sem (NaN if n < 2);
        - ``n_excluded_nan``: rows of the unit left out of this (model, variable)
          because the variable or the outcome is missing.
    """
    models = _resolve_models(objects, models)
    variables = _resolve_variables(objects, variables)
    return _by_unit(_descriptives_one, objects, units, models=models, variables=variables)


def tpfn_tests(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
    *,
    units: Sequence[str] | None = None,
    cluster: str | None = "image_id",
    category: str | None = "category_id",
    controls: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Detected vs missed: the paper's t-test, sturdier alternatives and the clustered verdict.

    Every difference is *detected minus missed*, so the paper's size t (25.25)
    is positive and its center-distance t (-21.05) negative. Tests
    (the ``test`` column; its one-line meaning is in ``meaning``):

    - ``student_t``: Student's unpaired t-test (pooled variance), as in the paper
      (``role = "paper"``);
    - ``welch_t``: Welch's t-test (unequal variances, Welch-Satterthwaite dof);
    - ``mann_whitney_u``: Mann-Whitney U (two-sided; U of the detected group), effect the
      rank-biserial correlation 2U/(n1 n2) - 1, CI by the Hanley-McNeil (1982) AUC SE;
    - ``cohen_d``: d = mean difference / pooled SD, CI d +- 1.96 SE with the Hedges & Olkin
      (1985) normal approximation SE^2 = (n1 + n2)/(n1 n2) + d^2/(2 (n1 + n2)); no p-value;
    - ``cluster_ols`` (when ``cluster`` is set): OLS ``variable ~ 1 + detected`` with CR1
      cluster-robust SEs by image, t with G - 1 dof (G images); the coefficient is the
      mean difference;
    - ``cluster_bootstrap`` (when ``cluster`` is set and ``n_boot > 0``): the mean difference
      with a percentile 95% CI from ``n_boot`` resamples of whole images; statistic is the
      difference over the bootstrap SE; p = min(1, 2 min((1 + #{d* <= 0}) / (B + 1),
      (1 + #{d* >= 0}) / (B + 1)));
    - ``cluster2_ols`` (when ``cluster`` is set and the table has ``category``): the same
      OLS with SEs clustered two-way by image and category (Cameron-Gelbach-Miller 2011),
      t with min(G_image, G_category) - 1 dof;
    - ``within_category`` (likewise): OLS with category fixed effects, SEs clustered by
      image: detected vs missed within a category.

    The verdict (``role = "verdict"``, the row whose ``p_holm`` summaries, Fig. 2 and the
    findings report): ``cluster2_ols`` with at least
    :data:`~salanalysis.stats._twoway.MIN_CATEGORIES_TWO_WAY` categories (``within_category``
    is then its named sensitivity check, ``role = "sensitivity"``), ``within_category`` with
    fewer, ``cluster_ols`` without a category column. Why: with image effects alone the
    image-clustered t holds its level (Student's t does not); with class random effects as
    well it rejects a true null in 0.19-0.27 of data sets, the two-way and within-category
    tests do not (benchmarks/calibration.py, BENCHMARKS.md).

    Holm family (``family``, :data:`FAMILY_MEANINGS`): per model, unit and test, the paper's
    Fig. 2 variables: ``area_frac``, ``center_dist`` and ``sal_max_NAME`` for every source not
    in ``controls``. ``area_px`` (a duplicate of ``area_frac``), the control sources and any
    other variable are outside it and get ``p_holm`` NaN (their ``p_val`` is unadjusted).
    The score sets do not share a family, so a model's verdict does not depend on what else
    is in the run. Every ``effect_ci95_*`` is an unadjusted (per-comparison) 95% interval.

    Parameters
    ----------
    objects
        The object table.
    models, variables, units
        As in :func:`tpfn_descriptives`.
    cluster
        Column holding the cluster (default ``image_id``); ``None`` skips the clustered tests.
    category
        Column holding the class (default ``category_id``; ignored when the table lacks it
        or ``cluster`` is None): ``cluster2_ols`` and ``within_category`` use it.
    controls
        Saliency sources (``NAME`` or ``sal_max_NAME``) that are controls, not claims (e.g. a
        center-bias map): outside the Holm family.
    n_boot
        Cluster-bootstrap resamples (0 skips ``cluster_bootstrap``).
    seed
        Seed of the bootstrap generator.

    Returns
    -------
    pandas.DataFrame
        One row per (model, unit, variable, test):

        - ``model``, ``unit``, ``variable``, ``test``, ``role`` (``verdict``, ``paper`` or
          ``alternative``);
        - ``statistic``: t, U, d or bootstrap z (see above); ``dof``: degrees of freedom (NaN
          where none);
        - ``p_val``: two-sided p, unadjusted; ``p_holm``: Holm-adjusted over the ``claim``
          family of the same model, unit and ``test`` (NaN outside it);
        - ``effect``, ``effect_ci95_low``, ``effect_ci95_high``: the effect size and its 95% CI;
          ``effect_name`` says which (``mean_diff``, ``rank_biserial`` or ``cohen_d``);
        - ``n_detected``, ``n_missed``: rows used in each group;
        - ``n_excluded_nan``: rows excluded for a missing variable or outcome;
        - ``n_images``: clusters used (clustered tests; NaN otherwise);
        - ``n_categories``: categories used (``cluster2_ols``, ``within_category``; NaN otherwise);
        - ``family``: ``claim``, ``duplicate``, ``control`` or ``other`` (:data:`FAMILY_MEANINGS`);
        - ``meaning``: one line saying what the test is.

        A (model, unit, variable) with fewer than 2 rows in either group gets NaN statistics.
    """
    models = _resolve_models(objects, models)
    variables = _resolve_variables(objects, variables)
    out = _by_unit(_tests_one, objects, units, models=models, variables=variables, cluster=cluster,
                   category=category, controls=tuple(controls), n_boot=n_boot, seed=seed)
    role = pd.concat([_roles(sub) for _, sub in out.groupby("unit", sort=False)]).reindex(out.index)
    out.insert(out.columns.get_loc("test") + 1, "role", role)
    return out
