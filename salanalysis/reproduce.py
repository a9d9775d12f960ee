"""One command from a configuration to every figure, table and the report.

:func:`reproduce` runs the stages

    inputs -> maps (built-in saliency) -> objects -> metrics -> stats -> clutter
    -> compare -> cam -> figures -> report

each a thin call of the module that owns the computation
(:mod:`~salanalysis.objects`, :mod:`~salanalysis.metrics`,
:mod:`~salanalysis.stats`, :mod:`~salanalysis.clutter`,
:mod:`~salanalysis.compare`, :mod:`~salanalysis.plotting`,
:mod:`~salanalysis.report`), and writes into one output folder::

    OUT/report.html               one self-contained page: figures, tables, inputs, gaps
    OUT/config.resolved.toml      the configuration as run (absolute paths, defaults)
    OUT/stages.json               stage log: key, status (computed | cached | skipped | read), seconds
    OUT/objects.parquet           the object table; OUT/images.csv the image table
    OUT/tables/NAME.{csv,md,tex}  every result table (CSV: fractions, full precision)
    OUT/figures/NAME.{pdf,png}    every figure (PDF with TrueType fonts, PNG at 300 dpi)
    OUT/.cache/                   stage results, reused while inputs and parameters match

Cache
-----
A stage's key is the SHA-256 of its name and version, its parameters, the
content digests of the input files it reads (annotation file, score files,
every map file of a saliency folder, checkpoints) and the keys of the stages it
uses. When an entry with that key exists the stage is not run again (``cached``
in ``stages.json``), unless ``force``. Entries are written atomically (a
temporary folder renamed into place); older entries of a stage are removed
once a run finishes.

Everything a user can get wrong in the configuration is checked by
:mod:`salanalysis.config` before any stage runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salanalysis import __version__
from salanalysis.config import BUILTIN_SALIENCY, BUILTIN_SCORES, Config, dump_toml
from salanalysis.errors import InputError
from salanalysis.io import write_json, write_table, write_text

__all__ = ["StageRecord", "ReproduceResult", "reproduce", "STAGES", "FIGURES", "TABLES"]

#: Stage names, in order, with the version of their computation (bump to invalidate caches).
STAGES: dict[str, int] = {
    "inputs": 1,
    "maps": 1,
    "objects": 1,
    "metrics": 1,
    "stats": 1,
    "clutter": 1,
    "compare": 1,
    "cam": 1,
    "figures": 1,
}

#: Modules whose source code is part of a stage's cache key.
_STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "inputs": ("salanalysis.coco", "salanalysis.scores", "salanalysis.score_baselines", "salanalysis.maps"),
    "maps": ("salanalysis.baselines",),
    "objects": ("salanalysis.objects", "salanalysis.maps"),
    "metrics": ("salanalysis.metrics",),
    "stats": ("salanalysis.stats",),
    "clutter": ("salanalysis.clutter", "salanalysis.metrics"),
    "compare": ("salanalysis.compare", "salanalysis.metrics"),
    "cam": ("salanalysis.dualstream.cam",),
    "figures": ("salanalysis.plotting", "salanalysis.reproduce"),
}

#: Figure files (OUT/figures/NAME.{pdf,png}) and what they show.
FIGURES: dict[str, str] = {
    "fig2_tpfn": "Fig. 2: detected (tp) vs missed (fn) objects",
    "fig_classwise": "Sec. 3.2: class means vs class AP",
    "fig3_clutter": "Fig. 3: mAP vs objects per image, and the histogram",
    "fig4_category_delta": "Fig. 4: per-category AP difference",
    "fig5_cam": "Fig. 5: class activation maps",
}

#: Table files (OUT/tables/NAME.{csv,md,tex}) and what they hold.
TABLES: dict[str, str] = {
    "inputs": "Inputs: provenance and counts",
    "table1": "Table 1: multi-label metrics (with the paper's published rows)",
    "per_class": "Per-class AP, precision, recall, F1 of every score set",
    "tpfn_descriptives": "Fig. 2 numbers: n, mean, SD, SEM, 95% CI of detected and missed objects",
    "tpfn_tests": "Fig. 2 tests: Student and Welch t, Mann-Whitney U, Cohen's d, image-clustered tests",
    "classwise": "Class-wise means and AP",
    "classwise_correlations": "Class-wise correlations with AP (Pearson, Spearman, partial)",
    "detection_models": "Logistic models of detection (odds ratio per SD, image-clustered CIs)",
    "clutter_map": "Fig. 3a numbers: mAP per objects-per-image group, smoothed, bootstrap bands",
    "clutter_difference": "mAP difference (B - A) per group with paired bootstrap bands",
    "objects_histogram": "Fig. 3b numbers: images per number of objects",
    "compare_categories": "Fig. 4 numbers: per-category AP of A and B, delta and paired 95% CI",
    "compare_summary": "Fig. 4 summary: categories improved / worsened / within noise, delta vs size",
}


@dataclass
class StageRecord:
    """One line of the stage log."""

    stage: str
    status: str  # computed | cached | skipped | read (given outputs, e.g. [cam] output)
    key: str = ""
    seconds: float = 0.0
    note: str = ""


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


# ------------------------------------------------------------------ digests
def _file_digest(path: Path, memo: dict[str, str]) -> str:
    k = str(path)
    if k not in memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        memo[k] = h.hexdigest()
    return memo[k]


def _dir_digest(path: Path, memo: dict[str, str]) -> str:
    from salanalysis.maps import MAP_EXTENSIONS

    k = "dir:" + str(path)
    if k not in memo:
        h = hashlib.sha256()
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.is_file() and Path(entry.name).suffix.lower() in MAP_EXTENSIONS:
                h.update(entry.name.encode())
                h.update(_file_digest(Path(entry.path), memo).encode())
        memo[k] = h.hexdigest()
    return memo[k]


def _key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    return v


# -------------------------------------------------------------------- cache
@dataclass
class _StageData:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # name -> file inside the entry


class _Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:24]

    def load(self, stage: str, key: str) -> _StageData | None:
        d = self.entry(stage, key)
        manifest = d / "manifest.json"
        if not manifest.is_file():
            return None
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            if m.get("key") != key:
                return None
            tables = {}
            for name, attrs in m["tables"].items():
                df = pd.read_parquet(d / f"{name}.parquet")
                df.attrs = attrs
                tables[name] = df
            files = {name: d / rel for name, rel in m["files"].items()}
            if not all(p.exists() for p in files.values()):
                return None
            return _StageData(tables, m["meta"], files)
        except Exception:  # a damaged entry is recomputed, never trusted
            return None

    def store(self, stage: str, key: str, data: _StageData, workdir: Path | None = None) -> _StageData:
        final = self.entry(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            return self._store(stage, key, data, final, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _store(self, stage: str, key: str, data: _StageData, final: Path, tmp: Path) -> _StageData:
        tables_meta = {}
        for name, df in data.tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
            tables_meta[name] = _jsonable(dict(df.attrs))
        files = {}
        for name, p in data.files.items():
            p = Path(p)
            rel = p.relative_to(tmp) if p.is_relative_to(tmp) else None
            if rel is None:
                rel = Path("files") / p.name
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, tmp / rel)
            files[name] = str(rel)
        manifest = {"stage": stage, "key": key, "version": __version__, "tables": tables_meta,
                    "files": files, "meta": _jsonable(data.meta)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return _StageData(data.tables, data.meta, {n: final / r for n, r in files.items()})

    def workdir(self, stage: str) -> Path:
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))

    def prune(self, keep: dict[str, str]) -> None:
        for stage, key in keep.items():
            parent = self.root / stage
            if not parent.is_dir():
                continue
            for d in parent.iterdir():
                if d.is_dir() and d.name != key[:24]:
                    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------- run
class _Run:
    def __init__(self, config: Config, out: Path, force: bool, progress: bool,
                 log: Callable[[str], None] | None) -> None:
        self.cfg = config
        self.out = out
        self.force = force
        self.progress = progress
        self.log = log or (lambda s: None)
        self.cache = _Cache(out / ".cache")
        self.digests: dict[str, str] = {}
        self.records: list[StageRecord] = []
        self.keys: dict[str, str] = {}
        self.not_produced: list[tuple[str, str]] = []
        self.files: list[Path] = []

    # ---- lazily loaded inputs (only when a stage must be computed)
    @cached_property
    def ann(self):
        from salanalysis.coco import Annotations

        return Annotations.load(self.cfg.annotations)

    @cached_property
    def score_sets(self) -> list:
        from salanalysis.score_baselines import class_prior_scores
        from salanalysis.scores import read_scores

        out = []
        for s in self.cfg.scores:
            if s.builtin == "class-prior":
                out.append(class_prior_scores(self.ann, name=s.name))
            else:
                sc = read_scores(s.path, self.ann, name=s.name, logits=s.logits)
                out.append(sc if sc.name == s.name else dataclasses.replace(sc, name=s.name))
        return out

    def scores_by_name(self, name: str):
        return next(s for s in self.score_sets if s.name == name)

    # ---- digests of inputs
    @property
    def ann_digest(self) -> str:
        return _file_digest(self.cfg.annotations, self.digests)

    def score_digest(self, spec) -> str:
        if spec.builtin:
            return f"builtin:{spec.builtin}:{self.ann_digest}"
        return f"{_file_digest(spec.path, self.digests)}:logits={spec.logits}"

    def source_digest(self, spec) -> str:
        if spec.builtin:
            return f"builtin:{spec.builtin}:{self.ann_digest}"
        return _dir_digest(spec.path, self.digests)

    def code_digest(self, stage: str) -> list[str]:
        """Digests of the source files of the modules a stage calls (code changes invalidate it)."""
        import importlib.util

        out = []
        for mod in _STAGE_MODULES.get(stage, ()):
            try:
                spec = importlib.util.find_spec(mod)
            except (ImportError, ValueError):
                spec = None
            origin = getattr(spec, "origin", None) if spec is not None else None
            out.append(_file_digest(Path(origin), self.digests) if origin and Path(origin).is_file()
                       else f"{mod}:unavailable")
        return out

    # ---- the stage runner
    def stage(self, name: str, params: dict, upstream: list[str], compute: Callable[[Path], _StageData],
              note: Callable[[_StageData], str] | None = None, writes_files: bool = False) -> _StageData:
        key = _key(name, STAGES[name], __version__, params, [self.keys[u] for u in upstream],
                   self.code_digest(name))
        self.keys[name] = key
        t0 = time.perf_counter()
        data = None if self.force else self.cache.load(name, key)
        status = "cached"
        if data is None:
            status = "computed"
            self.log(f"[{name}] computing ...")
            if not writes_files:  # compute first: bad input fails before anything is created
                data = self.cache.store(name, key, compute(Path()))
            else:
                work = self.cache.workdir(name)
                try:
                    data = self.cache.store(name, key, compute(work), workdir=work)
                finally:
                    if work.exists():
                        shutil.rmtree(work, ignore_errors=True)
        rec = StageRecord(name, status, key[:12], time.perf_counter() - t0, note(data) if note else "")
        self.records.append(rec)
        self.log(f"[{name}] {status} in {rec.seconds:.2f} s {rec.note}".rstrip())
        return data


def _input_rows(run: _Run) -> pd.DataFrame:
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
            from salanalysis.maps import MapSource

            src = MapSource(spec.path, name=spec.name)
            matched = src.match(ann.images)
            add("saliency", spec.name, spec.label or spec.name, origin, run.source_digest(spec),
                "map files", src.n_files)
            add("saliency", spec.name, spec.label or spec.name, origin, run.source_digest(spec),
                "images with map", int(matched.notna().sum()))
    for name, p in cfg.cam_checkpoints.items():
        add("checkpoint", name, run.cfg.labels().get(name, name), str(p), _file_digest(p, run.digests),
            "bytes", int(p.stat().st_size))
    if cfg.cam_output is not None:
        add("cam", "cam", "CAM output", str(cfg.cam_output),
            _file_digest(cfg.cam_output / "cam_manifest.json", run.digests), "examples",
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
    for _, r in sal.iterrows():
        if r["name"] in meta.get("missing_maps", {}):
            rows.append({"kind": "saliency", "name": r["name"], "label": r["label"], "origin": r["origin"],
                         "sha256": r["sha256"], "item": "objects without a map (NaN)",
                         "value": int(meta["missing_maps"][r["name"]])})
    out = pd.concat([inputs, pd.DataFrame(rows)], ignore_index=True)
    out["value"] = out["value"].astype(np.int64)
    order = {"annotations": 0, "scores": 1, "saliency": 2, "checkpoint": 3, "cam": 4}
    rank = out["kind"].map(order).to_numpy() * 1000 + out["name"].map(
        {n: i for i, n in enumerate(dict.fromkeys(out["name"]))}).to_numpy()
    return out.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


# --------------------------------------------------------------- the stages
def _stage_inputs(run: _Run) -> _StageData:
    params = {"annotations": run.ann_digest,
              "scores": [(s.name, s.label, run.score_digest(s)) for s in run.cfg.scores],
              "saliency": [(s.name, s.label, run.source_digest(s)) for s in run.cfg.saliency],
              "checkpoints": {k: _file_digest(p, run.digests) for k, p in run.cfg.cam_checkpoints.items()}}
    return run.stage("inputs", params, [], lambda work: _StageData({"inputs": _input_rows(run)}))


def _stage_maps(run: _Run) -> dict[str, Path]:
    """Map folders of every saliency source (built-ins are computed into the cache)."""
    builtins = [s for s in run.cfg.saliency if s.builtin]
    params = {"sources": [(s.name, s.builtin) for s in builtins], "annotations": run.ann_digest}

    def compute(work: Path) -> _StageData:
        from salanalysis.baselines import write_center_bias_maps

        files = {}
        for s in builtins:
            if s.builtin == "center-bias":
                folder = work / s.name
                write_center_bias_maps(run.ann, folder)
                files[s.name] = folder
        return _StageData(files=files)

    data = run.stage("maps", params, [], compute,
                     note=lambda d: f"{len(builtins)} built-in source(s)" if builtins else "none needed",
                     writes_files=True)
    return {s.name: (data.files[s.name] if s.builtin else s.path) for s in run.cfg.saliency}


def _stage_objects(run: _Run, map_dirs: dict[str, Path]) -> _StageData:
    cfg = run.cfg
    params = {"threshold": cfg.threshold, "annotations": run.ann_digest,
              "saliency": [(s.name, run.source_digest(s)) for s in cfg.saliency],
              "scores": [(s.name, run.score_digest(s)) for s in cfg.scores]}

    def compute(work: Path) -> _StageData:
        from salanalysis.objects import compute_objects

        res = compute_objects(run.ann, {n: str(p) for n, p in map_dirs.items()}, run.score_sets,
                              threshold=cfg.threshold, jobs=cfg.jobs or None, progress=run.progress)
        counts = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)
                  if f.name not in ("objects", "images")}
        return _StageData({"objects": res.objects, "images": res.images}, _jsonable(counts))

    def note(d: _StageData) -> str:
        miss = d.meta.get("missing_maps", {})
        text = f"{len(d.tables['objects'])} objects"
        if miss:
            text += "; without a map: " + ", ".join(f"{k} {v}" for k, v in miss.items())
        return text

    return run.stage("objects", params, ["maps"], compute, note)


def _score_params(run: _Run) -> dict:
    """What a score-based stage depends on: the annotation file and every score set."""
    return {"annotations": run.ann_digest,
            "scores": [(s.name, run.score_digest(s)) for s in run.cfg.scores]}


def _stage_metrics(run: _Run) -> _StageData:
    cfg = run.cfg
    params = {"threshold": cfg.threshold, "cf1": cfg.cf1, "n_boot": cfg.n_boot, "seed": cfg.seed,
              **_score_params(run)}

    def compute(work: Path) -> _StageData:
        from salanalysis import metrics

        t1 = metrics.table1(run.ann, run.score_sets, cfg.rules, n_boot=cfg.n_boot, seed=cfg.seed,
                            published=True)
        per = []
        for s in run.score_sets:
            _, pc = metrics.evaluate(run.ann, s, cfg.rules)
            pc = pc.copy()
            pc.insert(0, "model", s.name)
            per.append(pc)
        return _StageData({"table1": t1, "per_class": pd.concat(per, ignore_index=True)})

    return run.stage("metrics", params, [], compute)


def _is_demo(cfg: Config) -> bool:
    from salanalysis.demo import demo_paths

    return cfg.source == "bundled demo" or cfg.annotations.resolve() == demo_paths().annotations.resolve()


def _control_source(cfg: Config) -> str | None:
    return next((s.name for s in cfg.saliency if s.builtin == "center-bias"), None)


def _stage_stats(run: _Run, objects: pd.DataFrame, per_class: pd.DataFrame) -> _StageData:
    cfg = run.cfg
    params = {"n_boot": cfg.n_boot, "seed": cfg.seed, "control": _control_source(cfg)}

    def compute(work: Path) -> _StageData:
        from salanalysis import stats

        ap = per_class[["model", "category_id", "AP"]]
        tables = stats.stats_tables(objects, ap, models=[s.name for s in cfg.scores],
                                    control_source=_control_source(cfg), n_boot=cfg.n_boot, seed=cfg.seed)
        return _StageData(dict(tables))

    return run.stage("stats", params, ["objects", "metrics"], compute)


def _stage_clutter(run: _Run) -> _StageData:
    cfg = run.cfg
    params = {"k": cfg.clutter_k, "min_images": cfg.min_images, "n_boot": cfg.n_boot, "seed": cfg.seed,
              "compare": cfg.compare, **_score_params(run)}

    def compute(work: Path) -> _StageData:
        from salanalysis import clutter

        kws: dict[str, Any] = {"n_boot": cfg.n_boot, "seed": cfg.seed}
        if cfg.min_images:
            kws["min_images"] = cfg.min_images
        cm = clutter.clutter_map(run.ann, run.score_sets, k=cfg.clutter_k or None, **kws)
        tables = {"clutter_map": cm, "objects_histogram": clutter.objects_histogram(run.ann)}
        if cfg.compare is not None:
            a, b = (run.scores_by_name(n) for n in cfg.compare)
            tables["clutter_difference"] = clutter.clutter_difference(run.ann, a, b, k=int(cm.attrs["k"]),
                                                                      **kws)
        return _StageData(tables)

    return run.stage("clutter", params, [], compute)


def _stage_compare(run: _Run, objects: pd.DataFrame) -> _StageData | None:
    cfg = run.cfg
    if cfg.compare is None:
        run.records.append(StageRecord("compare", "skipped", note="fewer than two score sets"))
        return None
    params = {"n_boot": cfg.n_boot, "seed": cfg.seed, "compare": cfg.compare, **_score_params(run)}

    def compute(work: Path) -> _StageData:
        from salanalysis import compare

        a, b = (run.scores_by_name(n) for n in cfg.compare)
        table = compare.compare_categories(run.ann, a, b, n_boot=cfg.n_boot, seed=cfg.seed, objects=objects)
        return _StageData({"compare_categories": table, "compare_summary": compare.compare_summary(table)})

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
    return records


def _stage_cam(run: _Run) -> tuple[list[dict], Path] | None:
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
    params = {"checkpoints": [(k, _file_digest(p, run.digests)) for k, p in cfg.cam_checkpoints.items()],
              "threshold": cfg.threshold, "max_images": cfg.cam_max_images, "input_size": cfg.cam_input_size,
              "images": str(cfg.images), "annotations": run.ann_digest}

    def compute(work: Path) -> _StageData:
        from salanalysis.dualstream import cam as cam_mod  # torch, only here

        cam_mod.run_cams([(n, cfg.cam_checkpoints[n]) for n in names], run.ann, cfg.images, work / "cam",
                         threshold=cfg.threshold, max_images=cfg.cam_max_images,
                         input_size=cfg.cam_input_size, progress=run.progress)
        return _StageData(files={"cam": work / "cam"})

    data = run.stage("cam", params, [], compute, writes_files=True)
    return _read_cam_manifest(data.files["cam"]), data.files["cam"]


# ------------------------------------------------------------------ figures
def _sal_variables(cfg: Config, objects: pd.DataFrame) -> list[str]:
    return ["area_frac", "center_dist"] + [f"sal_max_{s.name}" for s in cfg.saliency
                                           if f"sal_max_{s.name}" in objects.columns]


_PANEL = "abcdefghijklmnopqrstuvwxyz"


def _panel_title(var: str, labels: dict[str, str]) -> str:
    if var.startswith("sal_max_"):
        return f"max saliency:\n{labels.get(var[8:], var[8:])}"
    return {"area_frac": "object size", "center_dist": "distance to centre"}.get(var, var)


def _draw_figures(run: _Run, work: Path, objects: pd.DataFrame, st: dict[str, pd.DataFrame],
                  cl: dict[str, pd.DataFrame], cmp: dict[str, pd.DataFrame] | None,
                  cam: tuple[list[dict], Path] | None) -> _StageData:
    import matplotlib.pyplot as plt

    from salanalysis import plotting as P

    cfg = run.cfg
    labels = cfg.labels()
    colors = P.model_colors([s.name for s in cfg.scores])
    m = cfg.primary
    ml = labels.get(m, m)
    files: dict[str, Path] = {}
    meta: dict[str, Any] = {"captions": {}, "failed": {}}
    variables = _sal_variables(cfg, objects)

    def save(name: str, fig, caption: str) -> None:
        for p in P.save_figure(fig, work / name):
            files[f"{name}.{p.suffix[1:]}"] = p
        meta["captions"][name] = caption
        plt.close(fig)

    def attempt(name: str, draw: Callable[[], None]) -> None:
        try:
            with P.paper_style():
                draw()
        except (ValueError, InputError) as exc:
            plt.close("all")
            meta["failed"][name] = f"{type(exc).__name__}: {exc}"

    def fig2() -> None:
        desc, tests = st["tpfn_descriptives"], st["tpfn_tests"]
        nv = len(variables)
        fig, axes = P.new_figure("page", height=4.6, nrows=2, ncols=nv, squeeze=False)
        for j, var in enumerate(variables):
            P.plot_tpfn_means(desc, var, models=[m], tests=tests, ax=axes[0, j])
            P.plot_tpfn_distribution(objects, var, m, ax=axes[1, j])
            axes[0, j].set_title(f"({_PANEL[j]}) {_panel_title(var, labels)}", loc="left", pad=14)
        fig.tight_layout()
        n_ex = {v: int(desc[(desc.model == m) & (desc.variable == v)]["n_excluded_nan"].iloc[0])
                for v in variables}
        ex = "; ".join(f"{v}: {k} objects without a value left out" for v, k in n_ex.items() if k)
        save("fig2_tpfn", fig,
             f"Detected (true positive, tp) and missed (false negative, fn) objects of '{ml}' at score >= "
             f"{cfg.threshold}. Top: means with error bars of one standard error of the mean (as the paper); "
             f"ticks give n; above: Student's unpaired t (detected minus missed) and p. Bottom: the "
             f"distributions (violin; box = quartiles, white line = median; size on a log10 axis). "
             f"Size: mask area / image area; distance to centre: 0 at the centre, 1 at a corner; "
             f"saliency: maximum of the map (normalised to [0, 1]) inside the object's mask. "
             + (ex + "." if ex else ""))

    def classwise() -> None:
        cw, corr = st["classwise"], st["classwise_correlations"]
        if "model" in cw.columns:
            cw = cw[cw["model"] == m]
            corr = corr[corr["model"] == m]
        nv = len(variables)
        fig, axes = P.new_figure("page", height=2.4, nrows=1, ncols=nv, squeeze=False)
        for j, var in enumerate(variables):
            P.plot_classwise_scatter(cw, var, correlations=corr, ax=axes[0, j], color=colors[m])
            axes[0, j].set_title(f"({_PANEL[j]}) {_panel_title(var, labels)}", loc="left")
        fig.tight_layout()
        save("fig_classwise", fig,
             f"Per category: the mean over its objects (x) against the category's AP for '{ml}' (y); "
             f"line: least-squares fit; legend: Pearson r, p and the number of categories (Sec. 3.2). "
             f"Categories without a value (e.g. no object with a saliency map) are left out.")

    def fig3() -> None:
        cm = cl["clutter_map"]
        models = list(cfg.compare) if cfg.compare else [s.name for s in cfg.scores]
        fig, axes = P.new_figure("page", height=2.5, nrows=1, ncols=2)
        P.plot_clutter(cm, models=models, labels=labels, colors=colors, ax=axes[0])
        P.plot_objects_histogram(cl["objects_histogram"], ax=axes[1])
        axes[0].set_title("(a)", loc="left")
        axes[1].set_title("(b)", loc="left")
        fig.tight_layout()
        at = cm.attrs
        save("fig3_clutter", fig,
             f"(a) mAP of the images with a given number of (non-crowd) objects; lines: the paper's "
             f"moving average [1/3, 1/3, 1/3] with boundary padding; points: unsmoothed mAP; bands: "
             f"bootstrap 95% interval of the smoothed curve ({at.get('n_boot', cfg.n_boot)} resamples per "
             f"group). The last group holds every image with >= {at.get('k', '?')} objects. "
             f"(b) Images per number of objects.")

    def fig4() -> None:
        a, b = cfg.compare
        fig, ax = P.new_figure("page", height=2.8)
        P.plot_category_delta(cmp["compare_categories"], label_a=labels.get(a, a), label_b=labels.get(b, b),
                              color_a=colors[a], color_b=colors[b], ax=ax)
        fig.tight_layout()
        save("fig4_category_delta", fig,
             f"AP('{labels.get(b, b)}') - AP('{labels.get(a, a)}') per category, sorted; error bars: paired "
             f"bootstrap 95% interval ({cfg.n_boot} image resamples); a bar is coloured by the better model "
             f"only when its interval excludes 0, grey otherwise.")

    def fig5() -> None:
        records, root = cam
        fig = P.cam_figure(records, root=root, labels=labels)
        roles = {m.get("role", ""): labels.get(str(m["model"]), str(m["model"])) for m in records[0]["models"]}
        thr = records[0].get("threshold", cfg.threshold)
        who = (f"A = '{roles['A']}' misses (confidence < {thr}) and B = '{roles['B']}' detects"
               if {"A", "B"} <= set(roles) else "one model misses and the other detects")
        save("fig5_cam", fig,
             f"Class activation maps (Zhou et al. 2016) over images where {who} a ground-truth class (the "
             f"paper's Fig. 5 rule); first column: the image and the class; then each model's CAM (min-max "
             f"normalised, viridis) with its confidence for the class. First {min(len(records), 4)} of "
             f"{len(records)} selected examples.")

    if cam is not None and not cam[0]:
        meta["failed"]["fig5_cam"] = ("the CAM run selected no image where model A misses a ground-truth "
                                      "class that model B detects")
        cam = None
    attempt("fig2_tpfn", fig2)
    attempt("fig_classwise", classwise)
    attempt("fig3_clutter", fig3)
    if cmp is not None:
        attempt("fig4_category_delta", fig4)
    if cam is not None:
        attempt("fig5_cam", fig5)
    return _StageData(files=files, meta=meta)


def _stage_figures(run: _Run, objects, st, cl, cmp, cam) -> _StageData:
    cfg = run.cfg
    params = {"labels": cfg.labels(), "primary": cfg.primary, "compare": cfg.compare,
              "order": [s.name for s in cfg.scores], "plotting": STAGES["figures"],
              "cam": None if cam is None else _key(cam[0], str(cam[1]))}
    upstream = [u for u in ("objects", "stats", "clutter", "compare") if u in run.keys]
    return run.stage("figures", params, upstream,
                     lambda work: _draw_figures(run, work, objects, st, cl, cmp, cam),
                     note=lambda d: f"{len(d.meta['captions'])} figures", writes_files=True)


# ------------------------------------------------------------------ outputs
def _write_table(run: _Run, name: str, df: pd.DataFrame, caption: str,
                 md: str | None = None, tex: str | None = None) -> list[Path]:
    from salanalysis.report import table_latex, table_markdown

    base = run.out / "tables" / name
    paths = [write_table(df, base.with_suffix(".csv")),
             write_text(base.with_suffix(".md"), md if md is not None else table_markdown(df, caption)),
             write_text(base.with_suffix(".tex"), tex if tex is not None else table_latex(df, caption))]
    run.files += paths
    return paths


def _table1_display(t1: pd.DataFrame) -> pd.DataFrame:
    from salanalysis.metrics import METRICS

    def cell(r, k):
        v = r[k]
        if pd.isna(v):
            return "-"
        s = f"{100 * float(v):.1f}"
        lo, hi = r.get(f"{k}_low"), r.get(f"{k}_high")
        if lo is not None and not pd.isna(lo) and not pd.isna(hi):
            s += f" [{100 * float(lo):.1f}, {100 * float(hi):.1f}]"
        return s

    rows = [{"model": str(r["model"]), **{k: cell(r, k) for k in METRICS},
             "source": str(r.get("source", "computed"))} for _, r in t1.iterrows()]
    return pd.DataFrame(rows)


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
    from salanalysis.metrics import format_table
    from salanalysis.report import FigureEntry, TableEntry, table_html, write_report

    out = Path(out if out is not None else (config.out or "salanalysis_output")).absolute()
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", out)
    cfg = dataclasses.replace(config, out=out)
    run = _Run(cfg, out, force, progress, log)

    inputs = _stage_inputs(run).tables["inputs"]
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
    figs = _stage_figures(run, objects, st, cl, cmp, cam)

    # ---- outputs
    out.mkdir(parents=True, exist_ok=True)
    labels = cfg.labels()
    run.files.append(write_text(out / "config.resolved.toml", dump_toml(
        cfg.to_dict(), header=f"Resolved by salanalysis {__version__} reproduce (from {cfg.source}).\n"
        "Run again with: salanalysis reproduce --config config.resolved.toml")))
    run.files.append(write_table(objects, out / "objects.parquet"))
    run.files.append(write_table(images, out / "images.csv"))

    t1 = met.tables["table1"]
    t1_md = format_table(t1, "markdown")
    tables: list[TableEntry] = []
    produced: dict[str, pd.DataFrame] = {"inputs": inputs, "table1": t1, "per_class": met.tables["per_class"],
                                          **st, **cl, **(cmp or {})}
    for name, title in TABLES.items():
        if name not in produced:
            continue
        df = produced[name]
        caption = ""
        if name == "table1":
            caption = t1_md.strip().split("\n")[-1]
            paths = _write_table(run, name, df, caption, md=t1_md, tex=format_table(t1, "latex"))
            tables.append(TableEntry(name, title, caption, df, paths,
                                     html=table_html(_table1_display(df))))
            continue
        if name == "compare_categories" and cfg.compare:
            a, b = cfg.compare
            caption = f"A = '{labels.get(a, a)}', B = '{labels.get(b, b)}'; delta = AP_B - AP_A."
        paths = _write_table(run, name, df, caption)
        tables.append(TableEntry(name, title, caption, df, paths))
    for name in TABLES:
        if name not in produced:
            for ext in (".csv", ".md", ".tex"):
                (out / "tables" / f"{name}{ext}").unlink(missing_ok=True)
            if name in ("clutter_difference", "compare_categories", "compare_summary") and cfg.compare is None:
                run.not_produced.append((TABLES[name], "fewer than two score sets are configured"))

    figures: list[FigureEntry] = []
    captions = figs.meta["captions"]
    for name, title in FIGURES.items():
        if name in captions:
            paths = []
            for ext in ("pdf", "png"):
                dst = out / "figures" / f"{name}.{ext}"
                from salanalysis.io import atomic_path

                with atomic_path(dst) as tmp:
                    shutil.copyfile(figs.files[f"{name}.{ext}"], tmp)
                paths.append(dst)
            run.files += paths
            figures.append(FigureEntry(name, title, captions[name], paths[1], paths))
        else:
            for ext in ("pdf", "png"):
                (out / "figures" / f"{name}.{ext}").unlink(missing_ok=True)
            if name in figs.meta["failed"]:
                why = figs.meta["failed"][name]
                run.not_produced.append((title, why if name == "fig5_cam" and "Error:" not in why
                                         else f"drawing failed: {why}"))
            elif name == "fig4_category_delta" and cfg.compare is None:
                run.not_produced.append((title, "fewer than two score sets are configured"))

    stages_df = pd.DataFrame([dataclasses.asdict(r) for r in run.records])
    run.files.append(write_json(out / "stages.json", {"version": __version__, "force": force,
                                                      "stages": [dataclasses.asdict(r) for r in run.records]}))
    notes = []
    if _is_demo(cfg):
        notes = [
            "Bundled demo: 100 real COCO val2014 images. 'sample detections' are cocoapi's sample "
            "detection results (perturbed ground truth), not a model. The second score set is the "
            "class-prior baseline (not a model): every image scores a class by its prevalence in the "
            "annotation file, so its AP equals the prevalence. Only 2 of the 100 images have a SALICON "
            "ground-truth map, so the SALICON panels rest on few objects; the centre-bias source (a "
            "Gaussian at the image centre) is a control covering every image. With 100 images, every "
            "interval is wide: the demo shows the pipeline, not the paper's numbers.",
        ]
    mo = int(sum(obj.meta.get("missing_maps", {}).values()))
    if mo:
        notes.append("Objects without a saliency map (NaN, left out of saliency analyses): "
                     + ", ".join(f"{k}: {v}" for k, v in obj.meta["missing_maps"].items()) + ".")
    summary = {
        "configuration": cfg.source,
        "salanalysis version": __version__,
        "output folder": str(out),
        "score sets": ", ".join(f"{s.name} ({labels[s.name]})" for s in cfg.scores),
        "saliency sources": ", ".join(f"{s.name} ({labels[s.name]})" for s in cfg.saliency) or "none",
        "model of Fig. 2 and the class-wise analysis": f"{cfg.primary} ({labels[cfg.primary]})",
        "comparison (A -> B)": (f"{cfg.compare[0]} -> {cfg.compare[1]}" if cfg.compare else "none"),
        "threshold (detected: score >= threshold)": cfg.threshold,
        "C-F1 rule": cfg.cf1,
        "bootstrap resamples / seed": f"{cfg.n_boot} / {cfg.seed}",
        "centre-bias control in the statistics": _control_source(cfg) or "none",
    }
    report_path = out / "report.html"
    write_report(report_path, title="salanalysis reproduce: visual attention and multi-label classification",
                 summary=summary, inputs=inputs, stages=stages_df, figures=figures, tables=tables,
                 not_produced=run.not_produced, notes=notes, base=out)
    run.files.append(report_path)
    run.cache.prune(run.keys)
    return ReproduceResult(out, run.records, run.files, run.not_produced, report_path)
