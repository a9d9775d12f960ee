"""The stages of :func:`salanalysis.reproduce.reproduce`, each a thin call of the module that owns it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.config import BUILTIN_SALIENCY, BUILTIN_SCORES, Config
from salanalysis.errors import InputError
from salanalysis.io import jsonable
from salanalysis.reproduce.cache import (
    StageData,
    file_digest,
    stage_key,
)
from salanalysis.reproduce.run import STAGES, Runner, StageRecord


def _input_rows(run: Runner) -> pd.DataFrame:
    """Provenance and counts of every input (computed in the ``inputs`` stage)."""
    cfg, ann = run.cfg, run.ann
    inst = ann.instances
    n_crowd = int(inst["iscrowd"].sum())
    rows = []

    def add(kind, name, label, origin, digest, item, value):
        rows.append({"kind": kind, "name": name, "label": label, "origin": origin,
                     "sha256": digest[:16], "item": item, "value": value})

    dig = run.ann_digest
    for item, value in (("images", len(ann.images)), ("instances (non-crowd)", len(inst) - n_crowd),
                        ("instances (crowd)", n_crowd), ("categories listed", len(ann.categories)),
                        ("categories present", int(inst["category_id"].nunique()))):
        add("annotations", "annotations", "COCO instances", str(cfg.annotations), dig, item, int(value))
    for spec, sc in zip(cfg.scores, run.score_sets):
        origin = BUILTIN_SCORES[spec.builtin] if spec.builtin else str(spec.path)
        digest = run.score_digest(spec)
        digest = "builtin" if spec.builtin else digest
        add("scores", spec.name, spec.label or spec.name, origin, digest, "images scored",
            int(len(ann.images) - sc.n_filled))
        add("scores", spec.name, spec.label or spec.name, origin, digest, "images filled with 0",
            int(sc.n_filled))
    for spec in cfg.saliency:
        origin = BUILTIN_SALIENCY[spec.builtin] if spec.builtin else str(spec.path)
        if spec.builtin:
            add("saliency", spec.name, spec.label or spec.name, origin, "builtin", "images with map",
                len(ann.images))
        else:
            src = spec.map_source()
            matched = src.match(ann.images)
            add("saliency", spec.name, spec.label or spec.name, origin, run.source_digest(spec),
                "map files", src.n_files)
            add("saliency", spec.name, spec.label or spec.name, origin, run.source_digest(spec),
                "images with map", int(matched.notna().sum()))
    for name, p in cfg.cam_checkpoints.items():
        add("checkpoint", name, run.cfg.labels().get(name, name), str(p), file_digest(p, run.digests),
            "bytes", int(p.stat().st_size))
    if cfg.cam_output is not None:
        add("cam", "cam", "CAM output", str(cfg.cam_output),
            file_digest(cfg.cam_output / "cam_manifest.json", run.digests), "examples",
            len(_read_cam_manifest(cfg.cam_output)))
    df = pd.DataFrame(rows)
    df["value"] = df["value"].astype(np.int64)
    return df


def _with_object_counts(inputs: pd.DataFrame, meta: dict, n_objects: int) -> pd.DataFrame:
    """Add the object table's counts (objects without a map, zero-area masks, ...) to the inputs."""
    rows = []
    ann = inputs[inputs["kind"] == "annotations"].iloc[0]
    base = {"kind": "annotations", "name": "annotations", "label": ann["label"], "origin": ann["origin"],
            "sha256": ann["sha256"]}
    rows.append({**base, "item": "objects in the object table", "value": n_objects})
    for key, item in (("n_zero_area", "objects with a zero-area mask"),
                      ("n_clipped", "masks clipped to the image"),
                      ("n_dropped_polygons", "degenerate polygons ignored")):
        if key in meta:
            rows.append({**base, "item": item, "value": int(meta[key])})
    sal = inputs[inputs["kind"] == "saliency"].drop_duplicates("name")
    note_items = {"stretched": "maps stretched to another aspect ratio", "constant": "constant maps (all zeros)",
                  "alpha_ignored": "maps with an ignored alpha channel",
                  "colour_converted": "colour maps converted to gray"}
    for _, r in sal.iterrows():
        base_s = {"kind": "saliency", "name": r["name"], "label": r["label"], "origin": r["origin"],
                  "sha256": r["sha256"]}
        if r["name"] in meta.get("missing_maps", {}):
            rows.append({**base_s, "item": "objects without a map (NaN)",
                         "value": int(meta["missing_maps"][r["name"]])})
        for key, item in note_items.items():
            n = int(meta.get("map_notes", {}).get(r["name"], {}).get(key, 0))
            if n:
                rows.append({**base_s, "item": item, "value": n})
    out = pd.concat([inputs, pd.DataFrame(rows)], ignore_index=True)
    out["value"] = out["value"].astype(np.int64)
    order = {"annotations": 0, "scores": 1, "saliency": 2, "checkpoint": 3, "cam": 4}
    rank = out["kind"].map(order).to_numpy() * 1000 + out["name"].map(
        {n: i for i, n in enumerate(dict.fromkeys(out["name"]))}).to_numpy()
    return out.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


# --------------------------------------------------------------- the stages
def _stage_inputs(run: Runner) -> StageData:
    params = {"annotations": run.ann_digest,
              "scores": [(s.name, s.label, run.score_digest(s)) for s in run.cfg.scores],
              "saliency": [(s.name, s.label, run.source_digest(s)) for s in run.cfg.saliency],
              "checkpoints": {k: file_digest(p, run.digests) for k, p in run.cfg.cam_checkpoints.items()}}
    return run.stage("inputs", params, [], lambda work: StageData({"inputs": _input_rows(run)}))


def _stage_maps(run: Runner) -> dict[str, Path | None]:
    """Where each saliency source's maps are: its folder, or None for a built-in source.

    Built-in sources (the center bias) depend only on the image size: the objects stage
    computes them, one map per image size, so nothing is written or cached here
    (``salanalysis saliency baseline`` writes such maps to a folder when asked).
    """
    builtins = [s for s in run.cfg.saliency if s.builtin]
    params = {"sources": [(s.name, s.builtin) for s in builtins], "annotations": run.ann_digest}

    def compute(work: Path) -> StageData:
        return StageData(meta={"built_in": {s.name: s.builtin for s in builtins}})

    run.stage("maps", params, [], compute,
              note=lambda d: (f"{len(builtins)} built-in source(s), computed per image size in the objects stage"
                              if builtins else "none needed"))
    return {s.name: (None if s.builtin else s.path) for s in run.cfg.saliency}


def _stage_objects(run: Runner, map_dirs: dict[str, Path | None]) -> StageData:
    cfg = run.cfg
    params = {"threshold": cfg.threshold, "annotations": run.ann_digest,
              "saliency": [(s.name, run.source_digest(s)) for s in cfg.saliency],
              "scores": [(s.name, run.score_digest(s)) for s in cfg.scores]}

    def compute(work: Path) -> StageData:
        from salanalysis.objects import compute_objects

        sources = {s.name: s.map_source(map_dirs[s.name]) for s in cfg.saliency}
        res = compute_objects(run.ann, sources, run.score_sets,
                              threshold=cfg.threshold, jobs=cfg.jobs or None, progress=run.progress)
        counts = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)
                  if f.name not in ("objects", "images")}
        return StageData({"objects": res.objects, "images": res.images}, jsonable(counts))

    def note(d: StageData) -> str:
        miss = d.meta.get("missing_maps", {})
        text = f"{len(d.tables['objects'])} objects"
        if miss:
            text += "; without a map: " + ", ".join(f"{k} {v}" for k, v in miss.items())
        return text

    return run.stage("objects", params, ["maps"], compute, note)


def _score_params(run: Runner) -> dict:
    """What a score-based stage depends on: the annotation file and every score set."""
    return {"annotations": run.ann_digest,
            "scores": [(s.name, run.score_digest(s)) for s in run.cfg.scores]}


def _stage_metrics(run: Runner) -> StageData:
    cfg = run.cfg
    # "auto" is a function of the annotation file, whose digest is in the key
    params = {"rules": cfg.rules.to_dict(), "n_boot": cfg.n_boot, "seed": cfg.seed,
              "published_rows": cfg.published_rows, **_score_params(run)}

    def compute(work: Path) -> StageData:
        from salanalysis import metrics
        from salanalysis.metrics.table import _table1

        # Table 1 and, from the same resamples, each class's AP interval (withheld below
        # metrics.MIN_POS_INTERVAL positives, where no interval held its coverage)
        t1, pc_boot, pc_tables = _table1(run.ann, run.score_sets, cfg.rules, n_boot=cfg.n_boot, seed=cfg.seed,
                                         published=cfg.show_published(run.ann), jobs=None, per_class=True)
        per = []
        for s in run.score_sets:
            pc = pc_tables[s.name].copy()
            if cfg.n_boot > 0:
                pc["AP_low"] = pc_boot[s.name]["AP_low"].to_numpy()
                pc["AP_high"] = pc_boot[s.name]["AP_high"].to_numpy()
            pc.insert(0, "model", s.name)
            per.append(pc)
        return StageData({"table1": t1, "per_class": pd.concat(per, ignore_index=True),
                          "excluded_classes": metrics.excluded_classes(run.ann, cfg.rules)})

    return run.stage("metrics", params, [], compute)


def _is_demo(cfg: Config) -> bool:
    from salanalysis.demo import demo_paths

    return cfg.source == "bundled demo" or cfg.annotations.resolve() == demo_paths().annotations.resolve()


def _control_source(cfg: Config) -> str | None:
    return next((s.name for s in cfg.saliency if s.builtin == "center-bias"), None)


def _stage_stats(run: Runner, objects: pd.DataFrame, per_class: pd.DataFrame) -> StageData:
    cfg = run.cfg
    params = {"n_boot": cfg.n_boot, "seed": cfg.seed, "control": _control_source(cfg)}

    def compute(work: Path) -> StageData:
        from salanalysis import stats

        ap = per_class[["model", "category_id", "AP", "prevalence", "AP_norm", "AUC"]]
        tables = stats.stats_tables(objects, ap, models=[s.name for s in cfg.scores],
                                    control_source=_control_source(cfg), n_boot=cfg.n_boot, seed=cfg.seed)
        return StageData(dict(tables))

    return run.stage("stats", params, ["objects", "metrics"], compute)


def _stage_clutter(run: Runner) -> StageData:
    cfg = run.cfg
    params = {"k": cfg.clutter_k, "min_images": cfg.min_images, "k_rule": cfg.clutter_k_rule, "n_boot": cfg.n_boot,
              "seed": cfg.seed, "compare": cfg.compare, "rules": cfg.rules.to_dict(), **_score_params(run)}

    def compute(work: Path) -> StageData:
        from salanalysis import clutter

        kws: dict[str, Any] = {"n_boot": cfg.n_boot, "seed": cfg.seed, "rules": cfg.rules}
        if cfg.min_images:
            kws["min_images"] = cfg.min_images
        pairs = [] if cfg.compare is None else [tuple(run.scores_by_name(n).name for n in cfg.compare)]
        cm, trend, diffs = clutter.clutter_all(run.ann, run.score_sets, pairs, k=cfg.clutter_k or None,
                                               k_rule=cfg.clutter_k_rule, **kws)  # one bootstrap for all
        tables = {"clutter_map": cm, "objects_histogram": clutter.objects_histogram(run.ann), "clutter_trend": trend}
        if diffs:
            tables["clutter_difference"] = diffs[0]
        for t in tables.values():  # the cut-off as chosen, in every table
            for key in ("k_rule", "k_chosen", "warning"):
                if key in cm.attrs:
                    t.attrs[key] = cm.attrs[key]
        return StageData(tables)

    return run.stage("clutter", params, [], compute)


def _stage_compare(run: Runner, objects: pd.DataFrame) -> StageData | None:
    cfg = run.cfg
    if cfg.compare is None:
        run.records.append(StageRecord("compare", "skipped", note="fewer than two score sets"))
        return None
    from salanalysis import compare

    # the test is part of the key: tables cached before the permutation test are recomputed
    params = {"n_boot": cfg.n_boot, "seed": cfg.seed, "compare": cfg.compare, "rules": cfg.rules.to_dict(),
              "test": compare.TEST_NAME, "n_perm": compare.DEFAULT_N_PERM, "adjust": "bh", **_score_params(run)}

    def compute(work: Path) -> StageData:

        a, b = (run.scores_by_name(n) for n in cfg.compare)
        table = compare.compare_categories(run.ann, a, b, n_boot=cfg.n_boot, seed=cfg.seed, objects=objects,
                                           rules=cfg.rules)
        return StageData({"compare_categories": table, "compare_summary": compare.compare_summary(table)})

    return run.stage("compare", params, ["objects"], compute)


def _read_cam_manifest(folder: Path) -> list[dict]:
    from salanalysis.io import read_json

    path = folder / "cam_manifest.json"
    records = read_json(path)
    if not isinstance(records, list):
        raise InputError("CAM manifest: expected a list of examples", path)
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not {"image", "models"} <= set(r):
            raise InputError(f"CAM manifest: example {i} lacks 'image' or 'models'", path)
        for m in r["models"]:
            if not isinstance(m, dict) or not {"model", "cam", "confidence"} <= set(m):
                raise InputError(f"CAM manifest: example {i} has a model without model, cam or confidence",
                                 path)
        for ref in [r["image"], *(m["cam"] for m in r["models"])]:  # relative, inside the folder
            text = str(ref)
            inside = "\x00" not in text and not Path(text).is_absolute()
            if inside:
                try:
                    (folder / text).resolve().relative_to(folder.resolve())
                except ValueError:
                    inside = False
            if not inside:
                raise InputError(f"CAM manifest: example {i} names {text!r}, not a path inside the "
                                 "CAM folder", path)
    return records


def _stage_cam(run: Runner) -> tuple[list[dict], Path] | None:
    cfg = run.cfg
    if cfg.cam_output is not None:
        records = _read_cam_manifest(cfg.cam_output)
        run.records.append(StageRecord("cam", "read", note=f"{len(records)} examples from {cfg.cam_output}"))
        return records, cfg.cam_output
    if not cfg.cam_checkpoints:
        run.records.append(StageRecord("cam", "skipped", note="no checkpoints configured"))
        run.not_produced.append(("Fig. 5 (class activation maps)",
                                 "no model checkpoints are configured ([cam] checkpoints or [cam] output), "
                                 "so there are no CAMs to show"))
        return None
    names = list(cfg.cam_checkpoints)
    params = {"checkpoints": [(k, file_digest(p, run.digests)) for k, p in cfg.cam_checkpoints.items()],
              "threshold": cfg.threshold, "max_images": cfg.cam_max_images, "input_size": cfg.cam_input_size,
              "images": str(cfg.images), "annotations": run.ann_digest}

    def compute(work: Path) -> StageData:
        from salanalysis.dualstream import cam as cam_mod  # torch, only here

        cam_mod.run_cams([(n, cfg.cam_checkpoints[n]) for n in names], run.ann, cfg.images, work / "cam",
                         threshold=cfg.threshold, max_images=cfg.cam_max_images,
                         input_size=cfg.cam_input_size, progress=run.progress)
        return StageData(files={"cam": work / "cam"})

    data = run.stage("cam", params, [], compute, writes_files=True)
    return _read_cam_manifest(data.files["cam"]), data.files["cam"]


def _stage_gallery(run: Runner, objects: pd.DataFrame) -> tuple[pd.DataFrame, Path] | None:
    """The gallery of detected and missed objects of the primary model (needs ``[inputs] images``)."""
    cfg = run.cfg
    model = cfg.primary or (cfg.scores[0].name if cfg.scores else None)
    if cfg.images is None or model is None or f"detected_{model}" not in objects.columns:
        why = "no images folder is configured ([inputs] images)" if cfg.images is None else "no score set"
        run.records.append(StageRecord("gallery", "skipped", note=why))
        run.not_produced.append(("Gallery of detected and missed objects", why))
        return None
    from salanalysis.gallery import available_images

    at_hand = available_images(run.ann, cfg.images)
    params = {"model": model, "images": str(cfg.images), "at_hand": stage_key(at_hand),
              "objects": run.keys.get("objects"), "saliency": [(s.name, run.source_digest(s)) for s in cfg.saliency if not s.builtin],
              "annotations": run.ann_digest}

    def compute(work: Path) -> StageData:
        from salanalysis.gallery import render_gallery, select_gallery

        sel = select_gallery(objects, model, image_ids=at_hand)
        res = render_gallery(sel, run.ann, cfg.images, work / "gallery",
                             saliency={s.name: s.map_source(s.path) for s in cfg.saliency if not s.builtin})
        return StageData(files={"gallery": work / "gallery"}, meta={"missing": res.missing_images})

    data = run.stage("gallery", params, ["objects"], compute, writes_files=True)
    from salanalysis.io import read_table

    root = data.files["gallery"]
    return read_table(root / "gallery.csv"), root


# ------------------------------------------------------------------ figures
def _figure_context(cfg: Config, objects: pd.DataFrame, cam_root: Path | None = None,
                    gallery_root: Path | None = None):
    from salanalysis.figures import FigureContext

    variables = ["area_frac", "center_dist"] + [f"sal_max_{s.name}" for s in cfg.saliency
                                                if f"sal_max_{s.name}" in objects.columns]
    return FigureContext(labels=cfg.labels(), models=[s.name for s in cfg.scores], primary=cfg.primary,
                         compare=cfg.compare, variables=variables, threshold=cfg.threshold, n_boot=cfg.n_boot,
                         cam_root=cam_root, gallery_root=gallery_root)


def _draw_figures(run: Runner, work: Path, tables: dict[str, pd.DataFrame],
                  cam: tuple[list[dict], Path] | None, gallery: tuple[pd.DataFrame, Path] | None = None) -> StageData:
    from salanalysis.figures import cam_table, render_figures

    failed = {}
    tables = dict(tables)
    if cam is not None and not cam[0]:
        failed["fig5_cam"] = "the CAM run selected no image where model A misses a ground-truth class that model B detects"
    elif cam is not None:
        tables["cam_manifest"] = cam_table(cam[0])
    if gallery is not None:
        tables["gallery"] = gallery[0]
    drawn = render_figures(tables, _figure_context(run.cfg, tables["objects"], cam[1] if cam else None,
                                                   gallery[1] if gallery else None), work)
    files = {p.name: p for paths in drawn.files.values() for p in paths}
    return StageData(files=files, meta={"captions": drawn.captions, "failed": {**failed, **drawn.failed}})


def _stage_figures(run: Runner, tables: dict[str, pd.DataFrame], cam, gallery=None) -> StageData:
    cfg = run.cfg
    params = {"labels": cfg.labels(), "primary": cfg.primary, "compare": cfg.compare,
              "order": [s.name for s in cfg.scores], "plotting": STAGES["figures"],
              "cam": None if cam is None else stage_key(cam[0], str(cam[1]))}
    upstream = [u for u in ("objects", "metrics", "stats", "clutter", "compare", "gallery") if u in run.keys]
    return run.stage("figures", params, upstream, lambda work: _draw_figures(run, work, tables, cam, gallery),
                     note=lambda d: f"{len(d.meta['captions'])} figures", writes_files=True)


