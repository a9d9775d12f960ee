"""Analyse part of a dataset: the images and categories of :class:`~salanalysis.metrics.MetricRules`.

As COCOeval's ``params.imgIds`` / ``params.catIds``: ``MetricRules(image_ids=...,
category_ids=...)`` (``--image-ids FILE`` / ``--categories NAMES`` on the command line,
``image_ids`` / ``categories`` under ``[analysis]`` in a TOML file) restrict every
analysis to those images and categories. :func:`analysis_annotations` is the one place
that applies them: it returns the annotations of the subset (the annotation file's
path is kept, for error messages), and score files covering more than the subset are
read on the subset alone (:func:`salanalysis.scores.read_scores`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salanalysis.coco import Annotations
from salanalysis.errors import InputError

__all__ = ["analysis_annotations", "subset_annotations", "read_image_ids", "category_ids_by_name"]

_FEDERATED_KEYS = ("neg_category_ids", "not_exhaustive_category_ids")


def analysis_annotations(annotations: Annotations | str | os.PathLike, rules: Any = None) -> Annotations:
    """The annotations an analysis runs on: loaded when a path, restricted to the ``image_ids`` and
    ``category_ids`` of ``rules`` (a :class:`~salanalysis.metrics.MetricRules`, or None)."""
    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    image_ids = getattr(rules, "image_ids", None)
    category_ids = getattr(rules, "category_ids", None)
    names = getattr(rules, "category_names", None)
    if image_ids is None and category_ids is None and names is None:
        return ann
    if names is not None:
        by_name = category_ids_by_name(ann, names)
        category_ids = by_name if category_ids is None else [c for c in by_name if c in set(category_ids)]
        if not category_ids:
            raise InputError("category_ids and category_names have no category in common")
    return subset_annotations(ann, image_ids=image_ids, category_ids=category_ids)


def subset_annotations(ann: Annotations, image_ids: Sequence[int] | None = None,
                       category_ids: Sequence[int] | None = None) -> Annotations:
    """The annotations of ``image_ids`` and ``category_ids`` only (None: all of them).

    The result's ``subset_of`` is ``ann``: score files that cover ``ann`` are read
    on the subset. Instances of other images or categories are dropped; the LVIS
    fields of the images keep only the categories kept.

    Raises
    ------
    InputError
        An id that the annotations do not hold (naming the annotation file).
    """
    parent = getattr(ann, "subset_of", None) or ann
    data = ann.coco.dataset
    img_keep = set(int(i) for i in ann.image_ids)
    cat_keep = set(int(c) for c in ann.category_ids)
    if image_ids is not None:
        wanted = np.asarray(sorted(set(int(i) for i in image_ids)), dtype=np.int64)
        unknown = np.setdiff1d(wanted, ann.image_ids)
        if len(unknown):
            raise InputError(f"{len(unknown)} image id(s) to analyse are not in the annotations, "
                             f"e.g. {unknown[0]}", ann.path)
        img_keep = set(int(i) for i in wanted)
    if category_ids is not None:
        wanted_c = sorted(set(int(c) for c in category_ids))
        unknown_c = [c for c in wanted_c if c not in cat_keep]
        if unknown_c:
            raise InputError(f"{len(unknown_c)} category id(s) to analyse are not in the annotations, "
                             f"e.g. {unknown_c[0]}", ann.path)
        cat_keep = set(wanted_c)
    images = []
    for im in data["images"]:
        if int(im["id"]) not in img_keep:
            continue
        im = dict(im)
        for key in _FEDERATED_KEYS:
            if isinstance(im.get(key), list):
                im[key] = [c for c in im[key] if c in cat_keep]
        images.append(im)
    sub = {
        **data,
        "images": images,
        "categories": [c for c in data["categories"] if int(c["id"]) in cat_keep],
        "annotations": [a for a in data["annotations"]
                        if int(a["image_id"]) in img_keep and int(a["category_id"]) in cat_keep],
    }
    out = Annotations(sub, ann.path)
    out.subset_of = parent  # type: ignore[attr-defined]
    return out


def read_image_ids(path: str | os.PathLike) -> list[int]:
    """The image ids listed in a file: one per line (text), an ``image_id`` column (CSV/Parquet),
    or a JSON list (of ids, or of objects with an ``id`` or ``image_id``).

    Raises
    ------
    InputError
        A missing or empty file, a value that is not a whole number.
    """
    from salanalysis.io import read_json, read_table

    path = Path(path)
    if not path.is_file():
        raise InputError("image-id file not found", path)
    ext = path.suffix.lower()
    if ext == ".json":
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            data = data["images"]
        if not isinstance(data, list):
            raise InputError("expected a JSON list of image ids", path)
        values = [d.get("id", d.get("image_id")) if isinstance(d, dict) else d for d in data]
    elif ext in (".csv", ".parquet", ".pq"):
        table = read_table(path)
        if "image_id" not in table.columns:
            raise InputError("image-id table lacks an 'image_id' column", path)
        values = table["image_id"].tolist()
    else:
        text = path.read_text(encoding="utf-8")
        values = [v for line in text.splitlines() for v in line.replace(",", " ").split()
                  if not line.lstrip().startswith("#")]
    ids = []
    for v in values:
        try:
            f = float(str(v))  # True, None, "1.5": not whole numbers
            ok = f == int(f)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(f"image id {v!r} is not a whole number", path)
        ids.append(int(f))
    if not ids:
        raise InputError("no image ids in the file", path)
    return ids


def category_ids_by_name(ann: Annotations, names: Sequence[str] | str) -> list[int]:
    """The ids of category ``names`` (a list, or one comma-separated string; a number is an id).

    Raises
    ------
    InputError
        A name the annotations do not hold (naming the annotation file).
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    by_name = dict(zip(ann.categories["name"], ann.categories["category_id"]))
    known_ids = set(int(c) for c in ann.category_ids)
    out = []
    for n in names:
        n = str(n)
        if n in by_name:
            out.append(int(by_name[n]))
        elif n.isdigit() and int(n) in known_ids:
            out.append(int(n))
        else:
            raise InputError(f"unknown category {n!r} (names as in the annotations, e.g. "
                             f"{ann.category_names[0]!r})", ann.path)
    if not out:
        raise InputError("no categories given")
    return out
