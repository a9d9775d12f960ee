"""The outputs of :func:`salanalysis.reproduce.reproduce`: tables, figures, the report."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from salanalysis import __version__
from salanalysis.config import Config, dump_toml
from salanalysis.errors import InputError
from salanalysis.io import write_json, write_table, write_text
from salanalysis.reproduce.run import Runner, StageRecord
from salanalysis.reproduce.stages import (
    _control_source,
    _is_demo,
    _stage_cam,
    _stage_clutter,
    _stage_compare,
    _stage_figures,
    _stage_gallery,
    _stage_inputs,
    _stage_maps,
    _stage_metrics,
    _stage_objects,
    _stage_stats,
    _with_object_counts,
)

__all__ = ["TABLES", "ReproduceResult", "reproduce"]

#: Table files (OUT/tables/NAME.{csv,md,tex}) and what they hold.
TABLES: dict[str, str] = {
    "inputs": "Inputs: provenance and counts",
    "table1": "Table 1: multi-label metrics (with the paper's published rows for COCO's 80 categories)",
    "per_class": "Per-class AP (with its interval from Table 1's resamples, withheld below 21 positive images), "
                 "precision, recall, F1 of every score set",
    "excluded_classes": "Classes without a positive image, left out of mAP and the C- metrics",
    "tpfn_descriptives": "Fig. 2 numbers: n, mean, SD, SEM, 95% CI of detected and missed objects",
    "tpfn_tests": "Fig. 2 tests: Student and Welch t, Mann-Whitney U, Cohen's d, image-clustered tests; the verdict "
                  "(role = verdict) clusters by image and category, Holm over the claim family (family = claim)",
    "classwise": "Class-wise means and AP",
    "classwise_correlations": "Class-wise correlations with AP (Pearson as the paper, Spearman, partial); the "
                              "verdict (role = verdict): partial r controlling prevalence, checked with ROC AUC "
                              "(role = sensitivity)",
    "detection_models": "Logistic models of detection (odds ratio per SD, image-clustered CIs)",
    "clutter_map": "Fig. 3a numbers: mAP per objects-per-image group, smoothed, bootstrap bands",
    "clutter_difference": "mAP difference (B - A) per group with paired bootstrap bands",
    "clutter_trend": "Does the change of mAP with clutter survive the prevalence-free mean ROC AUC (beside "
                     "the chance-corrected AP)? First vs last group, normal bootstrap intervals",
    "objects_histogram": "Fig. 3b numbers: images per number of objects",
    "compare_categories": "Fig. 4 numbers: per-category AP of A and B, delta, paired permutation p and "
                          "BH-adjusted q (the verdict), descriptive paired bootstrap 95% CI",
    "compare_summary": "Fig. 4 summary: categories improved / worsened / within noise (BH q < 0.05), "
                       "the permutation test of 'most categories improve', delta mAP, delta vs size",
}


@dataclass
class ReproduceResult:
    """What :func:`reproduce` did.

    Attributes
    ----------
    out
        The output folder.
    stages
        The stage log (also in ``stages.json``).
    files
        Every file written (absolute paths), the report last.
    not_produced
        ``(what, why)`` for each figure or table that could not be produced.
    report
        The report's path.
    """

    out: Path
    stages: list[StageRecord]
    files: list[Path]
    not_produced: list[tuple[str, str]]
    report: Path

    def summary(self) -> str:
        lines = [f"{'stage':<9} {'status':<9} {'seconds':>8}  note"]
        for s in self.stages:
            lines.append(f"{s.stage:<9} {s.status:<9} {s.seconds:>8.2f}  {s.note}")
        for what, why in self.not_produced:
            lines.append(f"not produced: {what}: {why}")
        lines.append(f"wrote {len(self.files)} files under {self.out}; report: {self.report}")
        return "\n".join(lines)


# ------------------------------------------------------------------ outputs
def _write_table(run: Runner, name: str, df: pd.DataFrame, caption: str,
                 md: str | None = None, tex: str | None = None) -> list[Path]:
    from salanalysis.report import table_latex, table_markdown

    base = run.out / "tables" / name
    paths = [write_table(df, base.with_suffix(".csv")),
             write_text(base.with_suffix(".md"), md if md is not None else table_markdown(df, caption)),
             write_text(base.with_suffix(".tex"), tex if tex is not None else table_latex(df, caption))]
    run.files += paths
    return paths


def _table1_display(t1: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as the report shows it: percent with one decimal and ``[low, high]``, as the paper;
    published rows marked as in the Markdown file (the caption explains the marks)."""
    from salanalysis.formatting import format_percent
    from salanalysis.metrics import METRICS

    names = {"CP": "C-P", "CR": "C-R", "CF1": "C-F1", "OP": "O-P", "OR": "O-R", "OF1": "O-F1", "mAP": "mAP"}
    rows = []
    for _, r in t1.iterrows():
        pub = str(r.get("source", "computed")) != "computed"
        mark = ("\u2020\u2021" if isinstance(r.get("note"), str) and r["note"] else "\u2020") if pub else ""
        rows.append({"model": str(r["model"]) + (f" {mark}" if mark else ""),
                     **{names.get(k, k): format_percent(r[k], r.get(f"{k}_low"), r.get(f"{k}_high"))
                        for k in METRICS}})
    return pd.DataFrame(rows)


def _category_determined(objects: pd.DataFrame, models: list[str]) -> list[str]:
    """Score sets whose detected/missed outcome is a function of the category alone.

    Every object of a class has the same outcome (e.g. the class-prior baseline,
    which scores every image by the class prevalence), so a model of detection
    from object properties only tells which classes pass the threshold.
    """
    out = []
    for m in models:
        col = f"detected_{m}"
        if col in objects.columns and len(objects) and \
                int(objects.groupby("category_id")[col].nunique(dropna=False).max()) <= 1:
            out.append(m)
    return out


def _inputs_display(inputs: pd.DataFrame) -> pd.DataFrame:
    """The inputs as the report shows them: one row per input, its counts in one cell."""
    from salanalysis.formatting import format_number

    rows = []
    for (kind, name), g in inputs.groupby(["kind", "name"], sort=False):
        r = g.iloc[0]
        rows.append({"kind": kind, "name": name, "label": r["label"], "origin": r["origin"],
                     "sha256": r["sha256"],
                     "counts": "; ".join(f"{i}: {format_number(v)}" for i, v in zip(g["item"], g["value"]))})
    return pd.DataFrame(rows)


def _stages_display(records: list[StageRecord], paths: Sequence[Path] = (),
                    show: Callable[[object], str] = str) -> pd.DataFrame:
    """The stage log without what changes from run to run (status computed/cached, seconds);
    the ``paths`` named in notes as ``show`` writes them."""

    def note(text: str) -> str:
        for p in sorted(paths, key=lambda q: -len(str(q))):
            text = text.replace(str(p), show(p))
        return text

    return pd.DataFrame([{"stage": r.stage, "key": r.key,
                          "note": note(f"{r.status}: {r.note}" if r.status in ("skipped", "read") else r.note)}
                         for r in records])


def _path_shower(cfg: Config, out: Path) -> Callable[[object], str]:
    """How the report writes a path: relative to the configuration's folder (the output folder
    for the bundled demo), the demo's files as ``<salanalysis demo>/...``; absolute with
    ``report_paths = "absolute"``. A shared report then names no user or home folder."""
    from salanalysis.demo import demo_paths

    if cfg.report_paths == "absolute":
        return lambda p: str(Path(str(p)).absolute()) if str(p) else str(p)
    base = Path(cfg.source).absolute().parent if cfg.source != "bundled demo" else out
    demo_root = demo_paths().annotations.parent.parent.resolve()

    def show(p: object) -> str:
        text = str(p)
        if not text or "/" not in text and os.sep not in text:
            return text  # a name, not a path (a builtin source's description)
        path = Path(text).absolute()
        try:
            return "<salanalysis demo>/" + path.resolve().relative_to(demo_root).as_posix()
        except ValueError:
            pass
        try:
            return os.path.relpath(path, base)
        except ValueError:  # another drive (Windows)
            return path.name

    return show


def _known_paths(cfg: Config, out: Path) -> list[Path]:
    paths = [out, cfg.annotations, *(s.path for s in cfg.saliency if s.path is not None),
             *(s.path for s in cfg.scores if s.path is not None), *cfg.cam_checkpoints.values()]
    if cfg.images is not None:
        paths.append(cfg.images)
    if cfg.cam_output is not None:
        paths.append(cfg.cam_output)
    return [Path(p) for p in paths]


def _with_clutter_notes(diagnostics: pd.DataFrame | None, cfg: Config,
                        cl: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """``diagnostics`` and the clutter module's own statements about Fig. 3 (its cut-off, its
    warning, whether each trend survives the prevalence-free measures), shown beside Fig. 3."""
    cm_attrs = cl["clutter_map"].attrs
    warning = cm_attrs.get("warning") or ""
    if diagnostics is not None and warning and diagnostics["text"].str.contains(warning, regex=False).any():
        diagnostics = diagnostics[~diagnostics["text"].str.contains(warning, regex=False)]  # said once, below
    rows = [{"anchor": "fig-fig3_clutter", "severity": "warning" if warning else "note",
             "text": f"Fig. 3 groups: K = {cm_attrs.get('k')} ({cm_attrs.get('k_chosen', '')})."
                     + (f" {warning}." if warning else "")}]
    if "clutter_trend" in cl:
        from salanalysis.clutter import trend_sentence

        rows += [{"anchor": "fig-fig3_clutter", "severity": "note",
                  "text": f"Fig. 3 trend: {trend_sentence(cl['clutter_trend'], s.name)}."} for s in cfg.scores]
    ours = pd.DataFrame(rows, columns=["anchor", "severity", "text"])
    return ours if diagnostics is None else pd.concat([diagnostics, ours], ignore_index=True)


def _findings(cfg: Config, tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The findings (each claim of the paper beside this run) and the diagnostics of a run.

    The one place the report gets them: ``tables`` holds every table of the run
    (``objects``, ``images``, ``table1``, ``per_class``, the statistics, clutter
    and comparison tables, by name). Returns ``(findings, diagnostics)`` with the
    columns of :data:`salanalysis.report.FINDINGS_COLUMNS` and
    :data:`~salanalysis.report.DIAGNOSTICS_COLUMNS`, or ``None`` for either, which
    leaves its part out of the report. Computed by :mod:`salanalysis.findings`: saliency
    sources are ground truth, predicted (a name or label mentioning "pred") or, when
    built in, controls (:func:`~salanalysis.findings.saliency_roles`).
    """
    from salanalysis.findings import FindingsContext, diagnostics, findings, saliency_roles

    gt, pred = saliency_roles([(s.name, s.label or s.name, bool(s.builtin)) for s in cfg.saliency])
    ctx = FindingsContext(primary=cfg.primary, compare=cfg.compare, labels=cfg.labels(), ground_truth_sources=gt,
                          predicted_sources=pred)
    return findings(tables, ctx), diagnostics(tables, ctx)


def _comparison_note(cfg: Config) -> str | None:
    """Why the run's comparison is not the paper's (a baseline network against its saliency-guided
    dual-stream network), or None: one of the compared score sets is a built-in baseline."""
    if not cfg.compare:
        return None
    labels = cfg.labels()
    built = [s for s in cfg.scores if s.name in cfg.compare and s.builtin]
    if not built:
        return None
    a, b = cfg.compare
    return (f"this run compares '{labels.get(a, a)}' with '{labels.get(b, b)}', not the paper's baseline network "
            f"with its saliency-guided network ('{labels.get(built[0].name, built[0].name)}' is a built-in "
            "baseline, not a model)")


#: Sections of the findings that rest on the comparison of two score sets (A -> B).
COMPARISON_SECTIONS = ("Sec. 5.3", "Sec. 5.4", "Fig. 4", "Table 1")


def _not_comparable(findings: pd.DataFrame | None, note: str | None) -> pd.DataFrame | None:
    """The comparison rows of ``findings`` marked "not comparable" with the reason (``note``), when the run's
    comparison is not the paper's; their values stay, rows without a value stay as they are."""
    if findings is None or not note or not len(findings):
        return findings
    f = findings.copy()
    has_value = (f["this_run"].fillna("").astype(str) != "") if "this_run" in f.columns else \
        (f["verdict"] != "not available")
    rows = f["section"].isin(COMPARISON_SECTIONS) & has_value
    f.loc[rows, "verdict"] = "not comparable"
    f.loc[rows, "detail"] = [f"Not comparable: {note}." + (f" {d}" if isinstance(d, str) and d else "")
                             for d in f.loc[rows, "detail"]]
    return f


def _reading(cfg: Config) -> list[str]:
    """The "Reading this run" points: the score sets, detected/missed, which rows are not the paper's."""
    labels = cfg.labels()
    demo = _is_demo(cfg)
    out = []
    for s in cfg.scores:
        what = f"'{labels.get(s.name, s.name)}' ({s.name}): "
        if s.builtin:
            what += ("the class-prior baseline, not a model: every image scores a class by its prevalence in the "
                     "annotation file, so its AP equals the prevalence and all objects of a class share one outcome")
        elif s.path is not None and s.path.suffix.lower() == ".json":
            what += (("cocoapi's sample detection results (perturbed ground truth, not a model); " if demo else
                      f"detection results ({s.path.name}); ")
                     + "an image's score for a class is the highest score of its detections of that class "
                     "(0 without one)")
        else:
            what += f"image-level class scores from {s.path.name if s.path else 'a file'}"
        out.append(what + ".")
    out.append(f"An object counts as detected (tp) when its image's score for its class is at least {cfg.threshold}, "
               "missed (fn) otherwise: scores are per image and class, so every object of a class in one image "
               "shares its outcome.")
    if cfg.primary:
        out.append(f"Fig. 2, the class-wise analysis, the gallery and the class table use "
                   f"'{labels.get(cfg.primary, cfg.primary)}'"
                   + (f"; Fig. 3/4, Sec. 5.3/5.4 and Table 1's comparison put '{labels.get(cfg.compare[0])}' (A) "
                      f"against '{labels.get(cfg.compare[1])}' (B)." if cfg.compare else "."))
    note = _comparison_note(cfg)
    if note:
        out.append(f"Not the paper's comparison: {note}. The rows that rest on it (Sec. 5.3, Sec. 5.4, Fig. 4, Table 1) are "
                   "marked not comparable: their numbers are shown, their direction is not a verdict on the paper.")
    return out


def reproduce(
    config: Config,
    out: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> ReproduceResult:
    """Run every analysis of a configuration and write figures, tables and the report.

    Parameters
    ----------
    config
        A validated configuration (:func:`salanalysis.config.load_config` or
        :func:`salanalysis.config.demo_config`).
    out
        Output folder (default: the configuration's ``[output] dir``, else
        ``salanalysis_output``).
    force
        Recompute every stage, ignoring the cache.
    progress
        Show progress bars of long stages.
    log
        Called with one line per stage event (e.g. ``print``).

    Returns
    -------
    ReproduceResult
        The stage log, every file written and what could not be produced.

    Raises
    ------
    InputError
        The output path is a file, or an input is bad (raised by the stage that
        reads it, before anything is written under its final name).
    """
    from salanalysis.limits import limits

    with limits(config.limits):  # the [limits] table of the configuration, for this run
        return _reproduce(config, out, force=force, progress=progress, log=log)


def _reproduce(config: Config, out, *, force: bool, progress: bool, log) -> ReproduceResult:
    from salanalysis.metrics import format_table
    from salanalysis.report import FigureEntry, TableEntry, write_report

    out = Path(out if out is not None else (config.out or "salanalysis_output")).absolute()
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", out)
    cfg = dataclasses.replace(config, out=out)
    run = Runner(cfg, out, force, progress, log)

    show = _path_shower(cfg, out)
    inputs = _stage_inputs(run).tables["inputs"]
    inputs = inputs.assign(origin=inputs["origin"].map(show))  # no user or home names by default
    map_dirs = _stage_maps(run)
    obj = _stage_objects(run, map_dirs)
    objects, images = obj.tables["objects"], obj.tables["images"]
    inputs = _with_object_counts(inputs, obj.meta, len(objects))
    met = _stage_metrics(run)
    st = _stage_stats(run, objects, met.tables["per_class"]).tables
    cl = _stage_clutter(run).tables
    cmp_data = _stage_compare(run, objects)
    cmp = None if cmp_data is None else cmp_data.tables
    cam = _stage_cam(run)
    gallery = _stage_gallery(run, objects)
    figs = _stage_figures(run, {"objects": objects, "per_class": met.tables["per_class"], **st, **cl, **(cmp or {})},
                          cam, gallery)

    # ---- outputs
    out.mkdir(parents=True, exist_ok=True)
    labels = cfg.labels()
    run.files.append(write_text(out / "config.resolved.toml", dump_toml(
        cfg.to_dict(), header=f"Resolved by salanalysis {__version__} reproduce (from {cfg.source}).\n"
        "Run again with: salanalysis reproduce --config config.resolved.toml")))
    run.files.append(write_table(objects, out / "objects.parquet"))
    run.files.append(write_table(images, out / "images.csv"))
    if gallery is not None:  # gallery.csv and its thumbnails, so `salanalysis plot fig_gallery --from OUT` draws it
        from salanalysis.io import atomic_path

        for src in sorted(p for p in gallery[1].rglob("*") if p.is_file() and not p.is_symlink()):
            dst = out / "gallery" / src.relative_to(gallery[1])
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
            run.files.append(dst)

    t1 = met.tables["table1"]
    t1_md = format_table(t1, "markdown")
    tables: list[TableEntry] = []
    produced: dict[str, pd.DataFrame] = {"inputs": inputs, "table1": t1, "per_class": met.tables["per_class"],
                                          **st, **cl, **(cmp or {})}
    if len(met.tables.get("excluded_classes", ())):
        produced["excluded_classes"] = met.tables["excluded_classes"]
    t1_published = "source" in t1.columns and bool((t1["source"] != "computed").any())
    constant = _category_determined(objects, [s.name for s in cfg.scores])
    inputs_files: list[Path] = []
    for name, title in TABLES.items():
        if name not in produced:
            continue
        df = produced[name]
        caption, shown, notes = "", df, []
        if name == "inputs":  # shown once, in the report's Inputs section
            inputs_files = _write_table(run, name, df, caption)
            continue
        if name == "table1":
            caption = t1_md.strip().split("\n")[-1]
            paths = _write_table(run, name, df, caption, md=t1_md, tex=format_table(t1, "latex"))
            title = "Table 1: multi-label metrics" + (", with the paper's published rows" if t1_published else "")
            tables.append(TableEntry(name, title, caption, _table1_display(df), paths))
            continue
        if name == "compare_categories" and cfg.compare:
            a, b = cfg.compare
            caption = f"A = '{labels.get(a, a)}', B = '{labels.get(b, b)}'; delta = AP_B - AP_A."
        if name == "detection_models" and constant and "model" in df.columns:
            shown = df[~df["model"].isin(constant)]
            left = ", ".join(f"'{labels.get(m, m)}' ({m})" for m in constant if (df["model"] == m).any())
            if left:
                notes.append(f"Rows of {left} are left out: under it every object of a class has the same "
                             "detected/missed outcome (as under the class-prior baseline, which scores every "
                             "image of a class alike), so a model of detection from object size, position or "
                             "saliency only tells which classes pass the threshold. The files keep them.")
        paths = _write_table(run, name, df, caption)
        tables.append(TableEntry(name, title, caption, shown, paths, notes=notes))
    for name in TABLES:
        if name not in produced:
            for ext in (".csv", ".md", ".tex"):
                (out / "tables" / f"{name}{ext}").unlink(missing_ok=True)
            if name in ("clutter_difference", "compare_categories", "compare_summary") and cfg.compare is None:
                run.not_produced.append((TABLES[name], "fewer than two score sets are configured"))

    figures: list[FigureEntry] = []
    gallery_files: list[Path] = []
    captions = figs.meta["captions"]
    from salanalysis.figures import FIGURES, WIDTHS

    for name, title in ((n, spec.title) for n, spec in FIGURES.items()):
        variants = [f"{name}{suffix}.{ext}" for suffix in WIDTHS.values() for ext in ("pdf", "png")]
        if name in captions:
            from salanalysis.io import atomic_path

            paths = []
            for file in variants:
                dst = out / "figures" / file
                with atomic_path(dst) as tmp:
                    shutil.copyfile(figs.files[file], tmp)
                paths.append(dst)
            run.files += paths
            if name == "fig_gallery":  # shown as the report's gallery of objects (thumbnails), its files linked
                gallery_files = paths
                continue
            figures.append(FigureEntry(name, title, captions[name], paths[1], paths, png_column=paths[3]))
        else:
            for file in variants:
                (out / "figures" / file).unlink(missing_ok=True)
            if name in figs.meta["failed"]:
                why = figs.meta["failed"][name]
                run.not_produced.append((title, why if name == "fig5_cam" and "Error:" not in why
                                         else f"drawing failed: {why}"))
            elif name == "fig4_category_delta" and cfg.compare is None:
                run.not_produced.append((title, "fewer than two score sets are configured"))

    run.files.append(write_json(out / "stages.json", {"version": __version__, "force": force,
                                                      "stages": [dataclasses.asdict(r) for r in run.records]}))
    notes = []
    if _is_demo(cfg):
        notes = [
            "Bundled demo: 100 real COCO val2014 images. 'sample detections' are cocoapi's sample "
            "detection results (perturbed ground truth), not a model. The second score set is the "
            "class-prior baseline (not a model): every image scores a class by its prevalence in the "
            "annotation file, so its AP equals the prevalence. Only 2 of the 100 images have a SALICON "
            "ground-truth map, so the SALICON panels rest on few objects; the center-bias source (a "
            "Gaussian at the image center) is a control covering every image. With 100 images, every "
            "interval is wide: the demo shows the pipeline, not the paper's numbers.",
        ]
    findings, diagnostics = _findings(cfg, {"objects": objects, "images": images, **produced})
    findings = _not_comparable(findings, _comparison_note(cfg))
    diagnostics = _with_clutter_notes(diagnostics, cfg, cl)
    why = ("the annotation file lists COCO's 80 categories" if t1_published else
           "the annotation file's categories are not COCO's 80") if cfg.published_rows == "auto" \
        else f"published_rows = {str(cfg.published_rows).lower()}"
    summary = {
        "configuration": show(cfg.source) if cfg.source != "bundled demo" else cfg.source,
        "configuration as run": out / "config.resolved.toml",
        "salanalysis version": __version__,
        "output folder": show(out),
        "paths shown": ("absolute" if cfg.report_paths == "absolute" else
                        f"relative to {'the configuration' if cfg.source != 'bundled demo' else 'the output'} "
                        "folder (absolute: reproduce --absolute-paths, or report_paths = \"absolute\")"),
        "model of Fig. 2 and the class-wise analysis": f"{cfg.primary} ({labels[cfg.primary]})",
        "comparison (A -> B)": (f"{cfg.compare[0]} -> {cfg.compare[1]}" if cfg.compare else "none"),
        "threshold (detected: score >= threshold)": cfg.threshold,
        "C-F1 rule": cfg.cf1,
        "O-P/O-R pooling rule": cfg.overall,
        "LVIS federated evaluation": str(t1["federated"].dropna().iloc[0]) if "federated" in t1 else "off",
        "bootstrap resamples / seed": f"{cfg.n_boot} / {cfg.seed}",
        "center-bias control in the statistics": _control_source(cfg) or "none",
        "the paper's published rows in Table 1": f"{'shown' if t1_published else 'not shown'} ({why})",
        "stage log (status computed or cached, seconds)": out / "stages.json",
    }
    summary["object table (one row per object)"] = out / "objects.parquet"
    summary["image table (one row per image)"] = out / "images.csv"
    from salanalysis.report_sections import GallerySection, class_drilldown

    if gallery is None:
        why = next((w for what, w in run.not_produced if what.startswith("Gallery")), "no gallery was made")
        gal = GallerySection(None, reason=why)
    else:
        gal_table = _write_table(run, "gallery_objects", gallery[0].drop(columns=["file"]).drop_duplicates("ann_id"),
                                 "The gallery's objects: outcome, rule, class and values (thumbnails in the report).")
        gal = GallerySection(gallery[0], gallery[1], files=[*gal_table, *gallery_files])
    classes, classes_files = None, []
    model = cfg.primary or (cfg.scores[0].name if cfg.scores else None)
    per_class = met.tables["per_class"]
    if model is not None and (per_class["model"] == model).any():
        cmp_cat = (cmp or {}).get("compare_categories")
        classes = class_drilldown(per_class, model=model, classwise=st.get("classwise"), compare=cmp_cat,
                                  gallery=gallery[0] if gallery is not None else None)
        classes_files = _write_table(run, "classes", classes,
                                     "One row per class of the primary score set: AP, positives, prevalence, "
                                     "chance AP, class means, Fig. 4 delta and verdict.")
    report_path = out / "report.html"
    write_report(report_path, title="salanalysis reproduce: visual attention and multi-label classification",
                 summary=summary, inputs=_inputs_display(inputs),
                 stages=_stages_display(run.records, _known_paths(cfg, out), show),
                 figures=figures, tables=tables, not_produced=run.not_produced, notes=notes, base=out,
                 inputs_files=inputs_files, findings=findings, diagnostics=diagnostics, gallery=gal,
                 classes=classes, classes_files=classes_files, reading=_reading(cfg))
    run.files.append(report_path)
    run.cache.prune(run.keys)
    return ReproduceResult(out, run.records, run.files, run.not_produced, report_path)
