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
- The decision (``verdict``) comes from a paired permutation test
  (:mod:`salanalysis.permutation`): the two models' scores are swapped within
  randomly chosen images (the same swap for every category of an image), and
  ``p_val`` is the two-sided Monte Carlo p of ``delta`` over ``n_perm`` such
  permutations, exact under "the two models are exchangeable". ``q_val`` adjusts
  ``p_val`` over the compared categories (Benjamini-Hochberg FDR by default,
  ``adjust="holm"`` for Holm's family-wise control); ``verdict`` is
  ``"improved"`` / ``"worsened"`` where ``q_val < alpha``, by the sign of
  ``delta``. One decision rule: the q-value. Under the null of two exchangeable
  models, the share of data sets with any category flagged is measured in
  ``benchmarks/calibration.py`` (section [6]; BENCHMARKS.md). The null is
  exchangeability on these images, not "equal AP in the population": a category
  with one positive image can be flagged when the two models clearly differ on
  it (the class prior, constant per class, against perturbed ground truth on the
  demo flags several such categories, with the smallest p); ``n_pos`` shows it.
- The 95% interval is descriptive, not the decision: the paired bootstrap
  (:func:`salanalysis.metrics.paired_bootstrap`, both score sets on the same
  image resamples) BCa interval of ``AP_B* - AP_A*`` over the resamples in
  which the class keeps a positive image (``ci_method`` names a fallback),
  unadjusted for multiplicity. It can exclude 0 for a category that the
  adjusted test does not flag (and, rarely, the reverse). ``metrics.paired_bootstrap``
  reports ``A - B``; it is called with the two score sets swapped so that
  every column here reads ``B - A``.
- The same permutations test the whole set of categories: the mean difference
  (delta mAP, ``attrs["mAP"]["p_val"]``) and the balance ``#{delta > 0} -
  #{delta < 0}`` (the paper's "most categories improve", ``attrs["direction"]``),
  whose permutation distribution keeps the dependence between categories that
  share images.
- A category with very few positive images gets an interval conditioned on
  the resamples that keep one (``n_boot_valid`` of ``n_boot``; about 63% with a
  single positive); with one or two positives the interval says little, and
  ``n_pos`` is in the table to show it.
- ``verdict``: ``"not tested"`` without permutations (``n_perm=0``: no p-values);
  ``n_boot=0``: no intervals (the verdict does not use them).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis import metrics
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.formatting import format_fixed, format_interval, format_p
from salanalysis.limits import check_count
from salanalysis.metrics import DEFAULT_RULES, MetricRules
from salanalysis.permutation import ADJUST_METHODS, category_decisions, paired_permutation_ap
from salanalysis.results import AnalysisResult, table_property
from salanalysis.scores import Scores

__all__ = ["category_sizes", "compare_categories", "compare_summary", "CompareResult", "run_compare", "TEST_NAME",
           "DEFAULT_N_PERM"]

#: Permutations of the paired test by default: the smallest p, 1/5000, passes Holm or BH over up to 250 categories.
DEFAULT_N_PERM = 4999

#: The per-category test, in words (``attrs["test"]``, captions, summaries).
TEST_NAME = "paired permutation test (A and B swapped within images), two-sided"


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
    n_perm: int = DEFAULT_N_PERM,
    adjust: str = "bh",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """AP per category of two score sets, their difference, its permutation test and 95% interval (Fig. 4).

    Parameters
    ----------
    annotations
        The ground truth.
    a, b
        The reference (``A``) and the assessed (``B``) score sets, aligned with
        ``annotations``.
    n_boot
        Paired bootstrap resamples of the images for the (descriptive) intervals
        (0: no intervals).
    seed
        Seed of the resampling and of the permutations (the same seed gives the same table).
    objects
        Object table for the category sizes (see :func:`category_sizes`).
    rules
        ``rules.include_crowd``: whether crowd annotations make an image positive
        for their class; ``rules.empty_classes``: the mAP rule of the ``mAP`` row;
        ``rules.federated``: LVIS's federated evaluation of each class's AP
        (:func:`salanalysis.metrics.evaluation_mask`).
    n_perm
        Within-image swaps of the paired permutation test (0: no test, verdict
        "not tested"). The smallest p is ``1 / (n_perm + 1)``: with ``m``
        categories it must be at most ``alpha / m`` for any category to pass the
        correction (``attrs["can_pass"]`` says whether it is).
    adjust
        ``"bh"`` (Benjamini-Hochberg, false discovery rate) or ``"holm"``
        (family-wise error rate), over the compared categories.
    alpha
        Level of the adjusted decision.

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
          (descriptive, unadjusted; not the decision)
        - ``p_val``: two-sided paired permutation p of ``delta != 0`` (unadjusted)
        - ``q_val``: ``p_val`` adjusted over the compared categories (``adjust``)
        - ``ci_method``: ``BCa`` or the fallback used (:data:`salanalysis._bootstrap.CI_METHODS`)
        - ``n_boot_valid``: resamples that kept a positive image of the category
          (the interval and p-value use only those)
        - ``area_frac_mean``: mean object area / image area of the category
        - ``area_rank``: its rank, 1 = largest
        - ``verdict``: ``"improved"`` / ``"worsened"`` (``q_val < alpha``, by the sign of
          ``delta``), ``"within noise"`` otherwise, ``"not tested"`` with ``n_perm=0``

        ``attrs``: ``model_a``, ``model_b``, ``n_boot``, ``seed``, ``n_perm``,
        ``test`` (the test, in words), ``p_adjust`` (``fdr_bh`` or ``holm``, statsmodels'
        names), ``alpha``, ``p_min`` (``1 / (n_perm + 1)``), ``can_pass``,
        ``n_categories_excluded`` and ``categories_excluded`` (no positive image),
        ``mAP`` (a dict: ``mAP_A``, ``mAP_B``, ``delta``, ``ci95_low``,
        ``ci95_high`` (bootstrap, descriptive), ``p_val`` (permutation) for the mean
        over the kept categories), and ``direction`` (a dict: ``n_positive``,
        ``n_negative``, ``balance`` = their difference, ``p_val``: its two-sided
        permutation p, the test of "most categories improve").
    """
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    check_count("bootstrap", int(n_boot), "n_boot")
    if adjust not in ADJUST_METHODS:
        raise ValueError(f"adjust must be one of {', '.join(ADJUST_METHODS)}, got {adjust!r}")
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
    perm = paired_permutation_ap(labels, sa, sb, n_perm=n_perm, seed=seed, mask=mask)
    dec = category_decisions(perm, adjust=adjust, alpha=alpha)
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
    table["p_val"] = dec["p_val"][keep]
    table["q_val"] = dec["q_val"][keep]
    table["ci_method"] = per_class.loc[ids, "ci_method"].astype(object).to_numpy()
    table["n_boot_valid"] = per_class.loc[ids, "n_boot_valid"].to_numpy().astype(np.int64)
    table["area_frac_mean"] = sizes.loc[keep, "area_frac_mean"].to_numpy()
    table["area_rank"] = sizes.loc[keep, "area_rank"].to_numpy()
    table["verdict"] = pd.Series(dec["verdict"][keep], dtype=object)
    table = table.sort_values(["delta", "category_id"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True)
    table.attrs.update(
        {
            "model_a": a.name,
            "model_b": b.name,
            "n_boot": int(n_boot),
            "seed": int(seed),
            "n_perm": int(n_perm),
            "test": TEST_NAME,
            "p_adjust": ADJUST_METHODS[adjust],
            "alpha": float(alpha),
            "p_min": float(dec["p_min"]),
            "can_pass": bool(dec["can_pass"]),
            "federated": "on" if mask is not None else "off",
            "n_categories_excluded": len(excluded),
            "categories_excluded": excluded,
            "mAP": {
                "mAP_A": float(map_row["AP_B"]),
                "mAP_B": float(map_row["AP_A"]),
                "delta": float(map_row["delta"]),
                "ci95_low": float(map_row["ci95_low"]),
                "ci95_high": float(map_row["ci95_high"]),
                "p_val": float(dec["p_mAP"]),
                "ci_method": str(map_row["ci_method"]),
            },
            "direction": {k: dec[k] for k in ("n_positive", "n_negative", "balance")}
            | {"p_val": float(dec["p_balance"])},
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
          ``within_noise`` (the adjusted verdicts), ``delta_positive`` (point
          estimate above 0, as the paper's "70 of 80"), ``delta_negative``,
          ``direction_balance`` (``delta_positive - delta_negative`` with its
          permutation p: the test of "most categories improve"; when ``attrs`` hold it),
          ``excluded_no_positive``, ``delta_mAP`` (when ``attrs`` hold it),
          ``pearson_delta_area``, ``spearman_delta_area``
        - ``value``: the count, the mAP difference, or the correlation ``r``
        - ``n``: categories the quantity is computed over
        - ``ci95_low``, ``ci95_high``: descriptive bootstrap interval (``delta_mAP``) or the
          Fisher-z interval of Pearson's r (scipy); NaN otherwise
        - ``p_val``: paired permutation p (``direction_balance``, ``delta_mAP``: the
          decision) or the correlation's two-sided p-value (scipy ``pearsonr`` / ``spearmanr``)
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
    rule = _rule(table.attrs)
    add("improved", (verdict == "improved").sum(), n, f"categories with delta > 0 and {rule}")
    add("worsened", (verdict == "worsened").sum(), n, f"categories with delta < 0 and {rule}")
    add("within_noise", (verdict == "within noise").sum(), n, f"categories not flagged ({rule} fails)")
    add("delta_positive", (delta > 0).sum(), n, "categories with AP_B > AP_A (point estimate)")
    add("delta_negative", (delta < 0).sum(), n, "categories with AP_B < AP_A (point estimate)")
    direction = table.attrs.get("direction")
    if direction:
        add("direction_balance", direction["balance"], n,
            "categories with AP_B > AP_A minus those with AP_B < AP_A; p: two-sided paired permutation test "
            "(swaps within images, so the categories' dependence is kept): 'most categories improve'",
            p=direction["p_val"])
    n_ex = int(table.attrs.get("n_categories_excluded", 0))
    add("excluded_no_positive", n_ex, n + n_ex, "categories without a positive image (no AP, not compared)")
    m = table.attrs.get("mAP")
    if m:
        add("delta_mAP", m["delta"], n, "mAP_B - mAP_A over the compared categories; p: paired permutation "
            "test (the decision); CI: paired bootstrap (descriptive)", m["ci95_low"], m["ci95_high"], m["p_val"])
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


def _rule(attrs: Mapping) -> str:
    """The per-category decision rule in words, from a table's ``attrs``."""
    if not attrs.get("n_perm", 1):
        return "no test (n_perm = 0)"
    adj = {"fdr_bh": "Benjamini-Hochberg", "holm": "Holm"}.get(attrs.get("p_adjust", "fdr_bh"), "adjusted")
    return f"{adj} q < {attrs.get('alpha', 0.05):g} (paired permutation test)"


# ------------------------------------------------------------ file-level run
@dataclass
class CompareResult(AnalysisResult):
    """What :func:`run_compare` computed: ``tables`` ``compare_categories``
    (:func:`compare_categories`) and ``compare_summary`` (:func:`compare_summary`);
    ``paths``: the files written. ``table`` and ``summary_table`` name the two tables.
    With three or more score sets each table stacks every comparison of the reference
    (the first) with another, after two leading columns ``model_a`` (the reference) and
    ``model_b``; its attributes are the first comparison's, with ``models`` (all of them).
    """

    FILES: ClassVar[dict[str, str]] = {"compare_categories": "compare_categories.csv",
                                       "compare_summary": "compare_summary.csv"}

    table = table_property("compare_categories")
    summary_table = table_property("compare_summary")

    def summary(self) -> str:
        """A short plain-text summary (what the command line prints)."""
        t, s = self.table, self.summary_table
        if "model_b" not in t.columns:
            lines = _pair_summary(t, s)
        else:  # a reference and several others: one block per comparison
            lines = []
            for (ma, mb), part in t.groupby(["model_a", "model_b"], sort=False):
                rows = s[(s["model_a"] == ma) & (s["model_b"] == mb)].drop(columns=["model_a", "model_b"])
                part = part.drop(columns=["model_a", "model_b"])
                part.attrs.update(t.attrs, model_a=ma, model_b=mb)
                lines += _pair_summary(part, rows)
        if self.paths:
            lines.append("wrote " + ", ".join(str(p) for p in self.paths))
        return "\n".join(lines)


def _pair_summary(t: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """The summary lines of one comparison (B against the reference A)."""
    s = summary.set_index("quantity")
    a, b = t.attrs.get("model_a", "A"), t.attrs.get("model_b", "B")

    def val(q: str) -> float:
        return float(s.loc[q, "value"])

    lines = [
        f"{b} - {a}: {int(val('n_categories'))} categories compared "
        f"({int(val('excluded_no_positive'))} without a positive left out); "
        f"{t.attrs.get('n_perm')} permutations, paired bootstrap {t.attrs.get('n_boot')} resamples, "
        f"seed {t.attrs.get('seed')}",
        f"  improved {int(val('improved'))}, worsened {int(val('worsened'))}, "
        f"within noise {int(val('within_noise'))} ({_rule(t.attrs)}); "
        f"point estimate above 0 for {int(val('delta_positive'))}, below 0 for {int(val('delta_negative'))}",
    ]
    if not t.attrs.get("can_pass", True):
        lines.append(f"  note: the smallest permutation p ({t.attrs['p_min']:.2g}) cannot pass the correction "
                     f"over {len(t)} categories; raise the number of permutations")
    if "direction_balance" in s.index:
        r = s.loc["direction_balance"]
        lines.append(f"  most categories improve? balance {int(r['value']):+d} "
                     f"(permutation {format_p(r['p_val'])})")
    if "delta_mAP" in s.index:
        r = s.loc["delta_mAP"]
        ci = format_interval(r["ci95_low"], r["ci95_high"], none="")
        ci = f"(percentile bootstrap 95% CI {ci}, descriptive)" if ci else "(no bootstrap, no intervals)"
        lines.append(f"  mAP difference {format_fixed(r['value'], sign=True)} "
                     f"(permutation {format_p(r['p_val'])}) {ci}")
    for q, label in (("pearson_delta_area", "Pearson r"), ("spearman_delta_area", "Spearman rho")):
        r = s.loc[q]
        lines.append(f"  {label} (delta vs mean area_frac): {r['value']:+.3f} (n={int(r['n'])}, p={r['p_val']:.3g})")
    if len(t):
        top = ", ".join(f"{c} {d:+.3f}" for c, d in zip(t["category"].head(3), t["delta"].head(3)))
        bottom = ", ".join(f"{c} {d:+.3f}" for c, d in zip(t["category"].tail(3), t["delta"].tail(3)))
        lines.append(f"  top of the ranking: {top}; bottom: {bottom}")
    return lines


def _stacked(parts: list[pd.DataFrame], models: list[str]) -> pd.DataFrame:
    """Tables of the comparisons of ``models[0]`` with each other model, stacked after ``model_a``/``model_b``."""
    out = pd.concat([p.assign(model_a=models[0], model_b=b) for p, b in zip(parts, models[1:])], ignore_index=True)
    out = out[["model_a", "model_b", *parts[0].columns]]
    for k in ("model_a", "model_b"):
        out[k] = out[k].astype("string")
    out.attrs.update(parts[0].attrs, models=list(models))
    return out


def run_compare(
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores | pd.DataFrame]
    | Sequence[tuple[str, str | os.PathLike | pd.DataFrame] | Scores],
    out: str | os.PathLike | None = None,
    *,
    objects: pd.DataFrame | str | os.PathLike | None = None,
    rules: MetricRules = DEFAULT_RULES,
    n_boot: int = 1000,
    seed: int = 0,
    jobs: int = 0,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    n_perm: int = DEFAULT_N_PERM,
    adjust: str = "bh",
) -> CompareResult:
    """Read the inputs, compare score sets per category and write the tables to ``out``.

    Writes ``compare_categories.csv`` (:func:`compare_categories`) and
    ``compare_summary.csv`` (:func:`compare_summary`), both computed before
    either is written, each written atomically.

    Parameters
    ----------
    annotations
        An :class:`Annotations` or the path of a COCO instances JSON.
    scores
        Two or more entries, name -> score file, :class:`Scores` or wide DataFrame
        (or a sequence of ``(name, file)`` pairs and ``Scores``): the reference ``A``
        first, then ``B`` (the default, two-model case), or several others, each
        compared with the reference (as TIDE gathers several runs): the tables then
        stack the comparisons after ``model_a``/``model_b`` columns (:class:`CompareResult`).
    out
        Output folder; None: nothing is written (``result.write(out)`` later).
    objects
        Object table (DataFrame, or a CSV/Parquet path) with ``category_id`` and
        ``area_frac``; computed from the annotations when None.
    n_boot, seed, rules, n_perm, adjust
        As in :func:`compare_categories`; ``rules.image_ids``/``rules.category_ids``
        restrict the comparison to part of the dataset.
    jobs
        Bootstrap worker threads (0, default: all cores); results do not depend on it.
    logits, missing
        As in :func:`salanalysis.scores.read_scores`.
    """
    from salanalysis._bootstrap import bootstrap_jobs
    from salanalysis._table_checks import check_objects_match_annotations
    from salanalysis.io import read_table
    from salanalysis.scores import read_score_sets
    from salanalysis.subsets import analysis_annotations

    if len(scores) < 2:
        raise InputError(f"compare needs two or more score sets (the reference A first), got {len(scores)}")
    ann = analysis_annotations(annotations, rules)
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    table_objects: pd.DataFrame | None = None
    if isinstance(objects, pd.DataFrame):
        table_objects = objects
    elif objects is not None:
        path = Path(objects)
        table_objects = read_table(path)
        table_objects.attrs["path"] = str(path)
    if table_objects is not None:
        check_objects_match_annotations(table_objects, getattr(ann, "subset_of", None) or ann,
                                        table_objects.attrs.get("path"))
    if table_objects is not None and getattr(ann, "subset_of", None) is not None:  # the analysed part only
        keep = table_objects["image_id"].isin(ann.image_ids) & table_objects["category_id"].isin(ann.category_ids)
        attrs = dict(table_objects.attrs)
        table_objects = table_objects[keep.to_numpy()]
        table_objects.attrs.update(attrs)
    pairs = []
    with bootstrap_jobs(jobs):
        for other in sets[1:]:
            table = compare_categories(ann, sets[0], other, n_boot=n_boot, seed=seed, objects=table_objects,
                                       rules=rules, n_perm=n_perm, adjust=adjust)
            pairs.append((table, compare_summary(table)))
    if len(pairs) == 1:
        table, summary = pairs[0]
    else:
        table, summary = (_stacked([p[k] for p in pairs], [s.name for s in sets]) for k in (0, 1))
    result = CompareResult({"compare_categories": table, "compare_summary": summary})
    if out is not None:
        result.write(out)
    return result
