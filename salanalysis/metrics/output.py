"""Table 1 as text, Markdown and LaTeX, and the files of ``salanalysis metrics`` (:func:`run_metrics`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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

__all__ = ["format_table", "format_per_class", "MetricsResult", "METRICS_FILES", "run_metrics", "table1_long",
           "write_metrics"]


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



def table1_long(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 long: one row per (model, metric).

    Returns
    -------
    pd.DataFrame
        ``model``, ``source``, ``metric`` (``CP`` ... ``mAP``, in the paper's order),
        ``value`` (a fraction in 0..1), ``ci95_low``, ``ci95_high`` (NaN without a
        bootstrap), ``ci_method`` (``BCa``, or ``centered percentile`` for the
        metrics in ``ci_fallback``; empty without intervals) and ``n_boot``.
    """
    rows = []
    for _, r in table.iterrows():
        fb = r.get("ci_fallback")
        fallback = set(fb.split(";")) if isinstance(fb, str) else set()
        n_boot = r.get("n_boot")
        has_ci = f"{METRICS[0]}_low" in table.columns and pd.notna(n_boot) and int(n_boot) > 0
        for k in METRICS:
            rows.append({
                "model": r["model"], "source": r.get("source", "computed"), "metric": k, "value": r[k],
                "ci95_low": r[f"{k}_low"] if has_ci else float("nan"),
                "ci95_high": r[f"{k}_high"] if has_ci else float("nan"),
                "ci_method": ("centered percentile" if k in fallback else "BCa") if has_ci else "",
                "n_boot": n_boot if pd.notna(n_boot) else pd.NA,
            })
    out = pd.DataFrame(rows, columns=["model", "source", "metric", "value", "ci95_low", "ci95_high",
                                      "ci_method", "n_boot"])
    for k in ("model", "source", "metric", "ci_method"):
        out[k] = out[k].astype("string")
    for k in ("value", "ci95_low", "ci95_high"):
        out[k] = out[k].astype("Float64").astype(float)
    out["n_boot"] = out["n_boot"].astype("Int64")
    return out


#: The file of each table of :class:`MetricsResult` under the output folder (what ``salanalysis metrics`` writes).
METRICS_FILES = {"table1": "table1.csv", "table1_long": "table1_long.csv", "per_class": "per_class.csv",
                 "excluded": "excluded.csv", "paired": "paired.csv"}


@dataclass
class MetricsResult(AnalysisResult):
    """Table 1 of several score sets: what :func:`run_metrics` returns.

    ``tables``: ``table1`` (:func:`~salanalysis.metrics.table1`, one row per model),
    ``table1_long`` (:func:`table1_long`: one row per model and metric, intervals in
    ``ci95_low``/``ci95_high``), ``per_class`` (``model`` then
    :func:`~salanalysis.metrics.per_class_metrics`, with ``AP_low, AP_high, ...,
    F1_high`` after a bootstrap), ``excluded`` (the classes left out of every average,
    :func:`~salanalysis.metrics.excluded_classes`) and, with a paired bootstrap,
    ``paired`` (``model_A``, ``model_B`` then :func:`~salanalysis.metrics.paired_bootstrap`,
    the first score set against each other one). ``rules``: the :class:`MetricRules`
    used; ``score_sets``: the :class:`~salanalysis.scores.Scores` evaluated.
    """

    rules: MetricRules = DEFAULT_RULES
    score_sets: list = field(default_factory=list)

    FILES: ClassVar[Mapping[str, str]] = METRICS_FILES

    def summary(self) -> str:
        """Table 1 as aligned text with its caption (what the command line prints)."""
        return format_table(self.tables["table1"], "text")

    def write(self, out: str | os.PathLike) -> list[Path]:
        """Write every table into the folder ``out`` (created), as ``salanalysis metrics --out DIR`` does:
        ``table1.csv`` (fractions) with ``table1.md``/``table1.tex`` (percent), ``table1_long.csv``,
        ``per_class.csv`` with ``per_class.md``/``.tex``, ``excluded.csv`` (when a class is
        excluded) and, after a paired bootstrap, ``paired.csv``.

        All files appear together or none does (a full disk, a read-only folder: an
        :class:`InputError`); an ``excluded.csv`` or ``paired.csv`` of an earlier run is
        removed when this result has none. The old form, ``out`` ending in ``.csv``
        (``OUT.csv``, ``OUT_per_class.csv``, ...), still works for one release, with a
        :class:`DeprecationWarning`.
        """
        from salanalysis.io import all_or_nothing, write_table, write_text
        from salanalysis.results import remove_files

        target = Path(out)
        if target.suffix.lower() == ".csv":
            import warnings

            warnings.warn("MetricsResult.write(OUT.csv) is deprecated: give a folder (table1.csv, "
                          "per_class.csv, ... are written into it)", DeprecationWarning, stacklevel=2)
            stem = target.with_suffix("")
            files = {"table1": target.name, **{k: f"{stem.name}_{k}.csv" for k in METRICS_FILES if k != "table1"}}
            folder = target.parent
        else:
            folder = self._output_folder(target)
            files = dict(METRICS_FILES)
        t1, pc = self.tables["table1"], self.tables["per_class"]
        long = self.tables.get("table1_long")
        stale = []
        with all_or_nothing():
            p1 = folder / files["table1"]
            paths = [write_table(t1, p1), write_text(p1.with_suffix(".md"), format_table(t1, "markdown")),
                     write_text(p1.with_suffix(".tex"), format_table(t1, "latex"))]
            if long is not None:
                paths.append(write_table(long, folder / files["table1_long"]))
            pp = folder / files["per_class"]
            paths += [write_table(pc, pp), write_text(pp.with_suffix(".md"), format_per_class(pc, "markdown")),
                      write_text(pp.with_suffix(".tex"), format_per_class(pc, "latex"))]
            for name in ("excluded", "paired"):
                path = folder / files[name]
                if name in self.tables and len(self.tables[name]):
                    paths.append(write_table(self.tables[name], path))
                else:
                    stale.append(path)
        remove_files(stale)
        self.paths = paths
        return paths


def run_metrics(
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores | pd.DataFrame]
    | Sequence[tuple[str, str | os.PathLike | pd.DataFrame] | Scores],
    _rules: MetricRules | None = None,
    /,
    *,
    rules: MetricRules = DEFAULT_RULES,
    n_boot: int = 1000,
    seed: int = 0,
    jobs: int = 0,
    paired: bool = False,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    published: bool = False,
    out: str | os.PathLike | None = None,
) -> MetricsResult:
    """Read the inputs and compute Table 1, the per-class table and the paired bootstrap.

    Parameters
    ----------
    annotations
        An :class:`~salanalysis.coco.Annotations` or the path of a COCO instances JSON.
    scores
        A mapping name -> score file, :class:`~salanalysis.scores.Scores` or wide
        DataFrame (``image_id`` + one column per class), or a sequence of ``(name, path)``
        pairs and ``Scores`` (:func:`~salanalysis.scores.read_score_sets`).
    rules
        The metric and ground-truth rules, keyword-only (the third positional argument
        of earlier releases still works, with a :class:`DeprecationWarning`);
        ``rules.image_ids``/``rules.category_ids`` restrict the evaluation to part of
        the dataset.
    n_boot, seed
        Bootstrap resamples (0: none; default 1000, as ``--bootstrap``) and seed.
    paired
        With ``n_boot > 0`` and two or more score sets: the paired bootstrap of the
        AP difference of the first score set against each other one.
    logits, missing
        Passed to :func:`~salanalysis.scores.read_scores`.
    published
        Add the paper's published rows to Table 1.
    jobs
        Bootstrap worker threads (0, default: all cores, as ``--jobs``).
    out
        Output folder (:meth:`MetricsResult.write`); None: nothing is written.

    Returns
    -------
    MetricsResult
    """
    from salanalysis.scores import read_score_sets
    from salanalysis.subsets import analysis_annotations

    if _rules is not None:
        import warnings

        warnings.warn("run_metrics(annotations, scores, rules) is deprecated: pass rules=...",
                      DeprecationWarning, stacklevel=2)
        rules = _rules
    ann = analysis_annotations(annotations, rules)
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
    tables = {"table1": table, "table1_long": table1_long(table), "per_class": per_class_df,
              "excluded": excluded_classes(ann, rules)}
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
    result = MetricsResult(tables, rules=rules, score_sets=sets)
    if out is not None:
        result.write(out)
    return result


def write_metrics(annotations: Annotations | str | os.PathLike,
                  scores: Sequence[tuple[str, str | os.PathLike]] | Sequence[Scores],
                  out: str | os.PathLike, rules: MetricRules = DEFAULT_RULES, **kws) -> pd.DataFrame:
    """:func:`run_metrics` then ``write(out)`` (a folder; an ``OUT.csv`` still works, deprecated); returns Table 1."""
    result = run_metrics(annotations, scores, rules=rules, **kws)
    result.write(out)
    return result.tables["table1"]
