"""``salanalysis objects`` as a library call: :func:`run_objects` and :class:`ObjectsResult`.

The same shape as the other analyses (:class:`~salanalysis.results.AnalysisResult`):
``result.tables`` holds ``objects`` and ``images``, ``result.summary()`` the lines the
command prints, ``result.write(folder)`` writes ``objects.csv`` and ``images.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.maps import MapSource
from salanalysis.metrics.rules import DEFAULT_RULES, MetricRules
from salanalysis.objects import ObjectTables, compute_objects
from salanalysis.results import AnalysisResult, table_property
from salanalysis.scores import Scores

__all__ = ["ObjectsResult", "run_objects", "OBJECTS_FILES"]

#: table name -> file name under the output folder (what ``salanalysis objects --out DIR`` writes).
OBJECTS_FILES = {"objects": "objects.csv", "images": "images.csv"}


@dataclass
class ObjectsResult(AnalysisResult):
    """What :func:`run_objects` computed: ``tables`` ``objects`` (one row per non-crowd
    instance, the columns of :class:`~salanalysis.objects.ObjectTables`) and ``images``
    (one row per image); ``counts``: the :class:`~salanalysis.objects.ObjectTables` with
    the counts of missing maps, zero-area, clipped and ignored items; ``score_sets``:
    the score sets used. ``objects`` and ``images`` name the two tables.
    """

    counts: ObjectTables | None = None
    score_sets: list[Scores] = field(default_factory=list)

    FILES: ClassVar[Mapping[str, str]] = OBJECTS_FILES

    objects = table_property("objects")
    images = table_property("images")

    def summary(self) -> str:
        """The lines ``salanalysis objects`` prints (without the file written)."""
        res = self.counts
        assert res is not None
        lines = [f"objects: {len(res.objects)} (crowd excluded: {res.n_crowd_excluded})"]
        for name, n in res.missing_maps.items():
            lines.append(f"saliency {name}: {n} objects without a map (NaN) "
                         f"in {res.images_without_map[name]} images without a map")
        lines.append(f"zero-area masks (NaN centroid and saliency): {res.n_zero_area}")
        if res.n_clipped:
            lines.append(f"objects clipped at the image border: {res.n_clipped}")
        if res.n_dropped_polygons:
            lines.append(f"polygons with fewer than 3 vertices ignored: {res.n_dropped_polygons}")
        for sc in self.score_sets:
            if sc.n_filled:
                what = "without detections" if sc.meta.get("layout") == "detections" else "without scores"
                lines.append(f"scores {sc.name}: {sc.n_filled} annotated image(s) {what} scored 0 for every class")
        return "\n".join(lines)


def run_objects(
    annotations: Annotations | str | os.PathLike,
    saliency: Mapping[str, MapSource | str | os.PathLike] | None = None,
    scores: Mapping[str, Scores | str | os.PathLike | pd.DataFrame]
    | Sequence[Scores | tuple[str, str | os.PathLike | pd.DataFrame]]
    | None = None,
    *,
    rules: MetricRules = DEFAULT_RULES,
    jobs: int = 0,
    progress: bool = False,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
    out: str | os.PathLike | None = None,
    **deprecated: Any,
) -> ObjectsResult:
    """Read the inputs and compute the object and image tables (what ``salanalysis objects`` does).

    Parameters
    ----------
    annotations
        An :class:`~salanalysis.coco.Annotations` or the path of a COCO instances JSON.
    saliency
        Saliency sources by name: a map folder, a SALICON results JSON or a
        :class:`~salanalysis.maps.MapSource`.
    scores
        Score sets: a mapping name -> score file, :class:`Scores` or wide DataFrame,
        or a sequence of ``Scores`` and ``(name, file)`` pairs.
    rules
        ``detected_NAME`` is ``score_NAME >= rules.threshold``; ``rules.image_ids`` /
        ``rules.category_ids`` restrict the analysis to part of the dataset.
    jobs
        Worker processes; 0 (default): all cores, 1: none (as ``--jobs``).
    progress
        Show a progress bar on stderr.
    logits, missing
        As in :func:`salanalysis.scores.read_scores`.
    out
        Output folder: ``objects.csv`` and ``images.csv`` (None: nothing is written;
        ``result.write(folder)`` later).

    Returns
    -------
    ObjectsResult
    """
    from salanalysis.scores import read_score_sets
    from salanalysis.subsets import analysis_annotations

    rules = _threshold_rules(rules, deprecated)
    ann = analysis_annotations(annotations, rules)
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    res = compute_objects(ann, saliency, sets, threshold=rules.threshold, jobs=jobs,
                          progress=progress)
    result = ObjectsResult({"objects": res.objects, "images": res.images}, counts=res, score_sets=sets)
    if out is not None:
        result.write(out)
    return result


def _threshold_rules(rules: MetricRules, deprecated: dict[str, Any]) -> MetricRules:
    """``threshold=`` (the old keyword of :func:`compute_objects`) folded into ``rules``, with a note."""
    import warnings

    threshold = deprecated.pop("threshold", None)
    if deprecated:
        raise TypeError(f"run_objects() got unexpected keyword argument(s) {', '.join(deprecated)}")
    if threshold is None:
        return rules
    warnings.warn("run_objects(threshold=...) is now rules=MetricRules(threshold=...)", DeprecationWarning,
                  stacklevel=3)
    return rules.replace(threshold=threshold)
