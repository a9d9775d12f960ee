"""Every statistics table at once (:func:`stats_tables`), its summary, and ``salanalysis stats``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from salanalysis.errors import InputError
from salanalysis.errors import require_columns as _require
from salanalysis.formatting import format_p
from salanalysis.results import AnalysisResult
from salanalysis.stats._common import _resolve_models, _sal_column
from salanalysis.stats.classwise import classwise_correlations, classwise_table, verdict_changes
from salanalysis.stats.models import detection_models
from salanalysis.stats.tpfn import tpfn_descriptives, tpfn_tests

if TYPE_CHECKING:
    from salanalysis.coco import Annotations
    from salanalysis.metrics import MetricRules
    from salanalysis.scores import Scores

__all__ = ["stats_tables", "format_summary", "per_class_ap", "StatsResult", "run_stats", "OUTPUT_FILES"]

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
        Center-prior saliency source used as a control (see module docstring).
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
        "tpfn_tests": tpfn_tests(objects, models, n_boot=n_boot, seed=seed,
                                 controls=[control_source] if control_source else ()),
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


def format_summary(tables: dict[str, pd.DataFrame]) -> str:
    """A short plain-text summary of :func:`stats_tables` output (for the command line)."""
    lines = []
    tests = tables.get("tpfn_tests")
    if tests is not None and len(tests):
        lines.append("detected - missed: verdict = the clustered t (by image and category; within-category with "
                     "few categories), Holm over size, center distance and the human saliency sources of each "
                     "model (controls and area_px unadjusted); the paper's Student t beside it:")
        if "unit" not in tests.columns:
            tests = tests.assign(unit="object")
        for (model, unit, var), sub in tests.groupby(["model", "unit", "variable"], sort=False):
            st = sub[sub["test"] == "student_t"].iloc[0]
            cl = sub[sub["role"] == "verdict"] if "role" in sub.columns else sub[sub["test"] == "cluster_ols"]
            d = sub[sub["test"] == "cohen_d"].iloc[0]
            text = f"  {model:<12} {unit:<15} {var:<18} "
            if len(cl):
                v = cl.iloc[0]
                p = (f"{format_p(v['p_holm'])} (Holm)" if np.isfinite(v["p_holm"])
                     else f"{format_p(v['p_val'])} (unadjusted, {v.get('family', 'outside the family')})")
                text += f"{v['test']} t={v['statistic']:.3f} {p}  "
            text += (f"[paper: t={st['statistic']:.3f} {format_p(st['p_val'])}] d={d['effect']:.3f} "
                     f"n={st['n_detected']}/{st['n_missed']}")
            if st["n_excluded_nan"]:
                text += f"  [{st['n_excluded_nan']} excluded: NaN]"
            lines.append(text)
    corr = tables.get("classwise_correlations")
    if corr is not None and len(corr):
        lines.append(
            "class means vs class performance: the paper's Pearson r (AP); verdict = partial r with AP controlling "
            "prevalence (Holm over the claim family); sensitivity = the same with ROC AUC:"
        )
        if corr.attrs.get("federated") == "on":
            lines.append("  class AP by the federated (LVIS) rule: each class counts only the images where it is "
                         "verified (present, or listed in neg_category_ids; not_exhaustive left out)")
        shown = corr[corr["role"].isin(["paper", "verdict", "sensitivity"])] if "role" in corr.columns else (
            corr[corr["method"] != "spearman"])
        for _, r in shown.iterrows():
            model = f"{r['model']:<12} " if "model" in corr.columns else ""
            role = f"{r['role']:<11} " if "role" in corr.columns else ""
            target = f"[{r['target']}] " if "target" in corr.columns else ""
            cov = f" | {r['covariates']}" if r["covariates"] else ""
            holm = f" p(Holm)={r['p_holm']:.3g}" if "p_holm" in r and np.isfinite(r["p_holm"]) else ""
            lines.append(
                f"  {model}{role}{target}{r['variable']:<18} {r['method']:<8} r={r['r']:.3f} "
                f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] {format_p(r['p_val'])}{holm} n={r['n']}{cov}"
            )
        ch = verdict_changes(corr)
        for _, r in ch[ch["changes"]].iterrows():
            model = f"{r['model']} " if "model" in ch.columns else ""
            lines.append(f"  note: {model}{r['variable']}: the sensitivity check (AUC) changes the verdict "
                         f"({r['decision_verdict']} on AP, {r['decision_sensitivity']} on AUC)")
    dm = tables.get("detection_models")
    if dm is not None and len(dm):
        sal = dm[(dm["saliency"] != "") & (dm["term"] == "sal_max_" + dm["saliency"])]
        if len(sal):
            lines.append(
                "saliency odds ratio per SD, controlling log size and center distance "
                "(image-clustered 95% CI):"
            )
            for _, r in sal.iterrows():
                ctl = f" + {r['control']}" if r["control"] else ""
                fe = " + category" if r["category_effects"] else ""
                note = f"  ({r['note']})" if r["note"] else ""
                lines.append(
                    f"  {r['model']:<12} {r['saliency']:<12}{ctl}{fe}: OR={r['odds_ratio_per_sd']:.3f} "
                    f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}] {format_p(r['p_val'])} "
                    f"n={r['n_obs']}{note}"
                )
    return "\n".join(lines)


#: File written under ``out`` for each table of :func:`stats_tables`.
OUTPUT_FILES: dict[str, str] = {
    "tpfn_descriptives": "tpfn_descriptives.csv",
    "tpfn_tests": "tpfn_tests.csv",
    "classwise": "classwise.csv",
    "classwise_correlations": "classwise_correlations.csv",
    "detection_models": "detection_models.csv",
}


#: Per-class columns the class-wise analysis uses beside AP (prevalence and prevalence-free measures).
_PER_CLASS_EXTRA = ("prevalence", "AP_norm", "AUC")


def per_class_ap(annotations: Annotations, score_sets: Sequence[Scores],
                 rules: MetricRules | None = None) -> pd.DataFrame:
    """Per-class AP of each score set (:func:`salanalysis.metrics.evaluate` under ``rules``,
    default :data:`~salanalysis.metrics.DEFAULT_RULES`), stacked.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``category_id``, ``category``, ``n_pos``, ``AP`` (NaN for a class
        without positive images), ``prevalence``, ``AP_norm``, ``AUC``.
    """
    from salanalysis.metrics import DEFAULT_RULES, evaluate

    blocks = []
    for sc in score_sets:
        _, pc = evaluate(annotations, sc, rules or DEFAULT_RULES)
        pc = pc[["category_id", "category", "n_pos", "AP", *_PER_CLASS_EXTRA]].copy()
        pc.insert(0, "model", sc.name)
        blocks.append(pc)
    if not blocks:
        return pd.DataFrame(columns=["model", "category_id", "category", "n_pos", "AP", *_PER_CLASS_EXTRA])
    return pd.concat(blocks, ignore_index=True)


@dataclass
class StatsResult(AnalysisResult):
    """The tables of :func:`stats_tables` (``tpfn_descriptives``, ``tpfn_tests``,
    ``classwise``, ``classwise_correlations``, ``detection_models``), what
    :func:`run_stats` returns; ``write(out)`` writes each as ``out/NAME.csv``."""

    FILES: ClassVar[dict[str, str]] = OUTPUT_FILES

    def summary(self) -> str:
        """:func:`format_summary` of the tables (what the command line prints)."""
        return format_summary(self.tables)


def _record_ap_rule(tables: dict[str, pd.DataFrame], annotations: Annotations, rules: MetricRules | None) -> None:
    """Name the rule of the class-wise AP in the class-wise tables' attrs (``federated``: "on"/"off"),
    as metrics, clutter and compare do; :func:`format_summary` prints it."""
    from salanalysis.metrics import DEFAULT_RULES
    from salanalysis.metrics.ap import federated_on

    fed = "on" if federated_on(annotations, rules or DEFAULT_RULES) else "off"
    for name in ("classwise", "classwise_correlations"):
        if name in tables:
            tables[name].attrs["federated"] = fed


def run_stats(
    objects: pd.DataFrame | str | os.PathLike,
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores | pd.DataFrame]
    | Sequence[tuple[str, str | os.PathLike | pd.DataFrame] | Scores],
    *,
    out: str | os.PathLike | None = None,
    control_source: str | None = None,
    category_effects: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    rules: MetricRules | None = None,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
) -> StatsResult:
    """Read the inputs and compute :func:`stats_tables` (what ``salanalysis stats`` does).

    Parameters
    ----------
    objects
        The object table (a DataFrame, or the CSV or Parquet from ``salanalysis objects``);
        it must hold ``detected_NAME`` for every score set NAME.
    annotations
        The COCO instances (:class:`~salanalysis.coco.Annotations` or the JSON's path)
        the object table was built from.
    scores
        ``NAME -> score file``, :class:`~salanalysis.scores.Scores` or wide DataFrame
        (or a sequence of ``(name, file)`` pairs and ``Scores``): the score sets whose
        per-class AP enters the class-wise tables
        (:func:`salanalysis.scores.read_score_sets`).
    out
        Output folder (created); None computes without writing (``result.write(out)``
        writes later). Every table is computed before the first file is written, and
        each file is written atomically.
    control_source, category_effects, n_boot, seed
        See :func:`stats_tables`.
    rules
        The rules of the per-class AP (:func:`per_class_ap`: crowd labels, LVIS federated
        evaluation); default :data:`~salanalysis.metrics.DEFAULT_RULES`. With
        ``image_ids``/``category_ids``, only the objects, images and classes of that part
        of the dataset are analysed.
    logits, missing
        Passed to :func:`salanalysis.scores.read_scores`.

    Returns
    -------
    StatsResult
        The tables of :func:`stats_tables`; ``result.paths`` lists the files written.

    Raises
    ------
    InputError
        A file cannot be read, the object table lacks a needed column, it names
        images or objects the annotations do not hold, or a score set is not the
        one its ``detected_NAME`` came from (:mod:`salanalysis._table_checks`).
    """
    from salanalysis._table_checks import (
        check_objects_match_annotations,
        check_scores_match_objects,
    )
    from salanalysis.io import read_table
    from salanalysis.scores import Scores, read_score_sets
    from salanalysis.subsets import analysis_annotations

    pairs: list[tuple[Any, Any]] = list(scores.items()) if isinstance(scores, Mapping) else [
        (s.name, s) if isinstance(s, Scores) else (s[0], s[1]) for s in scores]
    if not pairs:
        raise InputError("at least one score set (--scores NAME=FILE) is needed for class AP")
    where = objects.attrs.get("path") if isinstance(objects, pd.DataFrame) else objects
    table = objects if isinstance(objects, pd.DataFrame) else read_table(objects)
    need = ["image_id", "category_id", "area_frac", "center_dist"]
    need += [f"detected_{name}" for name, _ in pairs]
    if control_source is not None:
        need.append(_sal_column(control_source))
    missing_cols = [c for c in need if c not in table.columns]
    if missing_cols:
        raise InputError(
            f"object table lacks column(s) {', '.join(missing_cols)} "
            "(build it with salanalysis objects and the same --scores / --saliency names)",
            where,
        )
    ann = analysis_annotations(annotations, rules)
    full = getattr(ann, "subset_of", None) or ann
    check_objects_match_annotations(table, full, where)
    if full is not ann:  # analysed on part of the dataset: its objects only
        table = table[(table["image_id"].isin(ann.image_ids) & table["category_id"].isin(ann.category_ids))
                      .to_numpy()].reset_index(drop=True)
    sets = read_score_sets([(n, sc) for n, sc in pairs], ann, logits=logits, missing=missing)
    check_scores_match_objects(table, sets, where)
    ap = per_class_ap(ann, sets, rules)
    try:
        tables = stats_tables(
            table,
            ap[["model", "category_id", "AP", *_PER_CLASS_EXTRA]],
            models=[name for name, _ in pairs],
            control_source=control_source,
            category_effects=category_effects,
            n_boot=n_boot,
            seed=seed,
        )
    except InputError as exc:
        raise InputError(str(exc), where) from exc
    _record_ap_rule(tables, ann, rules)
    result = StatsResult(dict(tables))
    if out is not None:
        result.write(out)
    return result

