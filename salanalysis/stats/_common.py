"""Helpers shared by the statistics modules: column resolution, numeric columns, outcomes, Holm."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis.errors import InputError
from salanalysis.errors import require_columns as _require

__all__ = ["UNITS", "score_sets", "saliency_sources", "default_variables", "unit_rows", "default_units"]

Z975 = float(sps.norm.ppf(0.975))

_BASE_VARIABLES = ("area_frac", "area_px", "center_dist")


def score_sets(objects: pd.DataFrame) -> list[str]:
    """Names NAME of the score sets in the table (its ``detected_NAME`` columns)."""
    return [c[len("detected_") :] for c in objects.columns if str(c).startswith("detected_")]


def saliency_sources(objects: pd.DataFrame) -> list[str]:
    """Names NAME of the saliency sources in the table (its ``sal_max_NAME`` columns)."""
    return [c[len("sal_max_") :] for c in objects.columns if str(c).startswith("sal_max_")]


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



#: The units of the detected-vs-missed analysis. "Detected" is an outcome of an (image,
#: class): every instance of a class in an image shares it, so the paper's object-level
#: test counts one outcome many times.
UNITS: dict[str, str] = {
    "object": "every object, as the paper (instances of a class in one image share one outcome)",
    "single_instance": "only objects alone of their class in their image (one object per outcome)",
    "image_class": "one row per (image, class) outcome: the largest instance's size and center distance, "
                   "the most salient instance's saliency",
}


def default_units(objects: pd.DataFrame) -> list[str]:
    """Every unit when the table has ``image_id`` and ``category_id``, else the objects alone."""
    return list(UNITS) if {"image_id", "category_id"} <= set(objects.columns) else ["object"]


def unit_rows(objects: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The rows of one analysis unit (:data:`UNITS`) of an object table.

    ``image_class``: per (image, category), the row of the largest instance (by
    ``area_frac``; ties by table order) with each ``sal_max_NAME`` replaced by the
    largest value among the instances (the most salient instance); the outcome and
    scores are the largest instance's, which in a table of ``salanalysis objects`` are
    the (image, class)'s own, shared by all its instances.
    """
    if unit not in UNITS:
        raise InputError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if unit == "object":
        return objects
    key = ["image_id", "category_id"]
    _require(objects, key + (["area_frac"] if unit == "image_class" else []))
    size = objects.groupby(key, sort=False)[key[0]].transform("size")
    if unit == "single_instance":
        return objects[size.to_numpy() == 1]
    area = _numeric(objects, "area_frac")
    order = np.lexsort((np.arange(len(objects)), -np.nan_to_num(area, nan=-np.inf)))
    ranked = objects.iloc[order]
    rep = ranked[~ranked.duplicated(key, keep="first")].copy()
    sal = [c for c in objects.columns if str(c).startswith("sal_max_")]
    if sal:
        numeric = pd.DataFrame({c: _numeric(objects, c) for c in sal})
        numeric[key] = objects[key].to_numpy()
        most = numeric.groupby(key, sort=False)[sal].max()
        idx = pd.MultiIndex.from_frame(rep[key])
        for c in sal:
            rep[c] = most[c].reindex(idx).to_numpy()
    return rep.sort_index()
