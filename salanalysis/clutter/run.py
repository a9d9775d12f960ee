"""The files of ``salanalysis clutter``: :func:`run_clutter` and :class:`ClutterResult`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pandas as pd

from salanalysis.clutter.core import clutter_all, trend_sentence
from salanalysis.clutter.groups import objects_histogram
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.formatting import format_fixed, format_interval
from salanalysis.metrics.rules import DEFAULT_RULES, MetricRules
from salanalysis.results import AnalysisResult, table_property
from salanalysis.scores import Scores

__all__ = ["ClutterResult", "run_clutter"]


@dataclass
class ClutterResult(AnalysisResult):
    """What :func:`run_clutter` computed: ``tables`` ``clutter_map`` (:func:`clutter_map` of
    every score set), ``objects_histogram`` (:func:`objects_histogram`) and, with two or
    more score sets, ``clutter_difference`` (:func:`clutter_difference` of every score set
    after the first against the first, stacked); ``paths``: the files written.
    ``map``, ``histogram`` and ``difference`` name the three tables.
    """

    FILES: ClassVar[dict[str, str]] = {"clutter_map": "clutter_map.csv",
                                       "objects_histogram": "objects_histogram.csv",
                                       "clutter_difference": "clutter_difference.csv",
                                       "clutter_trend": "clutter_trend.csv"}

    map = table_property("clutter_map")
    histogram = table_property("objects_histogram")
    difference = table_property("clutter_difference", "``tables['clutter_difference']`` (None with one score set)")
    trend = table_property("clutter_trend")

    def summary(self) -> str:
        """A short plain-text summary (what the command line prints)."""
        m = self.map
        attrs = m.attrs
        first = m[m["model"] == m["model"].iloc[0]]
        boot = (f"bootstrap {attrs['n_boot']} resamples, seed {attrs['seed']}; intervals BCa (of the smoothed "
                "curve: BC; centered percentile where either is degenerate)" if attrs["n_boot"]
                else "no bootstrap, no intervals")
        lines = [
            f"clutter groups: K={attrs['k']} ({attrs['k_chosen']}); "
            f"{int(first['n_images'].sum())} images in groups, "
            f"{attrs['n_images_no_objects']} without objects (not grouped); {boot}",
        ]
        if attrs.get("federated") == "on":
            lines.append("federated (LVIS) evaluation: each class counts only the group's images where it is verified")
        if attrs.get("warning"):
            lines.append(f"warning: {attrs['warning']}")
        models = list(dict.fromkeys(m["model"]))
        head = f"{'group':>7} {'images':>7} " + " ".join(f"{name[:17]:>17}" for name in models)
        lines.append(head + "   (mAP, smoothed in brackets; chance mAP of a random ranking last)")
        for _, grp in m.groupby("n_objects", sort=True):
            row = grp.iloc[0]
            cells = []
            for name in models:
                r = grp[grp["model"] == name].iloc[0]
                cells.append(f"{r['mAP']:.4f} [{r['mAP_smoothed']:.4f}]".rjust(17))
            lines.append(f"{row['group']:>7} {int(row['n_images']):>7} " + " ".join(cells)
                         + f"   {row['chance_mAP']:.4f}")
        if self.trend is not None:
            lines += ["  " + trend_sentence(self.trend, name) for name in models]
        if self.difference is not None:
            for (ma, mb), d in self.difference.groupby(["model_a", "model_b"], sort=False):
                n_up = int((d["ci95_low"] > 0).sum())
                n_down = int((d["ci95_high"] < 0).sum())
                ci = format_interval(d["ci95_low"].iloc[0], d["ci95_high"].iloc[0], none="no intervals")
                share = (f"above 0 (95% CI) in {n_up} of {len(d)} groups, below 0 in {n_down}"
                         if attrs["n_boot"] else f"in {len(d)} groups (no bootstrap, no intervals)")
                lines.append(
                    f"{mb} - {ma}: mAP difference {share}; group {d['group'].iloc[0]}: "
                    f"{format_fixed(d['delta'].iloc[0], sign=True)} {ci}"
                )
        if self.paths:
            lines.append("wrote " + ", ".join(str(p) for p in self.paths))
        return "\n".join(lines)


def run_clutter(
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores | pd.DataFrame]
    | Sequence[tuple[str, str | os.PathLike | pd.DataFrame] | Scores],
    out: str | os.PathLike | None = None,
    *,
    rules: MetricRules = DEFAULT_RULES,
    n_boot: int = 1000,
    seed: int = 0,
    jobs: int = 0,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    **options: Any,
) -> ClutterResult:
    """Read the inputs, compute the clutter tables and write them to ``out`` (unless None).

    Writes ``clutter_map.csv`` (:func:`clutter_map`), ``objects_histogram.csv``
    (:func:`objects_histogram`), ``clutter_trend.csv`` (:func:`clutter_trend`) and, with
    two or more score sets,
    ``clutter_difference.csv`` (each later score set minus the first,
    :func:`clutter_difference`). Everything is computed before anything is
    written; each file is written atomically; a ``clutter_difference.csv`` that
    an earlier run left in ``out`` goes when this run has one score set.

    Parameters
    ----------
    annotations
        An :class:`Annotations` or the path of a COCO instances JSON.
    scores
        Score set name -> score file, :class:`Scores` or wide DataFrame, in order (or a
        sequence of ``(name, file)`` pairs and ``Scores``); the first is the reference
        of the differences.
    out
        Output folder (created if needed); None: nothing is written.
    rules
        The AP rules (crowd labels, LVIS federated evaluation) and, with
        ``image_ids``/``category_ids``, the part of the dataset analysed.
    n_boot, seed
        Bootstrap resamples per group (0: no bands; default 1000, as ``--bootstrap``) and seed.
    jobs
        Bootstrap worker threads (0, default: all cores); results do not depend on it.
    logits, missing
        As in :func:`salanalysis.scores.read_scores`.
    options
        The other options of :func:`clutter_map` (``k``, ``min_images``, ``k_rule``,
        ``smooth``); an unknown one is a TypeError.
    """
    from salanalysis._bootstrap import bootstrap_jobs
    from salanalysis.scores import read_score_sets
    from salanalysis.subsets import analysis_annotations

    ann = analysis_annotations(annotations, rules)
    if not scores:
        raise InputError("at least one score file is needed")
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    options = {**options, "rules": rules, "n_boot": n_boot, "seed": seed}
    with bootstrap_jobs(jobs):
        return _clutter_result(ann, sets, out, options)


def _clutter_result(ann: Annotations, sets: list[Scores], out: str | os.PathLike | None,
                    options: dict[str, Any]) -> ClutterResult:
    pairs = [(sets[0].name, other.name) for other in sets[1:]]
    table, trend, parts = clutter_all(ann, sets, pairs, **options)  # one bootstrap for every table
    hist = objects_histogram(ann)
    diff = None
    if parts:
        diff = pd.concat(parts, ignore_index=True)
        diff.attrs.update(parts[0].attrs)
        for key in ("k_rule", "k_chosen", "warning", "min_images"):
            diff.attrs[key] = table.attrs[key]
    tables = {"clutter_map": table, "objects_histogram": hist, "clutter_trend": trend}
    if diff is not None:
        tables["clutter_difference"] = diff
    result = ClutterResult(tables)
    if out is not None:
        result.write(out)
    return result
