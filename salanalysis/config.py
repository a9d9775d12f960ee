"""The ``reproduce`` configuration: one TOML file naming the data once.

A configuration is validated completely before any work starts: a missing
file, an unknown key or a bad value raises one
:class:`~salanalysis.errors.InputError` naming the configuration file and the
offending key. Relative paths are relative to the configuration file's folder.

Layout (every table optional except ``[inputs]`` and ``[scores]``)::

    [inputs]
    annotations = "instances_val2014.json"   # COCO instances file (required)
    images = "val2014"                       # image folder (Fig. 5 CAMs only)

    [saliency]                 # NAME = "MAP_DIR" (or a SALICON results JSON), or a table:
    salicon = "salicon/maps/val"
    [saliency.center]
    builtin = "center-bias"    # a map source the package computes (see BUILTIN_SALIENCY)
    label = "center-bias control"
    [saliency.tempsal]
    path = "tempsal_maps"      # a map folder or a SALICON results JSON (.json)
    pattern = "{stem}_final_bw"  # map names (see salanalysis.maps; default "{stem}")
    colour = "refuse"          # colour images: "refuse" (default) or "luminance"

    [scores]                   # NAME = "SCORE_FILE", or a table:
    [scores.baseline]
    path = "baseline_scores.csv"
    label = "ResNet-50 baseline"
    logits = false             # the file holds logits (a sigmoid is applied)
    [scores.prior]
    builtin = "class-prior"    # the class-prior baseline (not a model)

    [compare]                  # the two score sets of Fig. 3 and Fig. 4 (default: the first two)
    a = "baseline"             # reference
    b = "dualstream"

    [cam]                      # Fig. 5; either an existing CAM output folder ...
    output = "cams"            # (holding cam_manifest.json from `salanalysis cam`)
    # ... or two checkpoints (A, B) to compute CAMs from (needs torch and [inputs] images)
    checkpoints = { baseline = "baseline.pt", dualstream = "dualstream.pt" }
    max_images = 8             # CAMs rendered for at most this many images
    input_size = 224           # short side of the model input (the training scale)

    [analysis]
    threshold = 0.5            # score >= threshold: detected
    seed = 0                   # every bootstrap
    n_boot = 1000              # bootstrap resamples (0: no intervals)
    cf1 = "harmonic"           # or "mean-per-class"
    federated = "auto"         # LVIS federated evaluation: "auto" (when the images carry
                               # neg_category_ids / not_exhaustive_category_ids), "on", "off"
    overall = "all-predictions"  # O-P/O-R pool every prediction, or "classes-with-positives"
    clutter_k = 0              # tail group ">= K" of Fig. 3 (0: automatic)
    min_images = 0             # smallest group of Fig. 3 (0: the clutter module's default)
    clutter_k_rule = "min-images"  # or "three-groups": keep >= 3 groups of Fig. 3 when the data allow
    primary = "baseline"       # the model of Fig. 2 and the class-wise analysis (default: first)
    jobs = 0                   # worker processes for the object table (0: all cores)
    cluster = ""               # a Dask scheduler, "tcp://HOST:8786": object table and bootstraps
                               # on its workers (pip install 'salanalysis[dask]'; "" = this machine)

    [output]
    dir = "paper_output"       # overridden by --out
    published_rows = "auto"    # the paper's published rows in Table 1: "auto", true or false
    report_paths = "relative"  # the report's paths: relative to this file's folder, or "absolute"

    [limits]                   # raise a size limit of salanalysis.limits for this run
    pixels = 400000000         # (bootstrap, jobs, input_size, classes, cells likewise)

``published_rows``: ``"auto"`` (the default) adds the paper's published Table 1
rows only when the annotation file's categories are COCO's 80 (the same ids and
names, :func:`salanalysis.coco.is_coco80`), the class set the paper's numbers are
for; ``true`` adds them whatever the classes, ``false`` never.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salanalysis.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "BUILTIN_SALIENCY",
    "BUILTIN_SCORES",
    "SourceSpec",
    "ScoreSpec",
    "Config",
    "load_config",
    "config_from_dict",
    "demo_config",
    "dump_toml",
]

#: Saliency sources the package can compute itself (``builtin = ...``).
BUILTIN_SALIENCY = {"center-bias": "center-bias map (a Gaussian at the image center; a control, not human data)"}
#: Score sets the package can compute itself.
BUILTIN_SCORES = {
    "class-prior": "class-prior baseline (not a model): every image scored by the class prevalence "
    "in the annotation file; its AP equals the prevalence",
}

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SECTIONS = {"inputs", "saliency", "scores", "compare", "cam", "analysis", "output", "limits"}
_INPUT_KEYS = {"annotations", "images"}
_SOURCE_KEYS = {"path", "builtin", "label", "pattern", "colour"}
_SCORE_KEYS = {"path", "builtin", "label", "logits"}
_CAM_KEYS = {"output", "checkpoints", "max_images", "input_size"}
_ANALYSIS_DEFAULTS: dict[str, Any] = {
    "threshold": 0.5,
    "seed": 0,
    "n_boot": 1000,
    "cf1": "harmonic",
    "federated": "auto",
    "overall": "all-predictions",
    "clutter_k": 0,
    "min_images": 0,
    "clutter_k_rule": "min-images",
    "primary": "",
    "jobs": 0,
    "cluster": "",
}
#: [analysis] keys without a default value: the part of the dataset analysed (MetricRules).
_SUBSET_KEYS = {"image_ids", "categories"}
_OUTPUT_KEYS = {"dir", "published_rows", "report_paths"}


@dataclass(frozen=True)
class SourceSpec:
    """One saliency source: a map folder, a SALICON results JSON, or a built-in.

    ``pattern`` and ``colour``: the map pattern and colour rule of
    :class:`salanalysis.maps.MapSource` (saliency sources only).
    """

    name: str
    path: Path | None = None
    builtin: str | None = None
    label: str = ""
    pattern: str | None = None
    colour: str = "refuse"

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"label": self.label or self.name}
        if self.path is not None:
            d["path"] = str(self.path)
        if self.builtin is not None:
            d["builtin"] = self.builtin
        if self.pattern is not None:
            d["pattern"] = self.pattern
        if self.colour != "refuse":
            d["colour"] = self.colour
        return d

    def map_source(self, path: str | os.PathLike | None = None):
        """The :class:`~salanalysis.maps.MapSource` of this source (at ``path``, default its own).

        A built-in source without a ``path`` gives a :class:`~salanalysis.maps.SizeMapSource`:
        its maps are computed from the image sizes, nothing is written.
        """
        from salanalysis.maps import MapSource, SizeMapSource

        if path is None and self.path is None and self.builtin is not None:
            return SizeMapSource(self.name, self.builtin)

        return MapSource(path if path is not None else self.path, name=self.name, pattern=self.pattern,
                         colour=self.colour)


@dataclass(frozen=True)
class ScoreSpec(SourceSpec):
    """One score set: a score file or a built-in baseline."""

    logits: bool = False

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.path is not None:  # a file (never with a built-in): whether it holds logits
            d["logits"] = self.logits
        return d


@dataclass
class Config:
    """A validated ``reproduce`` configuration (absolute paths, defaults filled in).

    Attributes
    ----------
    source
        Where it came from: the configuration file, or ``"bundled demo"``.
    annotations, images
        The COCO instances file; the image folder (or ``None``).
    saliency, scores
        Saliency sources and score sets, in the configured order.
    compare
        Names (A, B) of the two score sets compared in Fig. 3 and 4, or ``None``
        when fewer than two score sets are configured.
    cam_output, cam_checkpoints, cam_max_images, cam_input_size
        An existing CAM output folder, or two checkpoints (A, B; the names label
        the models, with a score set's label when the names match) to compute
        CAMs from, how many images to render CAMs for, and the input size.
    threshold, seed, n_boot, cf1, federated, overall, clutter_k, min_images, clutter_k_rule, primary, jobs, cluster
        Analysis parameters (see the module docstring).
    out
        The output folder (``None`` until set by ``--out`` or ``[output] dir``).
    published_rows
        ``"auto"``, ``True`` or ``False``: whether Table 1 shows the paper's
        published rows (see the module docstring; :meth:`show_published`).
    report_paths
        ``"relative"`` (the default: the report writes paths relative to the
        configuration's folder, so a shared report names no user or home
        folder) or ``"absolute"``.
    limits
        The ``[limits]`` table: size limits of :mod:`salanalysis.limits` for
        this run (``reproduce`` applies them while it runs).
    """

    source: str
    annotations: Path
    images: Path | None = None
    saliency: list[SourceSpec] = field(default_factory=list)
    scores: list[ScoreSpec] = field(default_factory=list)
    compare: tuple[str, str] | None = None
    cam_output: Path | None = None
    cam_checkpoints: dict[str, Path] = field(default_factory=dict)
    cam_max_images: int = 8
    cam_input_size: int = 224
    threshold: float = 0.5
    seed: int = 0
    n_boot: int = 1000
    cf1: str = "harmonic"
    federated: str = "auto"
    overall: str = "all-predictions"
    clutter_k: int = 0
    min_images: int = 0
    clutter_k_rule: str = "min-images"
    primary: str = ""
    jobs: int = 0
    cluster: str = ""
    image_ids: tuple[int, ...] | None = None
    categories: tuple[str, ...] | None = None
    out: Path | None = None
    published_rows: str | bool = "auto"
    report_paths: str = "relative"
    limits: dict[str, int] = field(default_factory=dict)

    def show_published(self, annotations) -> bool:
        """Whether Table 1 shows the paper's published rows for these
        :class:`~salanalysis.coco.Annotations` (``"auto"``: only for COCO's 80 categories)."""
        if self.published_rows == "auto":
            from salanalysis.coco import is_coco80

            return is_coco80(annotations)
        return bool(self.published_rows)

    @property
    def rules(self):
        """The :class:`~salanalysis.metrics.MetricRules` of the analyses (threshold, C-F1, federated
        evaluation and O-P/O-R pooling rules)."""
        from salanalysis.metrics.rules import MetricRules

        return MetricRules(threshold=self.threshold, cf1=self.cf1, federated=self.federated,
                           overall=self.overall, image_ids=self.image_ids, category_names=self.categories)

    def labels(self) -> dict[str, str]:
        """Display label of every score set and saliency source, by name."""
        out = {s.name: s.label or s.name for s in self.saliency}
        out.update({s.name: s.label or s.name for s in self.scores})
        return out

    def to_dict(self) -> dict:
        """The resolved configuration, in the file layout (absolute paths)."""
        d: dict[str, Any] = {"inputs": {"annotations": str(self.annotations)}}
        if self.images is not None:
            d["inputs"]["images"] = str(self.images)
        d["saliency"] = {s.name: s.to_dict() for s in self.saliency}
        d["scores"] = {s.name: s.to_dict() for s in self.scores}
        if self.compare is not None:
            d["compare"] = {"a": self.compare[0], "b": self.compare[1]}
        cam: dict[str, Any] = {}
        if self.cam_output is not None:
            cam["output"] = str(self.cam_output)
        if self.cam_checkpoints:
            cam["checkpoints"] = {k: str(v) for k, v in self.cam_checkpoints.items()}
            cam["max_images"] = self.cam_max_images
            cam["input_size"] = self.cam_input_size
        if cam:
            d["cam"] = cam
        d["analysis"] = {k: getattr(self, k) for k in _ANALYSIS_DEFAULTS}
        for key in sorted(_SUBSET_KEYS):
            if getattr(self, key) is not None:
                d["analysis"][key] = list(getattr(self, key))
        d["output"] = {"published_rows": self.published_rows}
        if self.report_paths != "relative":
            d["output"]["report_paths"] = self.report_paths
        if self.out is not None:
            d["output"] = {"dir": str(self.out), **d["output"]}
        if self.limits:
            d["limits"] = dict(self.limits)
        return d


# ------------------------------------------------------------------ parsing
class _Checker:
    def __init__(self, path: Path | str, base: Path) -> None:
        self.path = path
        self.base = base

    def fail(self, msg: str):
        raise InputError(f"config: {msg}", self.path)

    def table(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            self.fail(f"'{key}' must be a table")
        return value

    def keys(self, table: dict, allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"unknown key '{where}.{unknown[0]}' (allowed: {', '.join(sorted(allowed))})"
                      if where else f"unknown section '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(f"'{key}' must be a non-empty string")
        return value

    def file(self, value: Any, key: str, *, directory: bool = False) -> Path:
        p = Path(os.path.expanduser(self.string(value, key)))
        if not p.is_absolute():
            p = self.base / p
        p = Path(os.path.normpath(p))
        if directory:
            if not p.is_dir():
                self.fail(f"'{key}': folder not found: {p}")
        elif not p.is_file():
            self.fail(f"'{key}': file not found: {p}")
        return p

    def name(self, value: str, where: str) -> str:
        if not _NAME_RE.match(value):
            self.fail(f"name '{where}.{value}' must start with a letter and hold only letters, digits, '_'")
        return value


def config_from_dict(data: dict, path: str | os.PathLike = "<config>", *,
                     base: str | os.PathLike | None = None) -> Config:
    """Validate a parsed configuration (see the module docstring).

    Parameters
    ----------
    data
        The parsed TOML.
    path
        Named in error messages and recorded as the configuration's source.
    base
        Folder that relative paths are relative to (default: ``path``'s folder).

    Raises
    ------
    InputError
        A missing file or folder, an unknown key or section, a bad value: one
        line naming the file and the key.
    """
    c = _Checker(path, Path(base) if base is not None else Path(path).parent)
    c.table(data, "top level")
    c.keys(data, _SECTIONS, "")
    from salanalysis.limits import as_limit, get_limit

    run_limits: dict[str, int] = {}
    for key, value in c.table(data.get("limits", {}), "limits").items():
        try:
            run_limits[key] = as_limit(key, value, "'limits'")
        except ValueError as exc:
            c.fail(str(exc))

    def top(name: str) -> int:
        return run_limits.get(name, get_limit(name))

    inputs = c.table(data.get("inputs", {}), "inputs")
    c.keys(inputs, _INPUT_KEYS, "inputs")
    if "annotations" not in inputs:
        c.fail("missing 'inputs.annotations' (the COCO instances file)")
    annotations = c.file(inputs["annotations"], "inputs.annotations")
    images = c.file(inputs["images"], "inputs.images", directory=True) if "images" in inputs else None

    saliency: list[SourceSpec] = []
    for name, value in _entries(c, data, "saliency", _SOURCE_KEYS):
        where = f"saliency.{name}"
        location, builtin = _path_or_builtin(c, value, where, BUILTIN_SALIENCY, True)
        pattern = c.string(value["pattern"], f"{where}.pattern") if "pattern" in value else None
        colour = value.get("colour", "refuse")
        if colour not in ("refuse", "luminance"):
            c.fail(f"'{where}.colour' must be 'refuse' or 'luminance', got {colour!r}")
        if builtin is not None and ("pattern" in value or "colour" in value):
            c.fail(f"'{where}': 'pattern' and 'colour' apply to map folders and results JSONs only")
        if pattern is not None:
            from salanalysis.maps import map_pattern_regex

            try:
                map_pattern_regex(pattern)
            except InputError as exc:
                c.fail(f"'{where}.pattern': {exc}")
        saliency.append(SourceSpec(name, location, builtin, label=_label(c, value, where), pattern=pattern,
                                   colour=colour))

    scores: list[ScoreSpec] = []
    for name, value in _entries(c, data, "scores", _SCORE_KEYS):
        logits = value.get("logits", False)
        if not isinstance(logits, bool):
            c.fail(f"'scores.{name}.logits' must be true or false")
        if logits and "builtin" in value:
            c.fail(f"'scores.{name}.logits' applies to score files only")
        p, b = _path_or_builtin(c, value, f"scores.{name}", BUILTIN_SCORES, False)
        scores.append(ScoreSpec(name, p, b, label=_label(c, value, f"scores.{name}"), logits=logits))
    if not scores:
        c.fail("no score sets: add a [scores] table (for example NAME = \"scores.csv\")")
    names = [s.name for s in scores]

    cmp = c.table(data.get("compare", {}), "compare")
    c.keys(cmp, {"a", "b"}, "compare")
    compare: tuple[str, str] | None = None
    if cmp:
        if set(cmp) != {"a", "b"}:
            c.fail("'compare' needs both 'a' and 'b'")
        a, b = c.string(cmp["a"], "compare.a"), c.string(cmp["b"], "compare.b")
        for k, v in (("a", a), ("b", b)):
            if v not in names:
                c.fail(f"'compare.{k}' = '{v}' is not a score set (have: {', '.join(names)})")
        if a == b:
            c.fail("'compare.a' and 'compare.b' must differ")
        compare = (a, b)
    elif len(scores) >= 2:
        compare = (names[0], names[1])

    cam = c.table(data.get("cam", {}), "cam")
    c.keys(cam, _CAM_KEYS, "cam")
    cam_output = c.file(cam["output"], "cam.output", directory=True) if "output" in cam else None
    if cam_output is not None and not (cam_output / "cam_manifest.json").is_file():
        c.fail(f"'cam.output': no cam_manifest.json in {cam_output} (write one with `salanalysis cam`)")
    if cam_output is not None and "checkpoints" in cam:
        c.fail("'cam' takes either 'output' or 'checkpoints', not both")
    cam_max = cam.get("max_images", 8)
    if isinstance(cam_max, bool) or not isinstance(cam_max, int) or cam_max < 1:
        c.fail(f"'cam.max_images' must be an integer >= 1, got {cam_max!r}")
    cam_size = cam.get("input_size", 224)
    if isinstance(cam_size, bool) or not isinstance(cam_size, int) or cam_size < 32:
        c.fail(f"'cam.input_size' must be an integer >= 32, got {cam_size!r}")
    if cam_size > top("input_size"):
        c.fail(f"'cam.input_size' = {cam_size} is over the limit of {top('input_size')} "
               "(raise it in [limits] input_size)")
    checkpoints: dict[str, Path] = {}
    for name, value in c.table(cam.get("checkpoints", {}), "cam.checkpoints").items():
        c.name(name, "cam.checkpoints")
        checkpoints[name] = c.file(value, f"cam.checkpoints.{name}")
    if checkpoints and images is None:
        c.fail("'cam.checkpoints' needs 'inputs.images' (the image folder)")
    if checkpoints and len(checkpoints) != 2:
        c.fail("'cam.checkpoints' needs exactly two models (A and B of Fig. 5)")
    if checkpoints:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            c.fail("'cam.checkpoints' needs torch: pip install 'salanalysis[train]' "
                   "(or give the folder of `salanalysis cam` as 'cam.output')")

    analysis = c.table(data.get("analysis", {}), "analysis")
    c.keys(analysis, set(_ANALYSIS_DEFAULTS) | _SUBSET_KEYS, "analysis")
    image_ids, categories = _subset(c, analysis)
    a = {**_ANALYSIS_DEFAULTS, **analysis}
    thr = a["threshold"]
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not (0.0 < float(thr) < 1.0) \
            or not math.isfinite(float(thr)):
        c.fail(f"'analysis.threshold' must be a number in (0, 1), got {thr!r}")
    for key, lo in (("seed", 0), ("n_boot", 0), ("clutter_k", 0), ("min_images", 0), ("jobs", 0)):
        v = a[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            c.fail(f"'analysis.{key}' must be an integer >= {lo}, got {v!r}")
    for key, name in (("n_boot", "bootstrap"), ("jobs", "jobs")):
        if a[key] > top(name):
            c.fail(f"'analysis.{key}' = {a[key]} is over the limit of {top(name)} "
                   f"(raise it in [limits] {name})")
    if 0 < a["n_boot"] < 100:
        c.fail(f"'analysis.n_boot' must be 0 (no intervals) or at least 100, got {a['n_boot']}")
    if a["clutter_k"] == 1:
        c.fail("'analysis.clutter_k' must be 0 (automatic) or at least 2")
    if a["clutter_k_rule"] not in ("min-images", "three-groups"):
        c.fail(f"'analysis.clutter_k_rule' must be 'min-images' or 'three-groups', got {a['clutter_k_rule']!r}")
    if a["cf1"] not in ("harmonic", "mean-per-class"):
        c.fail(f"'analysis.cf1' must be 'harmonic' or 'mean-per-class', got {a['cf1']!r}")
    if a["federated"] not in ("auto", "on", "off"):
        c.fail(f"'analysis.federated' must be 'auto', 'on' or 'off', got {a['federated']!r}")
    if a["overall"] not in ("all-predictions", "classes-with-positives"):
        c.fail(f"'analysis.overall' must be 'all-predictions' or 'classes-with-positives', got {a['overall']!r}")
    if not isinstance(a["cluster"], str) or (a["cluster"] and "://" not in a["cluster"]):
        c.fail(f"'analysis.cluster' must be a Dask scheduler address such as \"tcp://HOST:8786\" "
               f"(or \"\" for this machine), got {a['cluster']!r}")
    primary = a["primary"]
    if not isinstance(primary, str):
        c.fail("'analysis.primary' must be a score-set name")
    if primary and primary not in names:
        c.fail(f"'analysis.primary' = '{primary}' is not a score set (have: {', '.join(names)})")

    output = c.table(data.get("output", {}), "output")
    c.keys(output, _OUTPUT_KEYS, "output")
    out = None
    if "dir" in output:
        out = Path(os.path.expanduser(c.string(output["dir"], "output.dir")))
        out = out if out.is_absolute() else Path(os.path.normpath(c.base / out))
    published_rows = output.get("published_rows", "auto")
    if published_rows != "auto" and not isinstance(published_rows, bool):
        c.fail(f"'output.published_rows' must be \"auto\", true or false, got {published_rows!r}")
    report_paths = output.get("report_paths", "relative")
    if report_paths not in ("relative", "absolute"):
        c.fail(f"'output.report_paths' must be \"relative\" or \"absolute\", got {report_paths!r}")

    return Config(
        source=str(path), annotations=annotations, images=images, saliency=saliency, scores=scores,
        compare=compare, cam_output=cam_output, cam_checkpoints=checkpoints, cam_max_images=cam_max,
        cam_input_size=cam_size,
        threshold=float(thr), seed=a["seed"], n_boot=a["n_boot"], cf1=a["cf1"],
        federated=a["federated"], overall=a["overall"],
        clutter_k=a["clutter_k"], min_images=a["min_images"], clutter_k_rule=a["clutter_k_rule"],
        primary=primary or names[0],
        jobs=a["jobs"], cluster=a["cluster"].strip(), image_ids=image_ids, categories=categories, out=out,
        published_rows=published_rows, limits=run_limits, report_paths=report_paths,
    )


def _subset(c: _Checker, analysis: dict) -> tuple[tuple[int, ...] | None, tuple[str, ...] | None]:
    """``[analysis] image_ids`` (a file, as ``--image-ids``, or a list of ids) and ``categories``
    (a list of names, or one comma-separated string)."""
    from salanalysis.metrics.rules import MetricRules
    from salanalysis.subsets import read_image_ids

    ids = analysis.get("image_ids")
    if isinstance(ids, str):
        path = Path(os.path.expanduser(ids))
        path = path if path.is_absolute() else Path(os.path.normpath(c.base / path))
        try:
            ids = read_image_ids(path)
        except InputError as exc:
            c.fail(f"'analysis.image_ids': {exc}")
    cats = analysis.get("categories")
    try:
        rules = MetricRules(image_ids=ids, category_names=cats)
    except InputError as exc:
        c.fail(f"'analysis' image_ids or categories: {exc}")
    return rules.image_ids, rules.category_names


def _entries(c: _Checker, data: dict, section: str, allowed: set[str]):
    """``(name, table)`` of each entry of ``[section]`` (a bare string is its path), keys checked."""
    for name, value in c.table(data.get(section, {}), section).items():
        c.name(name, section)
        if isinstance(value, str):
            value = {"path": value}
        value = c.table(value, f"{section}.{name}")
        c.keys(value, allowed, f"{section}.{name}")
        yield name, value


def _label(c: _Checker, value: dict, where: str) -> str:
    if "label" in value:
        return c.string(value["label"], f"{where}.label")
    if "builtin" in value and value["builtin"] == "class-prior":
        return "class-prior baseline (not a model)"
    return ""


def _path_or_builtin(c: _Checker, value: dict, where: str, builtins: dict, directory: bool):
    if ("path" in value) == ("builtin" in value):
        c.fail(f"'{where}' needs exactly one of 'path' or 'builtin'")
    if "builtin" in value:
        b = c.string(value["builtin"], f"{where}.builtin")
        if b not in builtins:
            c.fail(f"'{where}.builtin' = {b!r} is unknown (known: {', '.join(builtins)})")
        return None, b
    if directory:  # a map source: a folder, or a SALICON results JSON
        p = Path(os.path.expanduser(c.string(value["path"], f"{where}.path")))
        p = Path(os.path.normpath(p if p.is_absolute() else c.base / p))
        if p.is_file() and p.suffix.lower() == ".json":
            return p, None
        return c.file(value["path"], f"{where}.path", directory=True), None
    return c.file(value["path"], f"{where}.path"), None


def _not_a_file(path: Path) -> str:
    """What ``path`` is, when it is not a regular file: 'not found', 'is a folder', 'is a FIFO'..."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return "not found"
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return f"is {what}, not a regular file"
    return "is not a regular file"


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML configuration file (see the module docstring).

    Raises
    ------
    InputError
        The file is missing or not valid TOML, or any check of
        :func:`config_from_dict` fails.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {_not_a_file(path)}", path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except RecursionError:
        raise InputError("config: invalid TOML: nested too deeply to read", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config: invalid TOML: {exc}", path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"config: not UTF-8 text: {exc}", path) from exc
    return config_from_dict(data, path, base=path.resolve().parent)


def demo_config() -> Config:
    """The bundled real demo (used by ``salanalysis reproduce`` without ``--config``).

    100 COCO val2014 images; score sets: the cocoapi *sample detections*
    (perturbed ground truth, not a model) and the class-prior baseline (not a
    model); saliency: the two SALICON ground-truth maps, plus the center-bias
    map as a control covering every image. The sample images are too few and
    there are no checkpoints, so there are no CAMs.
    """
    from salanalysis.demo import demo_paths

    d = demo_paths()
    data = {
        "inputs": {"annotations": str(d.annotations), "images": str(d.images)},
        "saliency": {
            "salicon": {"path": str(d.saliency), "label": "SALICON ground truth"},
            "center": {"builtin": "center-bias", "label": "center-bias control"},
        },
        "scores": {
            "prior": {"builtin": "class-prior", "label": "class-prior baseline (not a model)"},
            "detections": {"path": str(d.detections), "label": "sample detections"},
        },
        "compare": {"a": "prior", "b": "detections"},
        "analysis": {"primary": "detections", "n_boot": 1000, "min_images": 5, "jobs": 1},
    }
    return config_from_dict(data, "bundled demo", base=d.root)


# ------------------------------------------------------------------ writing
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else json.dumps(k)


def dump_toml(data: dict, header: str = "") -> str:
    """Write a configuration dict (tables of scalars and inline tables) as TOML."""
    lines = [f"# {line}" for line in header.splitlines()]
    for section, table in data.items():
        if not isinstance(table, dict):
            raise TypeError("top-level values must be tables")
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) or section == "cam"}
        subtables = {k: v for k, v in table.items() if isinstance(v, dict) and section != "cam"}
        if scalars or not subtables:
            lines += ["", f"[{section}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
        for k, v in subtables.items():
            lines += ["", f"[{section}.{_toml_key(k)}]"] + [f"{_toml_key(kk)} = {_toml_value(vv)}"
                                                             for kk, vv in v.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
