"""Statistics of Sec. 3.2: detected vs missed objects, class-wise correlations, and models.

The paper (Luo, Jiang & Zhao 2019, Sec. 3.2 and Fig. 2) splits the objects of
the validation set into those whose class the classifier found in the image
(true positives, "detected") and those it missed (false negatives, "missed"),
and compares object size, distance to the image centre and maximum saliency
inside the object with unpaired Student t-tests (t = 25.25, -21.05, 34.88). It
then averages the same quantities per category and correlates them with the
category's AP (Pearson rho = 0.278, -0.501, 0.365 / 0.328).

This module reproduces those numbers from the object table (see
:mod:`salanalysis.objects`) and answers the two objections a reviewer raises:

- *saliency, size and centrality are correlated*: partial correlations of AP
  with saliency controlling for size and centre distance
  (:func:`classwise_correlations`), and a logistic regression of detection on
  log size, centre distance and saliency together (:func:`detection_model`);
- *objects of one image are not independent*: image-clustered inference beside
  every object-level test (cluster-robust OLS and a cluster bootstrap over
  images in :func:`tpfn_tests`; image-clustered standard errors in
  :func:`detection_model`).

When the table holds a centre-prior saliency source (e.g. ``center`` from
``salanalysis saliency baseline``), pass its name as ``control_source``: the
partial correlations and the logistic models are refitted with it as an extra
control, so a saliency effect that is only a centre bias disappears.

Conventions
-----------
- Differences are always *detected minus missed*: a positive ``statistic`` or
  ``effect`` means detected objects have the larger value (the paper's signs).
- Rows whose variable (or outcome) is missing or not finite are excluded from
  that analysis only, and counted in ``n_excluded_nan``.
- Holm adjustment (``p_holm``) runs over one *family*: in :func:`tpfn_tests` all
  rows of the same ``test`` (across score sets and variables); in
  :func:`classwise_correlations` all rows of the same model, ``method`` and
  ``covariates``; in :func:`detection_models` the saliency terms of all fits with
  the same control and fixed-effects choice. Different tests of the same
  hypothesis are alternatives, not separate hypotheses, so they are not pooled.
- Cost: everything is vectorised; on a simulated table the size of COCO val2014
  (40k images, 160k objects, 2 score sets, 2 sources) :func:`tpfn_tests` with 1000
  cluster-bootstrap resamples took about 17 s and :func:`detection_models` about
  5 s on 2 busy cores; one logistic fit with category fixed effects took about 18 s.
- Functions are pure: they return tidy DataFrames, never round, never print.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis.errors import InputError

if TYPE_CHECKING:
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

__all__ = [
    "TEST_MEANINGS",
    "METHOD_MEANINGS",
    "score_sets",
    "saliency_sources",
    "default_variables",
    "tpfn_descriptives",
    "tpfn_tests",
    "classwise_table",
    "classwise_correlations",
    "detection_model",
    "detection_models",
    "stats_tables",
    "format_summary",
    "per_class_ap",
    "run_stats",
    "OUTPUT_FILES",
]

_Z975 = float(sps.norm.ppf(0.975))

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
}

#: One-line meaning of every ``method`` of :func:`classwise_correlations`.
METHOD_MEANINGS: dict[str, str] = {
    "pearson": "Pearson r of the class means with class AP (as the paper); t-test p, Fisher-z 95% CI.",
    "spearman": "Spearman rank correlation with class AP (monotone, robust to outlying classes); "
    "Fisher-z CI with SE sqrt(1.06/(n-3)).",
    "partial": "Partial Pearson r with class AP controlling for the covariates (residual on "
    "residual); t-test with n-2-k dof, Fisher-z CI with SE 1/sqrt(n-3-k).",
}

_BASE_VARIABLES = ("area_frac", "area_px", "center_dist")


# ----------------------------------------------------------------- validation
def _require(df: pd.DataFrame, columns: Sequence[str], what: str = "object table") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}")


def score_sets(objects: pd.DataFrame) -> list[str]:
    """Names NAME of the score sets in the table (its ``detected_NAME`` columns)."""
    return [c[len("detected_") :] for c in objects.columns if str(c).startswith("detected_")]


def saliency_sources(objects: pd.DataFrame) -> list[str]:
    """Names NAME of the saliency sources in the table (its ``sal_max_NAME`` columns)."""
    return [c[len("sal_max_") :] for c in objects.columns if str(c).startswith("sal_max_")]


_sources_in = saliency_sources


def default_variables(objects: pd.DataFrame) -> list[str]:
    """``area_frac``, ``area_px``, ``center_dist`` (those present) and every ``sal_max_NAME``."""
    base = [v for v in _BASE_VARIABLES if v in objects.columns]
    return base + [f"sal_max_{s}" for s in saliency_sources(objects)]


def _resolve_models(objects: pd.DataFrame, models: Sequence[str] | str | None) -> list[str]:
    if models is None:
        models = score_sets(objects)
        if not models:
            raise InputError("object table has no detected_NAME column (no score set)")
        return models
    if isinstance(models, str):
        models = [models]
    models = [m[len("detected_") :] if m.startswith("detected_") else m for m in models]
    _require(objects, [f"detected_{m}" for m in models])
    return list(models)


def _resolve_variables(objects: pd.DataFrame, variables: Sequence[str] | str | None) -> list[str]:
    if variables is None:
        variables = default_variables(objects)
    elif isinstance(variables, str):
        variables = [variables]
    _require(objects, list(variables))
    return list(variables)


def _sal_column(name: str) -> str:
    return name if name.startswith("sal_max_") else f"sal_max_{name}"


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with non-finite values as NaN (bad text is an InputError)."""
    s = df[column]
    if pd.api.types.is_bool_dtype(s):
        x = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            x = pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(f"column {column} is not numeric: {exc}") from exc
    x = x.astype(float, copy=True)
    x[~np.isfinite(x)] = np.nan
    return x


def _outcome(objects: pd.DataFrame, model: str) -> np.ndarray:
    """``detected_<model>`` as 1.0 / 0.0 / NaN (bool, 0/1 or 'True'/'False' text accepted)."""
    col = f"detected_{model}"
    s = objects[col]
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        y = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        text = s.astype("string").str.strip().str.lower()
        mapping = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
        bad = text.notna() & ~text.isin(list(mapping))
        if bad.any():
            raise InputError(f"column {col} holds non-boolean values, e.g. {s[bad].iloc[0]!r}")
        y = text.map(mapping).to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(y)
    if np.any((y[ok] != 0) & (y[ok] != 1)):
        raise InputError(f"column {col} must be boolean (0/1)")
    return y


def _holm(p: pd.Series) -> np.ndarray:
    """Holm step-down adjusted p-values of the finite entries; NaN stays NaN.

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)) (Holm 1979;
    equal to statsmodels' ``multipletests(method="holm")``, which the tests check).
    """
    p = p.to_numpy(dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
        out[order] = adj
    return out


def _mean_ci(v: np.ndarray) -> tuple[int, float, float, float, float, float]:
    n = len(v)
    mean = float(v.mean()) if n else np.nan
    sd = float(v.std(ddof=1)) if n > 1 else np.nan
    sem = sd / np.sqrt(n) if n > 1 else np.nan
    half = float(sps.t.ppf(0.975, n - 1)) * sem if n > 1 else np.nan
    return n, mean, sd, sem, mean - half, mean + half


# ------------------------------------------------------------ tp vs fn tables
def tpfn_descriptives(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
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

    Returns
    -------
    pandas.DataFrame
        One row per (model, variable, group):

        - ``model``: score-set name;
        - ``variable``: column described;
        - ``group``: ``'detected'`` (true positive) or ``'missed'`` (false negative);
        - ``n``: objects in the group with a finite value;
        - ``mean``, ``sd`` (ddof=1), ``sem`` (sd / sqrt(n)): the paper's error bar is ``sem``;
        - ``ci95_low``, ``ci95_high``: t interval mean +- t(0.975, n-1) * sem (NaN if n < 2);
        - ``n_excluded_nan``: objects of the whole table left out of this
          (model, variable) because the variable or the outcome is missing.
    """
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
    half = float(sps.t.ppf(0.975, dof)) * np.sqrt(sp2 * (1 / n1 + 1 / n2))
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
    half = float(sps.t.ppf(0.975, dof)) * np.sqrt(v1 + v2)
    return dict(
        statistic=float(res.statistic),
        dof=float(dof),
        p_val=float(res.pvalue),
        effect=diff,
        effect_ci95_low=diff - half,
        effect_ci95_high=diff + half,
    )


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
    lo, hi = max(auc - _Z975 * se, 0.0), min(auc + _Z975 * se, 1.0)
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
        effect_ci95_low=d - _Z975 * se,
        effect_ci95_high=d + _Z975 * se,
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


_NAN_TEST = dict(
    statistic=np.nan,
    dof=np.nan,
    p_val=np.nan,
    effect=np.nan,
    effect_ci95_low=np.nan,
    effect_ci95_high=np.nan,
)


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
        nb = len(d)
        p_val = min(1.0, 2 * min((1 + np.sum(d <= 0)) / (nb + 1), (1 + np.sum(d >= 0)) / (nb + 1)))
        lo, hi = np.percentile(d, [2.5, 97.5])
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
    "meaning",
]
_EFFECT_NAMES = {
    "student_t": "mean_diff",
    "welch_t": "mean_diff",
    "mann_whitney_u": "rank_biserial",
    "cohen_d": "cohen_d",
    "cluster_ols": "mean_diff",
    "cluster_bootstrap": "mean_diff",
}


def tpfn_tests(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    variables: Sequence[str] | str | None = None,
    *,
    cluster: str | None = "image_id",
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Detected vs missed objects: the paper's t-tests and sturdier alternatives.

    Every difference is *detected minus missed*, so the paper's size t (25.25)
    is positive and its centre-distance t (-21.05) negative. Tests
    (the ``test`` column; its one-line meaning is in ``meaning``):

    - ``student_t``: Student's unpaired t-test (pooled variance), as in the paper;
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
      (1 + #{d* >= 0}) / (B + 1))).

    Parameters
    ----------
    objects
        The object table.
    models, variables
        As in :func:`tpfn_descriptives`.
    cluster
        Column holding the cluster (default ``image_id``); ``None`` skips the clustered tests.
    n_boot
        Cluster-bootstrap resamples (0 skips ``cluster_bootstrap``).
    seed
        Seed of the bootstrap generator.

    Returns
    -------
    pandas.DataFrame
        One row per (model, variable, test):

        - ``model``, ``variable``, ``test``;
        - ``statistic``: t, U, d or bootstrap z (see above); ``dof``: degrees of freedom (NaN
          where none);
        - ``p_val``: two-sided p; ``p_holm``: Holm-adjusted over all rows of the same ``test``;
        - ``effect``, ``effect_ci95_low``, ``effect_ci95_high``: the effect size and its 95% CI;
          ``effect_name`` says which (``mean_diff``, ``rank_biserial`` or ``cohen_d``);
        - ``n_detected``, ``n_missed``: objects used in each group;
        - ``n_excluded_nan``: objects excluded for a missing variable or outcome;
        - ``n_images``: clusters used (clustered tests; NaN otherwise);
        - ``meaning``: one line saying what the test is.

        A (model, variable) with fewer than 2 objects in either group gets NaN statistics.
    """
    models = _resolve_models(objects, models)
    variables = _resolve_variables(objects, variables)
    if cluster is not None:
        _require(objects, [cluster])
        codes_all, uniq = pd.factorize(objects[cluster], use_na_sentinel=True)
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
    out["p_holm"] = np.nan
    for _, idx in out.groupby("test", sort=False).groups.items():
        out.loc[idx, "p_holm"] = _holm(out.loc[idx, "p_val"])
    return out[_TEST_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------ class-wise
def classwise_table(
    objects: pd.DataFrame,
    per_class_ap: pd.DataFrame,
    saliency_sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-category means of the object variables beside the category's AP (Sec. 3.2).

    Parameters
    ----------
    objects
        The object table.
    per_class_ap
        ``category_id`` and ``AP`` (e.g. the per-class table of
        :func:`salanalysis.metrics.evaluate`); with a ``model`` column, one block of
        rows per model.
    saliency_sources
        Source names (``sal_max_NAME`` columns); default all in the table.

    Returns
    -------
    pandas.DataFrame
        One row per category with at least one object (per model when ``per_class_ap``
        has a ``model`` column, which then comes first):

        - ``category_id``, ``category``;
        - ``n_objects``: objects of the category in the table;
        - ``area_frac``, ``area_px``, ``center_dist``: mean over the category's objects
          (``area_px`` only when the table has it);
        - ``sal_max_NAME``: mean max-saliency per source over objects that have a map;
        - ``n_sal_NAME``: how many objects of the category have a value for that source;
        - ``AP``: the category's AP (NaN when the AP table has no finite value for it).
    """
    _require(objects, ["category_id", "area_frac", "center_dist"])
    _require(per_class_ap, ["category_id", "AP"], "per-class AP table")
    sources = (
        _sources_in(objects)
        if saliency_sources is None
        else [_sal_column(s)[len("sal_max_") :] for s in saliency_sources]
    )
    _require(objects, [f"sal_max_{s}" for s in sources])
    work = pd.DataFrame({"category_id": objects["category_id"].to_numpy()})
    if "category" in objects.columns:
        work["category"] = objects["category"].astype(str).to_numpy()
    else:
        work["category"] = work["category_id"].astype(str)
    means = ["area_frac"] + (["area_px"] if "area_px" in objects.columns else []) + ["center_dist"]
    means += [f"sal_max_{s}" for s in sources]
    for c in means:
        work[c] = _numeric(objects, c)
    grouped = work.groupby("category_id", sort=True)
    table = grouped[means].mean()
    table.insert(0, "n_objects", grouped.size())
    table.insert(0, "category", grouped["category"].first())
    for s in sources:
        table[f"n_sal_{s}"] = grouped[f"sal_max_{s}"].count()
    table = table.reset_index()

    ap = per_class_ap.copy()
    keys = ["model", "category_id"] if "model" in ap.columns else ["category_id"]
    if ap.duplicated(keys).any():
        raise InputError(f"per-class AP table repeats {'/'.join(keys)}")
    ap["AP"] = pd.to_numeric(ap["AP"], errors="coerce").astype(float)
    try:
        ap["category_id"] = ap["category_id"].astype(table["category_id"].dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"per-class AP table has invalid category_id values: {exc}") from exc
    if "model" in ap.columns:
        blocks = []
        for model, sub in ap.groupby("model", sort=False):
            t = table.merge(sub[["category_id", "AP"]], on="category_id", how="left")
            t.insert(0, "model", model)
            blocks.append(t)
        return pd.concat(blocks, ignore_index=True)
    return table.merge(ap[["category_id", "AP"]], on="category_id", how="left")


def _fisher_ci(r: float, se: float) -> tuple[float, float]:
    if not np.isfinite(r) or not np.isfinite(se):
        return np.nan, np.nan
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    return float(np.tanh(z - _Z975 * se)), float(np.tanh(z + _Z975 * se))


def _partial(x: np.ndarray, y: np.ndarray, Z: np.ndarray) -> tuple[float, float, float]:
    """Partial r of x and y given Z (residual on residual), its t-test p, and dof."""
    n, k = Z.shape
    A = np.column_stack([np.ones(n), Z])
    rx = x - A @ np.linalg.lstsq(A, x, rcond=None)[0]
    ry = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    denom = np.sqrt((rx @ rx) * (ry @ ry))
    dof = n - 2 - k
    # a variable (almost) fully explained by the covariates has no partial correlation
    tiny = 1e-12 * min(np.sum((x - x.mean()) ** 2), np.sum((y - y.mean()) ** 2))
    if denom <= 0 or dof < 1 or min(rx @ rx, ry @ ry) <= tiny:
        return np.nan, np.nan, float(dof)
    r = float(np.clip(rx @ ry / denom, -1.0, 1.0))
    t = r * np.sqrt(dof / max(1 - r**2, 1e-300))
    return r, float(2 * sps.t.sf(abs(t), dof)), float(dof)


_CORR_COLUMNS = [
    "variable",
    "method",
    "covariates",
    "n",
    "r",
    "ci95_low",
    "ci95_high",
    "p_val",
    "p_holm",
    "meaning",
]


def classwise_correlations(
    classwise: pd.DataFrame,
    variables: Sequence[str] | None = None,
    *,
    target: str = "AP",
    controls: Sequence[str] = ("area_frac", "center_dist"),
    partial_variables: Sequence[str] | None = None,
    control_source: str | None = None,
) -> pd.DataFrame:
    """Correlations of class means with class AP: Pearson and Spearman, and partial ones.

    Each correlation uses the classes where the variable, the target (and the
    covariates, for ``partial``) are all finite; ``n`` says how many.

    - ``pearson``: r and its t-test p (``scipy.stats.pearsonr``), 95% CI
      tanh(atanh(r) +- 1.96 / sqrt(n - 3)) (Fisher z), as the paper;
    - ``spearman``: rho and p (``scipy.stats.spearmanr``), CI by Fisher z with
      SE sqrt(1.06 / (n - 3)) (Fieller, Hartley & Pearson 1957);
    - ``partial``: Pearson r of the residuals of the variable and of the target after
      an OLS on the covariates (with intercept); p from t = r sqrt(dof / (1 - r^2)),
      dof = n - 2 - k (k covariates), equal to the variable's t in the OLS
      ``target ~ variable + covariates``; CI by Fisher z with SE 1 / sqrt(n - 3 - k).

    Parameters
    ----------
    classwise
        Output of :func:`classwise_table` (a ``model`` column, if present, is kept and
        correlations are computed per model).
    variables
        Columns correlated with ``target``; default ``area_frac``, ``center_dist`` and every
        ``sal_max_NAME``.
    target
        The class performance column (default ``AP``).
    controls
        Covariates of the partial correlations (default size and centre distance).
    partial_variables
        Columns given a partial correlation; default every ``sal_max_NAME`` column.
    control_source
        Name of a centre-prior saliency source: each other saliency column also gets a
        partial correlation controlling for ``controls`` plus ``sal_max_<control_source>``.

    Returns
    -------
    pandas.DataFrame
        (``model``,) ``variable``, ``method`` ('pearson' | 'spearman' | 'partial'),
        ``covariates`` (comma-separated controls; '' for pearson and spearman), ``n``
        (classes used), ``r``, ``ci95_low``, ``ci95_high``, ``p_val``, ``p_holm``
        (Holm over all rows of the same method and covariates, per model), ``meaning``.
    """
    if variables is None:
        variables = [v for v in ("area_frac", "center_dist") if v in classwise.columns]
        variables += [c for c in classwise.columns if str(c).startswith("sal_max_")]
    variables = list(variables)
    if partial_variables is None:
        partial_variables = [c for c in variables if str(c).startswith("sal_max_")]
    partial_variables = list(partial_variables)
    controls = list(controls)
    control_col = None if control_source is None else _sal_column(control_source)
    need = set(variables) | set(partial_variables) | {target}
    if partial_variables:
        need |= set(controls)
    if control_col is not None:
        need.add(control_col)
    _require(classwise, sorted(need), "class-wise table")

    groups = (
        list(classwise.groupby("model", sort=False))
        if "model" in classwise.columns
        else [(None, classwise)]
    )
    out = []
    for model, sub in groups:
        y_all = _numeric(sub, target)
        rows = []
        for var in variables:
            x_all = _numeric(sub, var)
            ok = np.isfinite(x_all) & np.isfinite(y_all)
            x, y = x_all[ok], y_all[ok]
            n = int(ok.sum())
            varies = n >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
            for method in ("pearson", "spearman"):
                r = p = np.nan
                if varies:
                    res = sps.pearsonr(x, y) if method == "pearson" else sps.spearmanr(x, y)
                    r, p = float(res.statistic), float(res.pvalue)
                c = 1.0 if method == "pearson" else 1.06
                se = np.sqrt(c / (n - 3)) if n > 3 else np.nan
                lo, hi = _fisher_ci(r, se)
                rows.append(
                    dict(
                        variable=var,
                        method=method,
                        covariates="",
                        n=n,
                        r=r,
                        ci95_low=lo,
                        ci95_high=hi,
                        p_val=p,
                    )
                )
        specs = [(v, controls) for v in partial_variables]
        if control_col is not None:
            specs += [(v, controls + [control_col]) for v in partial_variables if v != control_col]
        for var, covs in specs:
            cols = [var] + covs
            mats = np.column_stack([_numeric(sub, c) for c in cols])
            ok = np.isfinite(mats).all(axis=1) & np.isfinite(y_all)
            n = int(ok.sum())
            r, p, _ = (
                _partial(mats[ok, 0], y_all[ok], mats[ok, 1:])
                if n > len(covs) + 2
                else (np.nan, np.nan, np.nan)
            )
            k = len(covs)
            se = 1 / np.sqrt(n - 3 - k) if n - 3 - k > 0 else np.nan
            lo, hi = _fisher_ci(r, se)
            rows.append(
                dict(
                    variable=var,
                    method="partial",
                    covariates=",".join(covs),
                    n=n,
                    r=r,
                    ci95_low=lo,
                    ci95_high=hi,
                    p_val=p,
                )
            )
        df = pd.DataFrame(
            rows, columns=[c for c in _CORR_COLUMNS if c not in ("p_holm", "meaning")]
        )
        df["p_holm"] = np.nan
        for _, idx in df.groupby(["method", "covariates"], sort=False).groups.items():
            df.loc[idx, "p_holm"] = _holm(df.loc[idx, "p_val"])
        df["meaning"] = df["method"].map(METHOD_MEANINGS)
        if model is not None:
            df.insert(0, "model", model)
        out.append(df)
    cols = (["model"] if "model" in classwise.columns else []) + _CORR_COLUMNS
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)[cols]


# --------------------------------------------------------- detection models
_MODEL_COLUMNS = [
    "model",
    "saliency",
    "control",
    "category_effects",
    "term",
    "coef",
    "se",
    "z",
    "p_val",
    "odds_ratio_per_sd",
    "ci95_low",
    "ci95_high",
    "sd",
    "n_obs",
    "n_detected",
    "n_images",
    "n_excluded_nan",
    "n_excluded_categories",
    "formula",
    "note",
    "meaning",
]


def detection_model(
    objects: pd.DataFrame,
    model: str,
    saliency: str | None,
    *,
    category_effects: bool = False,
    control_source: str | None = None,
    cluster: str = "image_id",
) -> pd.DataFrame:
    """Logistic regression of detection on size, centre distance and saliency, image-clustered.

    Fits ``detected ~ z(log area_frac) + z(center_dist) + z(sal_max_<saliency>)``
    (+ ``z(sal_max_<control_source>)``) (+ category fixed effects) by maximum
    likelihood (``statsmodels`` Logit), where z() standardises a predictor to mean 0
    and SD 1 over the objects used, so exp(coef) is the odds ratio per SD. Standard
    errors are clustered by image (sandwich, ``cov_type='cluster'``; normal
    reference): objects of one image share the image's classification outcome.
    Answers: *does saliency predict detection beyond size and position?*

    Objects with a missing or non-finite predictor or outcome, or with area_frac <= 0,
    are excluded (``n_excluded_nan``). With ``category_effects``, categories whose
    objects were all detected or all missed carry no within-category information and
    would make the likelihood diverge; their objects are dropped
    (``n_excluded_categories`` counts the categories).

    Parameters
    ----------
    objects
        The object table.
    model
        Score-set name (``detected_<model>``).
    saliency
        Saliency source name (``sal_max_<saliency>``), or None for size and position only.
    category_effects
        Add one indicator per category (the first is the reference).
    control_source
        A centre-prior saliency source added as a control (ignored when equal to
        ``saliency``).
    cluster
        Column of the clusters (default ``image_id``).

    Returns
    -------
    pandas.DataFrame
        One row per predictor (``log_area_frac``, ``center_dist``, ``sal_max_<saliency>``,
        ``sal_max_<control>``; intercept and category indicators are not reported):

        - ``model``, ``saliency`` ('' when none), ``control`` ('' when none),
          ``category_effects``, ``term``;
        - ``coef``, ``se`` (image-clustered), ``z``, ``p_val``: on the standardised scale;
        - ``odds_ratio_per_sd`` = exp(coef), ``ci95_low``, ``ci95_high`` = exp(coef +- 1.96 se);
        - ``sd``: SD of the raw predictor (log area for ``log_area_frac``), to convert back;
        - ``n_obs``, ``n_detected``, ``n_images``: objects, detected objects and images used;
        - ``n_excluded_nan``, ``n_excluded_categories``: see above;
        - ``formula``: the model fitted, in words;
        - ``note``: '' or why there is no fit (then every number is NaN): too few objects or
          images, one outcome only, a constant or collinear predictor, a failed fit; or
          that the fit did not converge (numbers kept, to be read with care);
        - ``meaning``: one line saying what ``odds_ratio_per_sd`` is.
    """
    import statsmodels.api as sm

    model = _resolve_models(objects, model)[0]
    _require(
        objects,
        ["area_frac", "center_dist", cluster] + (["category_id"] if category_effects else []),
    )
    terms = {"log_area_frac": None, "center_dist": _numeric(objects, "center_dist")}
    area = _numeric(objects, "area_frac")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms["log_area_frac"] = np.where(area > 0, np.log(area), np.nan)
    sal_col = None if saliency is None else _sal_column(saliency)
    ctl_col = None if control_source is None else _sal_column(control_source)
    if ctl_col == sal_col:
        ctl_col = None
    for c in (sal_col, ctl_col):
        if c is not None:
            _require(objects, [c])
            terms[c] = _numeric(objects, c)
    y = _outcome(objects, model)
    names = list(terms)
    X = np.column_stack([terms[n] for n in names])
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y) & objects[cluster].notna().to_numpy()
    n_nan = int((~ok).sum())
    n_cat_out = 0
    cats = None
    if category_effects:
        cats = objects["category_id"].to_numpy()
        frame = pd.DataFrame({"c": cats[ok], "y": y[ok]})
        rate = frame.groupby("c")["y"].mean()
        keep = rate[(rate > 0) & (rate < 1)].index
        n_cat_out = int(len(rate) - len(keep))
        ok &= np.isin(cats, keep.to_numpy())
    formula = "detected_{} ~ {}".format(
        model, " + ".join(["log(area_frac)", "center_dist"] + [c for c in (sal_col, ctl_col) if c])
    ) + (" + C(category)" if category_effects else "")
    base = {
        "model": model,
        "saliency": "" if sal_col is None else sal_col[len("sal_max_") :],
        "control": "" if ctl_col is None else ctl_col[len("sal_max_") :],
        "category_effects": bool(category_effects),
        "n_obs": int(ok.sum()),
        "n_detected": int(np.nansum(y[ok])),
        "n_excluded_nan": n_nan,
        "n_excluded_categories": n_cat_out,
        "formula": formula,
    }
    Xo, yo = X[ok], y[ok]
    groups = pd.factorize(objects[cluster].to_numpy()[ok])[0]
    base["n_images"] = int(len(np.unique(groups)))
    sd = Xo.std(axis=0, ddof=1) if len(Xo) > 1 else np.full(len(names), np.nan)
    note = ""
    if len(yo) < len(names) + 2:
        note = "too few objects"
    elif yo.min() == yo.max():
        note = "every object has the same outcome"
    elif not np.all(sd > 0):
        note = "a predictor is constant: " + ", ".join(n for n, s in zip(names, sd) if not s > 0)
    res = None
    if not note:
        Z = (Xo - Xo.mean(axis=0)) / sd
        # the predictors' correlation matrix must be well conditioned
        if (
            np.linalg.eigvalsh(np.corrcoef(Z, rowvar=False).reshape(len(names), len(names))).min()
            < 1e-8
        ):
            note = "the predictors are collinear: " + ", ".join(names)
    if not note:
        design = [np.ones(len(yo)), Z]
        if category_effects:
            dummies = pd.get_dummies(pd.Categorical(cats[ok]), drop_first=True).to_numpy(
                dtype=float
            )
            design.append(dummies)
        D = np.column_stack(design)
        if base["n_images"] <= D.shape[1]:
            # the clustered covariance has rank <= n_images - 1
            note = f"too few images ({base['n_images']}) for image-clustered SEs of {D.shape[1]} coefficients"
    if not note:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = sm.Logit(yo, D, check_rank=False).fit(
                    method="newton",
                    maxiter=100,
                    disp=0,
                    cov_type="cluster",
                    cov_kwds={"groups": groups},
                )
            if not res.mle_retvals.get("converged", True):
                note = "the fit did not converge (separation?)"
        except Exception as exc:  # singular design, separation, ...
            note = f"the fit failed: {type(exc).__name__}: {exc}"
            res = None
    rows = []
    for j, name in enumerate(names):
        others = "the other terms" + (" and the category" if category_effects else "")
        meaning = (
            f"Odds ratio of detection per SD of {name}, holding {others} fixed "
            "(logistic regression, SEs clustered by image)."
        )
        row = dict(
            base, term=name, sd=float(sd[j]) if len(sd) else np.nan, note=note, meaning=meaning
        )
        if res is not None and np.isfinite(res.bse[j + 1]):
            coef, se = float(res.params[j + 1]), float(res.bse[j + 1])
            with np.errstate(over="ignore"):
                or_lo, or_hi = np.exp(coef - _Z975 * se), np.exp(coef + _Z975 * se)
            row.update(
                coef=coef,
                se=se,
                z=float(res.tvalues[j + 1]),
                p_val=float(res.pvalues[j + 1]),
                odds_ratio_per_sd=float(np.exp(coef)),
                ci95_low=float(or_lo),
                ci95_high=float(or_hi),
            )
        else:
            row.update(
                coef=np.nan,
                se=np.nan,
                z=np.nan,
                p_val=np.nan,
                odds_ratio_per_sd=np.nan,
                ci95_low=np.nan,
                ci95_high=np.nan,
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=_MODEL_COLUMNS)


def detection_models(
    objects: pd.DataFrame,
    models: Sequence[str] | str | None = None,
    saliency: Sequence[str] | None = None,
    *,
    category_effects: bool = False,
    control_source: str | None = None,
    cluster: str = "image_id",
) -> pd.DataFrame:
    """:func:`detection_model` for every score set and saliency source, stacked.

    Per score set: the size-and-position model (no saliency), one model per
    saliency source, and, when ``control_source`` is given, one more per other
    source with the centre prior as a control. Columns as in
    :func:`detection_model`, plus ``p_holm``: Holm over the saliency terms of all
    rows with the same (control, category_effects) specification.
    """
    models = _resolve_models(objects, models)
    sources = (
        saliency_sources(objects)
        if saliency is None
        else [_sal_column(s)[len("sal_max_") :] for s in saliency]
    )
    ctl = None if control_source is None else _sal_column(control_source)[len("sal_max_") :]
    if ctl is not None:
        _require(objects, [f"sal_max_{ctl}"])
    tables = []
    for m in models:
        kw = dict(category_effects=category_effects, cluster=cluster)
        tables.append(detection_model(objects, m, None, **kw))
        for s in sources:
            tables.append(detection_model(objects, m, s, **kw))
        if ctl is not None:
            for s in sources:
                if s != ctl:
                    tables.append(detection_model(objects, m, s, control_source=ctl, **kw))
    out = pd.concat(tables, ignore_index=True)
    out["p_holm"] = np.nan
    is_sal = out["term"] == "sal_max_" + out["saliency"]
    for _, idx in out[is_sal].groupby(["control", "category_effects"], sort=False).groups.items():
        out.loc[idx, "p_holm"] = _holm(out.loc[idx, "p_val"])
    cols = _MODEL_COLUMNS[:9] + ["p_holm"] + _MODEL_COLUMNS[9:]
    return out[cols]


# ------------------------------------------------------------------ everything
def stats_tables(
    objects: pd.DataFrame,
    per_class_ap: pd.DataFrame | None = None,
    *,
    models: Sequence[str] | None = None,
    control_source: str | None = None,
    category_effects: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Every table of this module from one object table (what ``salanalysis stats`` writes).

    Parameters
    ----------
    objects
        The object table.
    per_class_ap
        ``model``, ``category_id``, ``AP`` (one block per score set); None skips the
        class-wise tables.
    models
        Score sets to analyse (default every ``detected_NAME``).
    control_source
        Centre-prior saliency source used as a control (see module docstring).
    category_effects
        Also fit the detection models with category fixed effects.
    n_boot, seed
        Cluster bootstrap of :func:`tpfn_tests`.

    Returns
    -------
    dict
        ``tpfn_descriptives``, ``tpfn_tests``, ``detection_models`` and, with
        ``per_class_ap``, ``classwise`` and ``classwise_correlations``.
    """
    models = _resolve_models(objects, models)
    if control_source is not None:
        _require(objects, [_sal_column(control_source)])
    out = {
        "tpfn_descriptives": tpfn_descriptives(objects, models),
        "tpfn_tests": tpfn_tests(objects, models, n_boot=n_boot, seed=seed),
    }
    if per_class_ap is not None:
        ap = per_class_ap
        if "model" in ap.columns:
            ap = ap[ap["model"].isin(models)]
        cw = classwise_table(objects, ap)
        out["classwise"] = cw
        out["classwise_correlations"] = classwise_correlations(cw, control_source=control_source)
    dm = [detection_models(objects, models, control_source=control_source)]
    if category_effects:
        dm.append(
            detection_models(objects, models, control_source=control_source, category_effects=True)
        )
    out["detection_models"] = pd.concat(dm, ignore_index=True)
    return out


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p=n/a"
    return "p<1e-4" if p < 1e-4 else f"p={p:.4f}"


def format_summary(tables: dict[str, pd.DataFrame]) -> str:
    """A short plain-text summary of :func:`stats_tables` output (for the command line)."""
    lines = []
    tests = tables.get("tpfn_tests")
    if tests is not None and len(tests):
        lines.append("detected - missed (Student t as the paper; image-clustered t beside it):")
        for (model, var), sub in tests.groupby(["model", "variable"], sort=False):
            st = sub[sub["test"] == "student_t"].iloc[0]
            cl = sub[sub["test"] == "cluster_ols"]
            d = sub[sub["test"] == "cohen_d"].iloc[0]
            text = (
                f"  {model:<12} {var:<18} t={st['statistic']:.3f} {_fmt_p(st['p_holm'])} (Holm) "
                f"d={d['effect']:.3f} n={st['n_detected']}/{st['n_missed']}"
            )
            if len(cl):
                text += f"  clustered t={cl['statistic'].iloc[0]:.3f} {_fmt_p(cl['p_val'].iloc[0])}"
            if st["n_excluded_nan"]:
                text += f"  [{st['n_excluded_nan']} excluded: NaN]"
            lines.append(text)
    corr = tables.get("classwise_correlations")
    if corr is not None and len(corr):
        lines.append(
            "class means vs AP (Pearson as the paper; partial: controlling the covariates):"
        )
        for _, r in corr[corr["method"] != "spearman"].iterrows():
            model = f"{r['model']:<12} " if "model" in corr.columns else ""
            cov = f" | {r['covariates']}" if r["covariates"] else ""
            lines.append(
                f"  {model}{r['variable']:<18} {r['method']:<8} r={r['r']:.3f} "
                f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] {_fmt_p(r['p_val'])} n={r['n']}{cov}"
            )
    dm = tables.get("detection_models")
    if dm is not None and len(dm):
        sal = dm[(dm["saliency"] != "") & (dm["term"] == "sal_max_" + dm["saliency"])]
        if len(sal):
            lines.append(
                "saliency odds ratio per SD, controlling log size and centre distance "
                "(image-clustered 95% CI):"
            )
            for _, r in sal.iterrows():
                ctl = f" + {r['control']}" if r["control"] else ""
                fe = " + category" if r["category_effects"] else ""
                note = f"  ({r['note']})" if r["note"] else ""
                lines.append(
                    f"  {r['model']:<12} {r['saliency']:<12}{ctl}{fe}: OR={r['odds_ratio_per_sd']:.3f} "
                    f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] {_fmt_p(r['p_val'])} "
                    f"n={r['n_obs']}{note}"
                )
    return "\n".join(lines)


# ---------------------------------------------------------------- file level
#: File written under ``out`` for each table of :func:`stats_tables`.
OUTPUT_FILES: dict[str, str] = {
    "tpfn_descriptives": "tpfn_descriptives.csv",
    "tpfn_tests": "tpfn_tests.csv",
    "classwise": "classwise.csv",
    "classwise_correlations": "classwise_correlations.csv",
    "detection_models": "detection_models.csv",
}


def per_class_ap(annotations: Annotations, score_sets: Sequence[Scores]) -> pd.DataFrame:
    """Per-class AP of each score set (:func:`salanalysis.metrics.evaluate`), stacked.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``category_id``, ``category``, ``n_pos``, ``AP`` (NaN for a class
        without positive images).
    """
    from salanalysis.metrics import evaluate

    blocks = []
    for sc in score_sets:
        _, pc = evaluate(annotations, sc)
        pc = pc[["category_id", "category", "n_pos", "AP"]].copy()
        pc.insert(0, "model", sc.name)
        blocks.append(pc)
    if not blocks:
        return pd.DataFrame(columns=["model", "category_id", "category", "n_pos", "AP"])
    return pd.concat(blocks, ignore_index=True)


def run_stats(
    objects: str | os.PathLike,
    annotations: str | os.PathLike,
    scores: Mapping[str, str | os.PathLike] | Sequence[tuple[str, str | os.PathLike]],
    *,
    out: str | os.PathLike | None = None,
    control_source: str | None = None,
    category_effects: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
) -> dict[str, pd.DataFrame]:
    """Read the inputs, compute :func:`stats_tables`, write each table as CSV under ``out``.

    Parameters
    ----------
    objects
        The object table (CSV or Parquet from ``salanalysis objects``); it must hold
        ``detected_NAME`` for every score set NAME.
    annotations
        The COCO instances JSON the object table was built from.
    scores
        ``NAME -> score file``: the score sets whose per-class AP enters the class-wise
        tables (read with :func:`salanalysis.scores.read_scores`).
    out
        Output folder (created); None computes without writing. Every table is computed
        before the first file is written, and each file is written atomically.
    control_source, category_effects, n_boot, seed
        See :func:`stats_tables`.
    logits, missing
        Passed to :func:`salanalysis.scores.read_scores`.

    Returns
    -------
    dict
        The tables of :func:`stats_tables`.

    Raises
    ------
    InputError
        A file cannot be read, the object table lacks a needed column, or it names
        images the annotations do not hold.
    """
    from salanalysis.coco import Annotations
    from salanalysis.io import read_table, write_table
    from salanalysis.scores import read_score_sets

    pairs = list(scores.items()) if isinstance(scores, Mapping) else list(scores)
    if not pairs:
        raise InputError("at least one score set (--scores NAME=FILE) is needed for class AP")
    table = read_table(objects)
    need = ["image_id", "category_id", "area_frac", "center_dist"]
    need += [f"detected_{name}" for name, _ in pairs]
    if control_source is not None:
        need.append(_sal_column(control_source))
    missing_cols = [c for c in need if c not in table.columns]
    if missing_cols:
        raise InputError(
            f"object table lacks column(s) {', '.join(missing_cols)} "
            "(build it with salanalysis objects and the same --scores / --saliency names)",
            objects,
        )
    ann = Annotations.load(annotations)
    unknown = np.setdiff1d(
        pd.to_numeric(table["image_id"], errors="coerce").to_numpy(), ann.image_ids
    )
    if len(unknown):
        raise InputError(
            f"object table names {len(unknown)} image(s) not in {os.fspath(annotations)}, e.g. {unknown[0]}",
            objects,
        )
    sets = read_score_sets(pairs, ann, logits=logits, missing=missing)
    ap = per_class_ap(ann, sets)
    try:
        tables = stats_tables(
            table,
            ap[["model", "category_id", "AP"]],
            models=[name for name, _ in pairs],
            control_source=control_source,
            category_effects=category_effects,
            n_boot=n_boot,
            seed=seed,
        )
    except InputError as exc:
        raise InputError(str(exc), objects) from exc
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise InputError("--out must be a folder", out)
        for key, df in tables.items():
            write_table(df, out / OUTPUT_FILES[key])
    return tables
