"""Table 1 as text, Markdown and LaTeX, and the files of ``salanalysis metrics`` (:func:`run_metrics`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.formatting import format_percent, latex_escape
from salanalysis.metrics.ap import evaluation_mask
from salanalysis.metrics.bootstrap import MIN_POS_INTERVAL, paired_bootstrap
from salanalysis.metrics.rules import DEFAULT_RULES, METRICS, MetricRules
from salanalysis.metrics.table import PUBLISHED_SOURCE, _table1, aligned_labels, excluded_classes
from salanalysis.results import AnalysisResult
from salanalysis.scores import Scores

__all__ = ["format_table", "format_per_class", "MetricsResult", "run_metrics", "write_metrics"]


def _check_fmt(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        raise ValueError(f"fmt must be one of {', '.join(map(repr, allowed))}, got {fmt!r}")


def format_table(table: pd.DataFrame, fmt: Literal["markdown", "latex", "text"] = "markdown") -> str:
    """Render a :func:`table1` frame in percent with one decimal, as the paper.

    Bootstrap intervals, when present, follow each value as ``[low, high]``.
    A caption line states the C-F1 rule, the prediction rule, the ground-truth
    rules, the class rule, the O-P/O-R pooling rule and, when it applied,
    LVIS's federated evaluation, and names every estimate that lies outside its
    own interval (see the bootstrap caveat in the module docstring);
    published rows are marked with a dagger, and those whose printed F1 Eq. 6
    cannot give with a double dagger and a note.

    Parameters
    ----------
    table
        The output of :func:`table1`.
    fmt
        ``"markdown"``, ``"latex"`` (a ``tabular``) or ``"text"`` (aligned plain text).

    Returns
    -------
    str
    """
    _check_fmt(fmt, ("markdown", "latex", "text"))
    header = ["Model", "C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP"]
    has_ci = "mAP_low" in table.columns
    body = []
    any_pub = False
    for _, r in table.iterrows():
        pub = str(r.get("source", "computed")) != "computed"
        any_pub |= pub
        flagged = pub and isinstance(r.get("note"), str) and bool(r["note"])
        mark = ("†‡" if flagged else "†") if pub else ""
        if fmt == "latex":
            tex_mark = {"†": r" $^\dagger$", "†‡": r" $^{\dagger\ddagger}$"}.get(mark, "")
            name = latex_escape(str(r["model"])) + tex_mark
        else:
            name = str(r["model"]) + (f" {mark}" if mark else "")
        cells = [
            format_percent(r[k], r.get(f"{k}_low") if has_ci else None, r.get(f"{k}_high") if has_ci else None)
            for k in METRICS
        ]
        body.append([name, *cells])
    comp = table[table.get("source", pd.Series(["computed"] * len(table))) == "computed"]
    if len(comp):
        r0 = comp.iloc[0]
        cf1_text = "harmonic mean of C-P and C-R (Eq. 6)" if r0["cf1"] == "harmonic" else "mean of per-class F1"
        caption = (
            f"All numbers in %. C-F1: {cf1_text}. Prediction: {r0['prediction']}. "
            f"Ground truth: {r0['ground_truth']} ({int(r0['n_images'])} images). "
            f"Classes: {int(r0['n_classes'])} averaged, {int(r0['n_classes_excluded'])} without positives "
            f"{'excluded' if r0['empty_classes'] == 'exclude' else 'counted as 0'}."
        )
        overall = r0.get("overall", "all-predictions")
        if not pd.isna(overall):
            caption += (" O-P, O-R: every prediction pooled (a prediction of a class without positives is "
                        "a false positive)." if overall == "all-predictions"
                        else " O-P, O-R: pooled over the averaged classes only.")
        if r0.get("federated", "off") == "on":
            caption += (" Federated (LVIS) evaluation: per class, only images where it is annotated or "
                        "verified absent (neg_category_ids) count.")
        if has_ci:
            caption += (f" [low, high]: normal bootstrap 95% interval over images ({int(r0['n_boot'])} resamples): "
                        "estimate +/- 1.96 bootstrap SD, for the expected value on a test set of this size "
                        "(coverage measured in benchmarks/calibration.py).")
            fallback = [f"{r['model']} {label}" for _, r in comp.iterrows()
                        for k, label in zip(METRICS, header[1:])
                        if k in str(r.get("ci_fallback", "") or "").split(";")]
            if fallback:
                caption += f" No interval (fewer than 2 valid resamples): {', '.join(fallback)}."
            outside = [
                f"{r['model']} {label}"
                for _, r in comp.iterrows()
                for k, label in zip(METRICS, header[1:])
                if r[k] < r[f"{k}_low"] or r[k] > r[f"{k}_high"]
            ]
            if outside:
                caption += (
                    " Estimate outside its own interval (on small sets, classes without positives "
                    f"in a resample drop out of its averages): {', '.join(outside)}."
                )
    else:
        caption = "All numbers in %."
    if any_pub:
        caption += f" †: {PUBLISHED_SOURCE}."
        notes = [f"{r['model']}: {r['note']}" for _, r in table.iterrows()
                 if str(r.get("source", "computed")) != "computed" and isinstance(r.get("note"), str) and r["note"]]
        if notes:
            caption += " ‡: " + "; ".join(notes) + "."
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * 7) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + caption + "\n"
    if fmt == "latex":
        lines = [r"% " + caption.replace("†", "dagger").replace("‡", "ddagger"), r"\begin{tabular}{l" + "r" * 7 + "}",
                 r"\hline"]
        lines.append(" & ".join(header) + r" \\")
        lines.append(r"\hline")
        lines += [" & ".join(row) + r" \\" for row in body]
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header))]
    for row in body:
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
    return "\n".join(out) + "\n" + caption + "\n"


def format_per_class(per_class: pd.DataFrame, fmt: Literal["markdown", "latex"] = "markdown") -> str:
    """Render a per-class table in percent with one decimal.

    Parameters
    ----------
    per_class
        :func:`per_class_metrics` output, optionally with a leading ``model``
        column and ``AP_low``/``AP_high`` (etc.) interval columns.
    fmt
        ``"markdown"`` or ``"latex"``.

    Returns
    -------
    str
        One row per (model, class): model (when present), category, n_pos, AP,
        precision, recall, F1; intervals as ``[low, high]``; "-" for undefined values.
    """
    _check_fmt(fmt, ("markdown", "latex"))
    has_model = "model" in per_class.columns
    header = (["Model"] if has_model else []) + ["Category", "n_pos", "AP", "P", "R", "F1"]
    body = []
    for _, r in per_class.iterrows():
        cells = [str(r["model"])] if has_model else []
        cells += [str(r["category"]), str(int(r["n_pos"]))]
        for k in ("AP", "precision", "recall", "F1"):
            cells.append(format_percent(r[k], r.get(f"{k}_low"), r.get(f"{k}_high")))
        body.append(cells)
    note = (
        "All numbers in %. P: precision (0 when the class is never predicted), R: recall, "
        "F1: per-class F1; '-': undefined (class without positives)."
    )
    if "AP_low" in per_class.columns:
        note += (" [low, high]: percentile bootstrap 95% interval over images of the "
                 "expected value on a test set of this size; withheld (no interval) for classes with fewer than "
                 f"{MIN_POS_INTERVAL} positive images, where no bootstrap interval held its coverage "
                 "(benchmarks/calibration.py).")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |",
                 "| " + " | ".join(["---"] * (len(header) - 5) + ["---:"] * 5) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + note + "\n"
    lines = ["% " + note, r"\begin{tabular}{" + "l" * (len(header) - 5) + "r" * 5 + "}", r"\hline",
             " & ".join(header) + r" \\", r"\hline"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"



@dataclass
class MetricsResult(AnalysisResult):
    """Table 1 of several score sets: what :func:`run_metrics` returns.

    ``tables``: ``table1`` (:func:`~salanalysis.metrics.table1`), ``per_class``
    (``model`` then :func:`~salanalysis.metrics.per_class_metrics`, with
    ``AP_low, AP_high, ..., F1_high`` after a bootstrap), ``excluded`` (the
    classes left out of every average, :func:`~salanalysis.metrics.excluded_classes`)
    and, with a paired bootstrap, ``paired`` (``model_A``, ``model_B`` then
    :func:`~salanalysis.metrics.paired_bootstrap`, the first score set against
    each other one). ``rules``: the :class:`MetricRules` used; ``score_sets``:
    the :class:`~salanalysis.scores.Scores` evaluated.
    """

    rules: MetricRules = DEFAULT_RULES
    score_sets: list = field(default_factory=list)

    #: suffix of each table's CSV after the output's stem (``OUT.csv``, ``OUT_per_class.csv``, ...).
    FILES: ClassVar[dict[str, str]] = {"table1": "", "per_class": "_per_class", "excluded": "_excluded",
                                       "paired": "_paired"}

    def summary(self) -> str:
        """Table 1 as aligned text with its caption (what the command line prints)."""
        return format_table(self.tables["table1"], "text")

    def write(self, out: str | os.PathLike) -> list[Path]:
        """Write ``OUT`` (a ``.csv``: Table 1 in fractions) and its ``.md``/``.tex`` (percent),
        ``OUT_per_class.csv/.md/.tex``, ``OUT_excluded.csv`` (when a class is excluded) and,
        after a paired bootstrap, ``OUT_paired.csv``.

        All files appear together or none does (a full disk, a read-only folder:
        an :class:`InputError`); an ``OUT_excluded.csv`` or ``OUT_paired.csv`` of
        an earlier run is removed when this result has none.
        """
        from salanalysis.io import all_or_nothing, write_table, write_text
        from salanalysis.results import remove_files

        out = Path(out)
        if out.suffix.lower() != ".csv":
            raise InputError("output must end in .csv", out)
        stem = out.with_suffix("")
        t1, pc = self.tables["table1"], self.tables["per_class"]
        stale = []
        with all_or_nothing():
            paths = [write_table(t1, out), write_text(out.with_suffix(".md"), format_table(t1, "markdown")),
                     write_text(out.with_suffix(".tex"), format_table(t1, "latex"))]
            base = stem.parent / f"{stem.name}_per_class"
            paths += [write_table(pc, base.with_suffix(".csv")),
                      write_text(base.with_suffix(".md"), format_per_class(pc, "markdown")),
                      write_text(base.with_suffix(".tex"), format_per_class(pc, "latex"))]
            for name in ("excluded", "paired"):
                path = stem.parent / f"{stem.name}{self.FILES[name]}.csv"
                if name in self.tables and len(self.tables[name]):
                    paths.append(write_table(self.tables[name], path))
                else:
                    stale.append(path)
        remove_files(stale)
        self.paths = paths
        return paths


def run_metrics(
    annotations: Annotations | str | os.PathLike,
    scores: Sequence[tuple[str, str | os.PathLike]] | Sequence[Scores],
    rules: MetricRules = DEFAULT_RULES,
    *,
    n_boot: int = 0,
    seed: int = 0,
    paired: bool = False,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    published: bool = False,
    jobs: int | None = None,
) -> MetricsResult:
    """Read the inputs and compute Table 1, the per-class table and the paired bootstrap.

    Parameters
    ----------
    annotations
        An :class:`~salanalysis.coco.Annotations` or the path of a COCO instances JSON.
    scores
        ``(name, path)`` pairs (read with :func:`~salanalysis.scores.read_scores`)
        or :class:`~salanalysis.scores.Scores` objects.
    rules
        The metric and ground-truth rules.
    n_boot, seed
        Bootstrap resamples (0: none) and seed.
    paired
        With ``n_boot > 0`` and two or more score sets: the paired bootstrap of the
        AP difference of the first score set against each other one.
    logits, missing
        Passed to :func:`~salanalysis.scores.read_scores`.
    published
        Add the paper's published rows to Table 1.
    jobs
        Bootstrap worker threads (default: the CPU count, at most 4; 0: all cores).

    Returns
    -------
    MetricsResult
        Nothing is written: call ``result.write(out)``.
    """
    from salanalysis.scores import read_score_sets

    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    if not sets:
        raise InputError("no score sets given")
    table, pc_boot, pc_tables = _table1(ann, sets, rules, n_boot=n_boot, seed=seed, published=published,
                                        jobs=jobs, per_class=True)
    per_class = []
    for sc in sets:
        pc = pc_tables[sc.name]
        if n_boot > 0:
            for k in ("AP", "precision", "recall", "F1"):
                for e in ("low", "high"):
                    pc[f"{k}_{e}"] = pc_boot[sc.name][f"{k}_{e}"].to_numpy()
        pc.insert(0, "model", sc.name)
        per_class.append(pc)
    per_class_df = pd.concat(per_class, ignore_index=True)
    per_class_df["model"] = per_class_df["model"].astype("string")
    tables = {"table1": table, "per_class": per_class_df, "excluded": excluded_classes(ann, rules)}
    if paired and n_boot > 0 and len(sets) >= 2:
        parts = []
        mask = evaluation_mask(ann, rules)
        _, y, a = aligned_labels(ann, sets[0], rules)
        for other in sets[1:]:
            _, _, b = aligned_labels(ann, other, rules)
            pb = paired_bootstrap(y, a, b, rules, n_boot=n_boot, seed=seed, categories=ann.category_names,
                                  category_ids=ann.category_ids, jobs=jobs, mask=mask)
            pb.insert(0, "model_B", other.name)
            pb.insert(0, "model_A", sets[0].name)
            parts.append(pb)
        tables["paired"] = pd.concat(parts, ignore_index=True)
    return MetricsResult(tables, rules=rules, score_sets=sets)


def write_metrics(annotations: Annotations | str | os.PathLike,
                  scores: Sequence[tuple[str, str | os.PathLike]] | Sequence[Scores],
                  out: str | os.PathLike, rules: MetricRules = DEFAULT_RULES, **kws) -> pd.DataFrame:
    """:func:`run_metrics` then ``write(out)``; returns Table 1. ``out`` is checked first."""
    if Path(out).suffix.lower() != ".csv":
        raise InputError("output must end in .csv", out)
    result = run_metrics(annotations, scores, rules, **kws)
    result.write(out)
    return result.tables["table1"]
