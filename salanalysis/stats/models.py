"""Logistic models of detection on size, center distance and saliency, with image-clustered SEs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns as _require
from salanalysis.stats._common import (
    Z975,
    _holm,
    _numeric,
    _outcome,
    _resolve_models,
    _sal_column,
    saliency_sources,
)

__all__ = ["detection_model", "detection_models"]

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
    """Logistic regression of detection on size, center distance and saliency, image-clustered.

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
        A center-prior saliency source added as a control (ignored when equal to
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
                or_lo, or_hi = np.exp(coef - Z975 * se), np.exp(coef + Z975 * se)
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
            row.update(dict.fromkeys(("coef", "se", "z", "p_val", "odds_ratio_per_sd", "ci95_low", "ci95_high"),
                                     np.nan))
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
    source with the center prior as a control. Columns as in
    :func:`detection_model`, plus ``p_holm``: Holm over the saliency terms of one
    score set's rows with the same (control, category_effects) specification; the
    ``control_source``'s own term is outside the family (``p_holm`` NaN, ``p_val``
    unadjusted).
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
    # the family of a claim: one model's human saliency sources (the control source is not a claim)
    is_sal = (out["term"] == "sal_max_" + out["saliency"]) & (out["saliency"] != (ctl or ""))
    for _, idx in out[is_sal].groupby(["model", "control", "category_effects"], sort=False).groups.items():
        out.loc[idx, "p_holm"] = _holm(out.loc[idx, "p_val"])
    cols = _MODEL_COLUMNS[:9] + ["p_holm"] + _MODEL_COLUMNS[9:]
    return out[cols]

