"""Per-category AP of two models, with paired bootstrap intervals (Fig. 4 of the paper).

Sec. 5.4 plots, per category, ``AP(dual-stream) - AP(baseline)`` sorted by the
improvement, and relates the gains to the categories' mean object size ("hair
drier ... ranked at the 34th largest category"). :func:`compare_categories`
gives that table with an uncertainty for every difference, and
:func:`compare_summary` counts the categories improved, worsened and within
noise, and correlates the difference with the mean size.

Conventions
-----------
- ``delta = AP_B - AP_A``: ``A`` is the reference (the paper's baseline), ``B``
  the model being assessed; a positive delta means ``B`` is better.
- The 95% interval and the p-value come from
  :func:`salanalysis.metrics.paired_bootstrap` (both score sets on the same
  image resamples): the BCa interval of ``AP_B* - AP_A*`` over the resamples in
  which the class keeps a positive image (``ci_method`` names a fallback), and its two-sided
  bootstrap p-value (``min(1, 2 min(1 + #{d <= 0}, 1 + #{d >= 0}) / (B + 1))``).
  ``metrics.paired_bootstrap`` reports ``A - B``; it is called with the two
  score sets swapped so that every column here reads ``B - A``.
- A category with very few positive images gets an interval conditioned on
  the resamples that keep one (``n_boot_valid`` of ``n_boot``; about 63% with a
  single positive); with one or two positives the interval says little, and
  ``n_pos`` is in the table to show it.
- ``verdict``: ``"improved"`` when the interval lies above 0, ``"worsened"``
  when it lies below 0, otherwise ``"within noise"``; ``"not tested"`` without a
  bootstrap (``n_boot=0``: no intervals, no p-values).
- Categories without any positive image have no AP; they are left out of the
  table, and counted (with their names) in ``table.attrs``.
- Size: the mean ``area_frac`` (object area / image area) over the category's
  non-crowd objects, from the object table (:func:`salanalysis.objects.object_table`,
  or a table you pass). ``area_rank`` 1 is the largest mean size, as in the
  paper's "34th largest"; ties share the smallest rank. Ranks are over every
  category with at least one object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis import metrics
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.formatting import format_fixed, format_interval
from salanalysis.limits import check_count
from salanalysis.metrics import DEFAULT_RULES, MetricRules
from salanalysis.results import AnalysisResult, table_property
from salanalysis.scores import Scores

__all__ = ["category_sizes", "compare_categories", "compare_summary", "CompareResult", "run_compare"]


def category_sizes(annotations: Annotations, objects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean object size of every category and its rank (1 = largest).

    Parameters
    ----------
    annotations
        The ground truth (gives the categories).
    objects
        An object table with ``category_id`` and ``area_frac`` (one row per
        non-crowd object), e.g. :func:`salanalysis.objects.object_table`;
        computed from ``annotations`` when None.

    Returns
    -------
    pandas.DataFrame
        One row per category of ``annotations``, in category-id order:

        - ``category_id``, ``category``
        - ``n_objects``: objects of the category in ``objects``
        - ``area_frac_mean``: their mean ``area_frac`` (NaN without objects)
        - ``area_rank``: rank of ``area_frac_mean``, 1 = largest (nullable Int64;
          NA without objects)
    """
    if objects is None:
        from salanalysis.objects import object_table

        objects = object_table(annotations)
    where = objects.attrs.get("path") if hasattr(objects, "attrs") else None
    missing = [c for c in ("category_id", "area_frac") if c not in objects.columns]
    if missing:
        raise InputError(f"object table lacks column(s) {', '.join(missing)}", where)
    cid = pd.to_numeric(objects["category_id"], errors="coerce")
    known = set(int(c) for c in annotations.category_ids)
    bad = objects["category_id"][cid.isna() | ~cid.isin(list(known))]
    if len(bad):
        raise InputError(
            f"object table has category id {bad.iloc[0]} not in the annotations ({len(bad)} rows)", where
        )
    area = pd.to_numeric(objects["area_frac"], errors="coerce")
    if area.isna().any() or not np.isfinite(area.to_numpy(dtype=np.float64)).all():
        raise InputError("object table has missing or non-numeric area_frac values", where)
    grouped = pd.DataFrame({"category_id": cid.astype(np.int64), "area_frac": area.astype(np.float64)})
    agg = grouped.groupby("category_id")["area_frac"].agg(["size", "mean"])
    out = pd.DataFrame(
        {
            "category_id": annotations.category_ids,
            "category": pd.Series(annotations.category_names, dtype=object),
        }
    )
    out["n_objects"] = agg["size"].reindex(out["category_id"]).fillna(0).astype(np.int64).to_numpy()
    out["area_frac_mean"] = agg["mean"].reindex(out["category_id"]).to_numpy(dtype=np.float64)
    rank = out["area_frac_mean"].rank(ascending=False, method="min")
    out["area_rank"] = rank.astype("Int64")
    return out


def compare_categories(
    annotations: Annotations,
    a: Scores,
    b: Scores,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    objects: pd.DataFrame | None = None,
    rules: MetricRules = DEFAULT_RULES,
) -> pd.DataFrame:
    """AP per category of two score sets, their difference and its paired 95% interval (Fig. 4).

    Parameters
    ----------
    annotations
        The ground truth.
    a, b
        The reference (``A``) and the assessed (``B``) score sets, aligned with
        ``annotations``.
    n_boot
        Paired bootstrap resamples of the images (0: deltas only, verdict "not tested").
    seed
        Seed of the resampling (the same seed gives the same table).
    objects
        Object table for the category sizes (see :func:`category_sizes`).
    rules
        ``rules.include_crowd``: whether crowd annotations make an image positive
        for their class; ``rules.empty_classes``: the mAP rule of the ``mAP`` row;
        ``rules.federated``: LVIS's federated evaluation of each class's AP
        (:func:`salanalysis.metrics.evaluation_mask`).

    Returns
    -------
    pandas.DataFrame
        One row per category with at least one positive image, sorted by
        ``delta`` descending (ties by category id):

        - ``category_id``, ``category``
        - ``n_pos``: positive images
        - ``AP_A``, ``AP_B``: average precision (Eq. 7) of each score set (0..1)
        - ``delta``: ``AP_B - AP_A``
        - ``ci95_low``, ``ci95_high``: paired BCa bootstrap 95% interval of ``delta``
        - ``p_val``: two-sided bootstrap p-value of ``delta != 0``
        - ``ci_method``: ``BCa`` or the fallback used (:data:`salanalysis._bootstrap.CI_METHODS`)
        - ``n_boot_valid``: resamples that kept a positive image of the category
          (the interval and p-value use only those)
        - ``area_frac_mean``: mean object area / image area of the category
        - ``area_rank``: its rank, 1 = largest
        - ``verdict``: ``"improved"``, ``"worsened"`` or ``"within noise"``

        ``attrs``: ``model_a``, ``model_b``, ``n_boot``, ``seed``,
        ``n_categories_excluded`` and ``categories_excluded`` (no positive image),
        and ``mAP`` (a dict: ``mAP_A``, ``mAP_B``, ``delta``, ``ci95_low``,
        ``ci95_high``, ``p_val`` for the mean over the kept categories).
    """
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    check_count("bootstrap", int(n_boot), "n_boot")
    if a.name == b.name:
        raise InputError(f"the two score sets have the same name '{a.name}'")
    sa = a.aligned(annotations.image_ids, annotations.category_ids)
    sb = b.aligned(annotations.image_ids, annotations.category_ids)
    sizes = category_sizes(annotations, objects)
    image_ids, labels = metrics.ground_truth(annotations, rules.replace(include_empty=True))
    if not np.array_equal(np.asarray(image_ids), annotations.image_ids):
        raise RuntimeError("metrics.ground_truth rows do not follow annotations.images")
    labels = np.asarray(labels, dtype=bool)
    mask = metrics.evaluation_mask(annotations, rules.replace(include_empty=True))  # LVIS: verified images
    # paired_bootstrap reports its first argument minus its second: pass B first
    pb = metrics.paired_bootstrap(
        labels, sb, sa, rules, n_boot=int(n_boot), seed=seed,
        categories=annotations.category_names, category_ids=annotations.category_ids, mask=mask,
    )
    per_class = pb[pb["category_id"] != -1].set_index("category_id")
    map_row = pb[pb["category_id"] == -1].iloc[0]
    n_pos = labels.sum(axis=0).astype(np.int64)
    keep = n_pos > 0
    excluded = [str(c) for c in sizes.loc[~keep, "category"]]
    table = sizes.loc[keep, ["category_id", "category"]].reset_index(drop=True)
    ids = table["category_id"].to_numpy()
    table["n_pos"] = n_pos[keep]
    table["AP_A"] = per_class.loc[ids, "AP_B"].to_numpy(dtype=np.float64)  # swapped: see above
    table["AP_B"] = per_class.loc[ids, "AP_A"].to_numpy(dtype=np.float64)
    table["delta"] = table["AP_B"] - table["AP_A"]
    table["ci95_low"] = per_class.loc[ids, "ci95_low"].to_numpy(dtype=np.float64)
    table["ci95_high"] = per_class.loc[ids, "ci95_high"].to_numpy(dtype=np.float64)
    table["p_val"] = per_class.loc[ids, "p_val"].to_numpy(dtype=np.float64)
    table["ci_method"] = per_class.loc[ids, "ci_method"].astype(object).to_numpy()
    table["n_boot_valid"] = per_class.loc[ids, "n_boot_valid"].to_numpy().astype(np.int64)
    table["area_frac_mean"] = sizes.loc[keep, "area_frac_mean"].to_numpy()
    table["area_rank"] = sizes.loc[keep, "area_rank"].to_numpy()
    verdict = np.where(
        table["ci95_low"] > 0, "improved", np.where(table["ci95_high"] < 0, "worsened", "within noise")
    )
    if n_boot == 0:
        verdict = np.full(len(table), "not tested")
    table["verdict"] = pd.Series(verdict, dtype=object)
    table = table.sort_values(["delta", "category_id"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True)
    table.attrs.update(
        {
            "model_a": a.name,
            "model_b": b.name,
            "n_boot": int(n_boot),
            "seed": int(seed),
            "federated": "on" if mask is not None else "off",
            "n_categories_excluded": len(excluded),
            "categories_excluded": excluded,
            "mAP": {
                "mAP_A": float(map_row["AP_B"]),
                "mAP_B": float(map_row["AP_A"]),
                "delta": float(map_row["delta"]),
                "ci95_low": float(map_row["ci95_low"]),
                "ci95_high": float(map_row["ci95_high"]),
                "p_val": float(map_row["p_val"]),
                "ci_method": str(map_row["ci_method"]),
            },
        }
    )
    return table


def compare_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Counts and the size correlation of a :func:`compare_categories` table.

    Parameters
    ----------
    table
        The output of :func:`compare_categories` (also read back from CSV:
        the ``mAP`` row then needs the table's ``attrs`` and is left out).

    Returns
    -------
    pandas.DataFrame
        One row per quantity, columns:

        - ``quantity``: ``n_categories``, ``improved``, ``worsened``,
          ``within_noise``, ``delta_positive`` (point estimate above 0, as the
          paper's "70 of 80"), ``delta_negative``, ``excluded_no_positive``,
          ``delta_mAP`` (when ``attrs`` hold it), ``pearson_delta_area``,
          ``spearman_delta_area``
        - ``value``: the count, the mAP difference, or the correlation ``r``
        - ``n``: categories the quantity is computed over
        - ``ci95_low``, ``ci95_high``: bootstrap interval (``delta_mAP``) or the
          Fisher-z interval of Pearson's r (scipy); NaN otherwise
        - ``p_val``: bootstrap p-value (``delta_mAP``) or the correlation's
          two-sided p-value (scipy ``pearsonr`` / ``spearmanr``)
        - ``meaning``: one line in words
    """
    need = ["delta", "ci95_low", "ci95_high", "verdict", "area_frac_mean"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"comparison table lacks column(s) {', '.join(missing)}")
    n = len(table)
    verdict = table["verdict"].astype(str)
    rows: list[dict] = []

    def add(quantity, value, n_, meaning, lo=np.nan, hi=np.nan, p=np.nan):
        rows.append({"quantity": quantity, "value": float(value), "n": int(n_), "ci95_low": float(lo),
                     "ci95_high": float(hi), "p_val": float(p), "meaning": meaning})

    delta = pd.to_numeric(table["delta"], errors="coerce").to_numpy(dtype=np.float64)
    add("n_categories", n, n, "categories compared (at least one positive image)")
    add("improved", (verdict == "improved").sum(), n, "categories whose 95% CI of delta lies above 0")
    add("worsened", (verdict == "worsened").sum(), n, "categories whose 95% CI of delta lies below 0")
    add("within_noise", (verdict == "within noise").sum(), n, "categories whose 95% CI of delta contains 0")
    add("delta_positive", (delta > 0).sum(), n, "categories with AP_B > AP_A (point estimate)")
    add("delta_negative", (delta < 0).sum(), n, "categories with AP_B < AP_A (point estimate)")
    n_ex = int(table.attrs.get("n_categories_excluded", 0))
    add("excluded_no_positive", n_ex, n + n_ex, "categories without a positive image (no AP, not compared)")
    m = table.attrs.get("mAP")
    if m:
        add("delta_mAP", m["delta"], n, "mAP_B - mAP_A over the compared categories (paired bootstrap CI)",
            m["ci95_low"], m["ci95_high"], m["p_val"])
    size = pd.to_numeric(table["area_frac_mean"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(size) & np.isfinite(delta)
    n_ok = int(ok.sum())
    x, y = size[ok], delta[ok]
    usable = n_ok >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
    claim = "negative r: categories of smaller objects gain more (the paper's claim)"
    if usable:
        pr = sps.pearsonr(x, y)
        ci = pr.confidence_interval(0.95)
        add("pearson_delta_area", pr.statistic, n_ok, f"Pearson r of delta vs mean area_frac; {claim}",
            ci.low, ci.high, pr.pvalue)
        sr = sps.spearmanr(x, y)
        add("spearman_delta_area", sr.statistic, n_ok, f"Spearman rho of delta vs mean area_frac; {claim}",
            p=sr.pvalue)
    else:
        why = "undefined: fewer than 3 categories with a size, or no variation"
        add("pearson_delta_area", np.nan, n_ok, f"Pearson r of delta vs mean area_frac {why}")
        add("spearman_delta_area", np.nan, n_ok, f"Spearman rho of delta vs mean area_frac {why}")
    out = pd.DataFrame(rows)
    out["quantity"] = out["quantity"].astype(object)
    out["meaning"] = out["meaning"].astype(object)
    return out


# ------------------------------------------------------------ file-level run
@dataclass
class CompareResult(AnalysisResult):
    """What :func:`run_compare` computed: ``tables`` ``compare_categories``
    (:func:`compare_categories`) and ``compare_summary`` (:func:`compare_summary`);
    ``paths``: the files written. ``table`` and ``summary_table`` name the two tables.
    """

    FILES: ClassVar[dict[str, str]] = {"compare_categories": "compare_categories.csv",
                                       "compare_summary": "compare_summary.csv"}

    table = table_property("compare_categories")
    summary_table = table_property("compare_summary")

    def summary(self) -> str:
        """A short plain-text summary (what the command line prints)."""
        t, s = self.table, self.summary_table.set_index("quantity")
        a, b = t.attrs.get("model_a", "A"), t.attrs.get("model_b", "B")

        def val(q: str) -> float:
            return float(s.loc[q, "value"])

        lines = [
            f"{b} - {a}: {int(val('n_categories'))} categories compared "
            f"({int(val('excluded_no_positive'))} without a positive left out); "
            f"paired bootstrap {t.attrs.get('n_boot')} resamples, seed {t.attrs.get('seed')}",
            f"  improved {int(val('improved'))}, worsened {int(val('worsened'))}, "
            f"within noise {int(val('within_noise'))} (95% CI of the AP difference); "
            f"point estimate above 0 for {int(val('delta_positive'))}",
        ]
        if "delta_mAP" in s.index:
            r = s.loc["delta_mAP"]
            ci = format_interval(r["ci95_low"], r["ci95_high"], none="")
            ci = f"{ci} (BCa 95%)" if ci else "(no bootstrap, no intervals)"
            lines.append(f"  mAP difference {format_fixed(r['value'], sign=True)} {ci}")
        for q, label in (("pearson_delta_area", "Pearson r"), ("spearman_delta_area", "Spearman rho")):
            r = s.loc[q]
            lines.append(f"  {label} (delta vs mean area_frac): {r['value']:+.3f} (n={int(r['n'])}, p={r['p_val']:.3g})")
        if len(t):
            top = ", ".join(f"{c} {d:+.3f}" for c, d in zip(t["category"].head(3), t["delta"].head(3)))
            bottom = ", ".join(f"{c} {d:+.3f}" for c, d in zip(t["category"].tail(3), t["delta"].tail(3)))
            lines.append(f"  top of the ranking: {top}; bottom: {bottom}")
        if self.paths:
            lines.append("wrote " + ", ".join(str(p) for p in self.paths))
        return "\n".join(lines)


def run_compare(
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores],
    out: str | os.PathLike | None = None,
    *,
    objects: pd.DataFrame | str | os.PathLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    rules: MetricRules = DEFAULT_RULES,
    logits: bool = False,
    missing: str = "error",
) -> CompareResult:
    """Read the inputs, compare two score sets per category and write the tables to ``out``.

    Writes ``compare_categories.csv`` (:func:`compare_categories`) and
    ``compare_summary.csv`` (:func:`compare_summary`), both computed before
    either is written, each written atomically.

    Parameters
    ----------
    annotations
        An :class:`Annotations` or the path of a COCO instances JSON.
    scores
        Exactly two entries, name -> score file (or :class:`Scores`): ``A``
        (reference) first, then ``B``.
    out
        Output folder; None: nothing is written (``result.write(out)`` later).
    objects
        Object table (DataFrame, or a CSV/Parquet path) with ``category_id`` and
        ``area_frac``; computed from the annotations when None.
    n_boot, seed, rules
        As in :func:`compare_categories`.
    logits, missing
        As in :func:`salanalysis.scores.read_scores`.
    """
    from salanalysis._table_checks import check_objects_match_annotations
    from salanalysis.io import read_table
    from salanalysis.scores import read_score_sets

    if len(scores) != 2:
        raise InputError(f"compare needs exactly two score sets (A then B), got {len(scores)}")
    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    if objects is not None and not isinstance(objects, pd.DataFrame):
        path = Path(objects)
        objects = read_table(path)
        objects.attrs["path"] = str(path)
    if objects is not None:
        check_objects_match_annotations(objects, ann, objects.attrs.get("path"))
    table = compare_categories(ann, sets[0], sets[1], n_boot=n_boot, seed=seed, objects=objects, rules=rules)
    result = CompareResult({"compare_categories": table, "compare_summary": compare_summary(table)})
    if out is not None:
        result.write(out)
    return result
