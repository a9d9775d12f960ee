"""What a new user runs first: an overview of their inputs and how they overlap."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.maps import MapSource
from salanalysis.scores import read_scores

__all__ = ["inspect_inputs", "format_overview"]


def inspect_inputs(
    annotations: Annotations,
    saliency: Mapping[str, str | os.PathLike] | None = None,
    scores: Mapping[str, str | os.PathLike] | None = None,
    *,
    logits: bool = False,
) -> pd.DataFrame:
    """Count what the inputs hold and what is missing.

    Returns
    -------
    pandas.DataFrame
        One row per fact, columns ``section`` (annotations / saliency / scores),
        ``source`` (file or source name), ``item`` and ``value`` (int), e.g.
        ``("saliency", "salicon", "images_with_map", 2)``.
    """
    rows: list[tuple[str, str, str, int]] = []
    a = annotations
    inst = a.instances
    n_crowd = int(inst["iscrowd"].sum())
    present = inst["category_id"].nunique()
    n_obj = a.n_objects()
    for item, value in [
        ("images", len(a.images)),
        ("images_with_annotations", int(inst["image_id"].nunique())),
        ("images_without_annotations", int(len(a.images) - inst["image_id"].nunique())),
        ("instances", len(inst)),
        ("instances_non_crowd", len(inst) - n_crowd),
        ("instances_crowd", n_crowd),
        ("categories_listed", len(a.categories)),
        ("categories_present", int(present)),
        ("max_objects_per_image", int(n_obj.max()) if len(n_obj) else 0),
    ]:
        rows.append(("annotations", str(a.path), item, value))
    for name, directory in (saliency or {}).items():
        src = MapSource(directory, name=name)
        matched = src.match(a.images)
        have = int(matched.notna().sum())
        rows.append(("saliency", name, "map_files", src.n_files))
        rows.append(("saliency", name, "images_with_map", have))
        rows.append(("saliency", name, "images_without_map", len(a.images) - have))
        rows.append(("saliency", name, "objects_with_map",
                     int(inst.loc[~inst["iscrowd"], "image_id"].isin(matched.index[matched.notna()]).sum())))
    for name, path in (scores or {}).items():
        s = read_scores(path, a, name=name, logits=logits, missing="zero")
        rows.append(("scores", name, "images_with_scores", len(a.images) - s.n_filled))
        rows.append(("scores", name, "images_without_scores", s.n_filled))
        rows.append(("scores", name, "categories", len(s.categories)))
    return pd.DataFrame(rows, columns=["section", "source", "item", "value"])


def format_overview(table: pd.DataFrame) -> str:
    """Plain-text rendering of :func:`inspect_inputs`."""
    lines = []
    for (section, source), grp in table.groupby(["section", "source"], sort=False):
        lines.append(f"[{section}] {source}")
        for item, value in zip(grp["item"], grp["value"]):
            lines.append(f"  {item.replace('_', ' '):<28} {value}")
    return "\n".join(lines)
