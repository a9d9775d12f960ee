"""Metrics of score sets against COCO annotations: :func:`evaluate` and Table 1 (:func:`table1`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics.ap import (
    average_precision,
    average_precision_and_auc,
    evaluation_mask,
    ground_truth,
)
from salanalysis.metrics.bootstrap import bootstrap_metrics
from salanalysis.metrics.rules import DEFAULT_RULES, METRICS, MetricRules
from salanalysis.metrics.threshold import per_class_metrics, summary_metrics
from salanalysis.scores import Scores

__all__ = ["PUBLISHED_TABLE1", "PUBLISHED_SOURCE", "published_inconsistencies", "aligned_labels", "evaluate",
           "table1", "excluded_classes"]

PUBLISHED_SOURCE = "published in Luo et al. 2019, Table 1"
_NA = math.nan
#: The paper's Table 1 (percent, as printed; NaN where the paper prints '-').
PUBLISHED_TABLE1 = pd.DataFrame(
    [
        ("VGG MCE [13]", _NA, _NA, _NA, _NA, _NA, _NA, 70.2),
        ("Weak sup [18]", _NA, _NA, _NA, _NA, _NA, _NA, 62.8),
        ("CNN-RNN [26]", 66.0, 55.6, 60.4, 69.2, 66.4, 67.8, _NA),
        ("RGNN [33]", _NA, _NA, _NA, _NA, _NA, _NA, 73.0),
        ("WELDON [2]", _NA, _NA, _NA, _NA, _NA, _NA, 68.8),
        ("Multi-CNN [32]", 54.8, 51.4, 53.1, 56.7, 58.6, 57.6, 60.4),
        ("CNN+LSTM [32]", 62.1, 51.2, 56.1, 68.1, 56.6, 61.8, 61.8),
        ("MCG-CNN+LSTM [32]", 64.2, 53.1, 58.1, 61.3, 59.3, 61.3, 64.4),
        ("RLSD [32]", 67.6, 57.2, 62.0, 70.1, 63.4, 66.5, 68.2),
        ("Pairwise ranking [12]", 73.5, 56.4, _NA, 76.3, 61.8, _NA, _NA),
        ("MIML-FCN [31]", _NA, _NA, _NA, _NA, _NA, _NA, 66.2),
        ("RDAR [27]", 79.1, 58.7, 67.4, 84.0, 63.0, 72.0, 72.2),
        ("RSN-50 Baseline", 64.6, 77.9, 57.9, 70.8, 80.5, 63.2, 71.5),
        ("RSN-50 Dual-stream Baseline", 66.7, 75.4, 61.3, 71.9, 79.4, 65.8, 72.1),
        ("RSN-50 Dual-stream", 66.7, 78.4, 60.3, 72.1, 80.6, 65.2, 72.5),
    ],
    columns=["model", *METRICS],
)



def published_inconsistencies(tolerance: float = 0.15) -> dict[str, str]:
    """Published rows whose printed F1 is not the harmonic mean (Eq. 6) of their printed P and R.

    The printed values carry one decimal, so P and R are known to +-0.05 and their
    harmonic mean to about +-0.05; a printed F1 further than ``tolerance`` (percentage
    points) from it cannot come from Eq. 6. Returns ``{model: note}``, e.g. the paper's
    own RSN-50 rows: O-F1 63.2 where O-P 70.8 and O-R 80.5 give 75.3.
    """
    out = {}
    for _, r in PUBLISHED_TABLE1.iterrows():
        parts = []
        for f1, p, rec, name in (("CF1", "CP", "CR", "C-F1"), ("OF1", "OP", "OR", "O-F1")):
            if pd.isna(r[f1]) or pd.isna(r[p]) or pd.isna(r[rec]):
                continue
            h = 2 * r[p] * r[rec] / (r[p] + r[rec])
            if abs(h - r[f1]) > tolerance:
                parts.append(f"printed {name} {r[f1]:.1f} is not the harmonic mean of its P and R ({h:.1f})")
        if parts:
            out[str(r["model"])] = "; ".join(parts)
    return out


def aligned_labels(annotations: Annotations, scores: Scores,
                   rules: MetricRules = DEFAULT_RULES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image ids, labels (:func:`ground_truth`) and the score set's scores in the same order.

    Raises
    ------
    InputError
        The score set lacks an image or a category of the annotations.
    """
    ids, y = ground_truth(annotations, rules)
    return ids, y, scores.aligned(ids, annotations.category_ids)


def evaluate(annotations: Annotations, scores: Scores,
             rules: MetricRules = DEFAULT_RULES) -> tuple[dict[str, Any], pd.DataFrame]:
    """Table 1 metrics and the per-class table of one score set against the annotations.

    Parameters
    ----------
    annotations
        Ground truth.
    scores
        A score set covering the annotated images (e.g. from ``read_scores``).
    rules
        The metric and ground-truth rules.

    Returns
    -------
    summary : dict
        :func:`summary_metrics` plus ``model``, ``include_crowd``, ``include_empty``
        and ``excluded_categories`` (names of the classes without positives).
    per_class : pd.DataFrame
        :func:`per_class_metrics` with the annotation file's category ids and names.
    """
    mask = evaluation_mask(annotations, rules)
    summary, pc = _evaluate(annotations, scores, rules, mask)
    names = annotations.category_names
    summary.update(
        model=scores.name,
        include_crowd=rules.include_crowd,
        include_empty=rules.include_empty,
        excluded_categories=[names[i] for i in summary["excluded"]],
    )
    return summary, pc


def _evaluate(annotations: Annotations, scores: Scores, rules: MetricRules,
              mask: np.ndarray | None) -> tuple[dict[str, Any], pd.DataFrame]:
    """:func:`summary_metrics` and :func:`per_class_metrics` of one score set, sorting each class once."""
    _, y, s = aligned_labels(annotations, scores, rules)
    ap, auc = average_precision_and_auc(y, s, mask)
    summary = summary_metrics(y, s, rules, ap=ap, mask=mask)
    pc = per_class_metrics(y, s, rules, categories=annotations.category_names,
                           category_ids=annotations.category_ids, mask=mask, ap=ap, auc=auc)
    return summary, pc


def excluded_classes(annotations: Annotations, rules: MetricRules = DEFAULT_RULES) -> pd.DataFrame:
    """The classes left out of every average (``empty_classes="exclude"``): those without a positive.

    Returns
    -------
    pd.DataFrame
        One row per class without a positive image (under ``rules``' ground
        truth), in category-id order: ``category_id``, ``category``, ``reason``
        (``"no positive image"``). Empty with ``empty_classes="zero"``, which
        counts them.
    """
    cols = ["category_id", "category", "reason"]
    if rules.empty_classes != "exclude":
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "category_id" else "string") for c in cols})
    _, y = ground_truth(annotations, rules)
    idx = np.flatnonzero(~y.any(axis=0))
    cats = annotations.categories.iloc[idx]
    return pd.DataFrame({"category_id": cats["category_id"].to_numpy(np.int64),
                         "category": pd.array(cats["name"].tolist(), dtype="string"),
                         "reason": pd.array(["no positive image"] * len(idx), dtype="string")})


def table1(
    annotations: Annotations,
    score_sets: Sequence[Scores],
    rules: MetricRules = DEFAULT_RULES,
    *,
    n_boot: int = 0,
    seed: int = 0,
    published: bool = False,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Table 1 over several score sets (fractions in 0..1).

    Parameters
    ----------
    annotations, score_sets
        Ground truth and the score sets (one row each, named by ``Scores.name``).
    rules
        The metric and ground-truth rules.
    n_boot, seed
        With ``n_boot > 0``, add percentile 95% bootstrap intervals (all score
        sets on the same resamples).
    published
        Append the paper's published Table 1 rows (converted to fractions),
        labelled ``source = "published in Luo et al. 2019, Table 1"``; their ``note``
        names a printed F1 that Eq. 6 cannot give (:func:`published_inconsistencies`).
    jobs
        Bootstrap worker threads (default: the CPU count, at most 4; 0: all cores).

    Returns
    -------
    pd.DataFrame
        Columns ``model, CP, CR, CF1, OP, OR, OF1, mAP, n_classes``; with a
        bootstrap, then ``CP_low, CP_high, ..., mAP_low, mAP_high`` (normal bootstrap
        intervals, estimate +/- 1.96 bootstrap SD, of the expected metric on a test set of this
        size: :func:`~salanalysis._bootstrap.normal_interval`), ``ci_method`` (``normal``) and
        ``ci_fallback`` (the metrics without an interval, e.g. fewer than 2 valid resamples); then
        ``n_classes_excluded`` (their names: :func:`excluded_classes`),
        ``n_images``, ``source`` (``"computed"`` or the
        publication), ``cf1`` (rule), ``prediction`` (e.g. ``score>=0.5``),
        ``ground_truth`` (e.g. ``crowd+empty``), ``empty_classes``,
        ``overall`` (the O-P/O-R pooling rule), ``federated`` (``"on"`` when
        LVIS's federated evaluation applied, else ``"off"``), ``n_boot``, and with
        ``published`` a ``note`` (a printed F1 that Eq. 6 cannot give). Published rows
        have NaN counts, and NaN where the paper prints '-'.
    """
    return _table1(annotations, score_sets, rules, n_boot=n_boot, seed=seed, published=published,
                   jobs=jobs)[0]


def _table1(
    annotations: Annotations,
    score_sets: Sequence[Scores],
    rules: MetricRules,
    *,
    n_boot: int,
    seed: int,
    published: bool,
    jobs: int | None,
    per_class: bool = False,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """:func:`table1`, with a bootstrap each score set's per-class intervals, and (``per_class``)
    each score set's :func:`per_class_metrics` table."""
    per_class_boot: dict[str, pd.DataFrame] = {}
    per_class_tables: dict[str, pd.DataFrame] = {}
    mask = evaluation_mask(annotations, rules)
    if not score_sets:
        raise ValueError("no score sets given")
    names = [s.name for s in score_sets]
    if len(set(names)) != len(names):
        raise InputError(f"score set names must be distinct, got {names}")
    rows = []
    for sc in score_sets:
        _, y, s = aligned_labels(annotations, sc, rules)
        ap, auc = average_precision_and_auc(y, s, mask) if per_class else (average_precision(y, s, mask), None)
        summ = summary_metrics(y, s, rules, ap=ap, mask=mask)
        if per_class:
            per_class_tables[sc.name] = per_class_metrics(
                y, s, rules, categories=annotations.category_names, category_ids=annotations.category_ids,
                mask=mask, ap=ap, auc=auc)
        row: dict[str, Any] = {"model": sc.name, **{k: summ[k] for k in METRICS}, "n_classes": summ["n_classes"]}
        if n_boot > 0:
            boot, per_class_boot[sc.name] = bootstrap_metrics(y, s, rules, n_boot=n_boot, seed=seed, jobs=jobs,
                                                              mask=mask)
            for _, r in boot.iterrows():
                row[f"{r['metric']}_low"] = r["ci95_low"]
                row[f"{r['metric']}_high"] = r["ci95_high"]
        if n_boot > 0:
            fallback = [str(m) for m, how in zip(boot["metric"], boot["ci_method"]) if how != "normal"]
            row.update(ci_method="normal", ci_fallback=";".join(fallback))
        row.update(
            n_classes_excluded=summ["n_classes_excluded"],
            n_images=summ["n_images"],
            source="computed",
            cf1=rules.cf1,
            prediction=summ["prediction"],
            ground_truth=rules.ground_truth,
            empty_classes=rules.empty_classes,
            overall=rules.overall,
            federated=summ["federated"],
            n_boot=int(n_boot),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if published:
        pub = PUBLISHED_TABLE1.copy()
        for k in METRICS:
            pub[k] = (pub[k] / 100.0).round(6)
        pub["source"] = PUBLISHED_SOURCE
        pub["cf1"] = "as published"
        pub["note"] = pub["model"].map(published_inconsistencies()).fillna("")
        df = pd.concat([df, pub], ignore_index=True)
    cols = ["model", *METRICS, "n_classes"]
    if n_boot > 0:
        cols += [f"{k}_{e}" for k in METRICS for e in ("low", "high")] + ["ci_method", "ci_fallback"]
    cols += ["n_classes_excluded", "n_images", "source", "cf1", "prediction", "ground_truth",
             "empty_classes", "overall", "federated", "n_boot"] + (["note"] if published else [])
    df = df.reindex(columns=cols)
    for k in ("n_classes", "n_classes_excluded", "n_images", "n_boot"):
        df[k] = df[k].astype("Int64")
    for k in ("model", "source", "cf1", "prediction", "ground_truth", "empty_classes", "overall", "federated",
              "ci_method", "ci_fallback", "note"):
        if k in df.columns:
            df[k] = df[k].astype("string")
    return df, per_class_boot, per_class_tables
