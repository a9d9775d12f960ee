"""Is an object table from this run? Checks of a table against the annotations and score sets given.

An object table (``salanalysis objects``) is read back by ``stats`` and
``compare`` together with an annotation file and score files named again on
their command lines. A table from another dataset, or a score file other than
the one the table's ``detected_NAME`` came from, gave plausible wrong numbers
(tp/fn from one file, class AP from another). These checks refuse them with one
line:

- :func:`check_objects_match_annotations`: where the table has ``image_id``,
  every one is an image of the annotations and, where it has ``ann_id`` and
  ``category_id``, every object is an annotation of the file with the same
  image and category;
- :func:`check_scores_match_objects`: a score set named ``NAME`` is the one the
  table was built with: its digest (:func:`score_digest`, stored by
  :func:`stamp_objects` in ``objects.attrs["score_digests"]``, which Parquet
  keeps) is the table's, and where the table has ``score_NAME`` (CSV keeps it)
  every object's score equals the file's score of its image and class.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from salanalysis.errors import InputError

__all__ = ["check_objects_match_annotations", "check_scores_match_objects", "score_digest", "stamp_objects"]

#: Largest difference between a table's score_NAME and the file's score taken as the same value.
SCORE_TOLERANCE = 1e-9


def score_digest(scores) -> str:
    """A 16-hex-digit SHA-256 of a score set's image ids, category ids and scores (its name left out)."""
    h = hashlib.sha256()
    for arr in (scores.image_ids, scores.category_ids, scores.scores):
        a = np.ascontiguousarray(arr)
        h.update(str(a.shape).encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()[:16]


def stamp_objects(objects: pd.DataFrame, score_sets: Iterable[tuple[str, object]]) -> None:
    """Store the digest of every score set in ``objects.attrs["score_digests"]`` (name -> digest)."""
    objects.attrs["score_digests"] = {name: score_digest(sc) for name, sc in score_sets}


def _ids(table: pd.DataFrame, column: str, where) -> np.ndarray:
    num = pd.to_numeric(table[column], errors="coerce")
    if num.isna().any() or not (num == np.round(num)).all():
        bad = table[column][num.isna() | (num != np.round(num))].iloc[0]
        raise InputError(f"object table: {column} {bad!r} is not an integer", where)
    return num.to_numpy().astype(np.int64)


def check_objects_match_annotations(objects: pd.DataFrame, annotations, where: str | os.PathLike | None) -> None:
    """InputError unless every object of the table is an object of ``annotations`` (see the module)."""
    src = os.fspath(annotations.path)
    if "image_id" not in objects.columns:
        return  # a reduced table (category_id, area_frac): the caller checks what it has
    img = _ids(objects, "image_id", where)
    unknown = np.setdiff1d(img, annotations.image_ids)
    if len(unknown):
        raise InputError(f"object table names {len(unknown)} image(s) not in {src}, e.g. {unknown[0]} "
                         "(a table of another annotation file?)", where)
    if "ann_id" not in objects.columns or "category_id" not in objects.columns:
        return
    ann = _ids(objects, "ann_id", where)
    cat = _ids(objects, "category_id", where)
    inst = annotations.instances.set_index("ann_id")
    known = np.isin(ann, inst.index.to_numpy())
    if not known.all():
        raise InputError(f"object table names {int((~known).sum())} annotation id(s) not in {src}, "
                         f"e.g. {ann[~known][0]} (a table of another annotation file?)", where)
    ref = inst.loc[ann]
    differ = (ref["image_id"].to_numpy() != img) | (ref["category_id"].to_numpy() != cat)
    if differ.any():
        k = int(np.argmax(differ))
        raise InputError(
            f"object table does not match {src}: {int(differ.sum())} object(s) differ, e.g. annotation {ann[k]} "
            f"is image {img[k]} category {cat[k]} in the table, image {int(ref['image_id'].iloc[k])} "
            f"category {int(ref['category_id'].iloc[k])} in the annotations", where)


def check_scores_match_objects(objects: pd.DataFrame, score_sets, where: str | os.PathLike | None) -> None:
    """InputError unless each score set is the one the table's ``detected_NAME``/``score_NAME`` came from."""
    stored = objects.attrs.get("score_digests") or {}
    for sc in score_sets:
        src = sc.source or sc.name
        if sc.name in stored and stored[sc.name] != score_digest(sc):
            raise InputError(f"score set '{sc.name}' ({src}) is not the one the object table was built with "
                             "(its digest differs from the table's): build the table with these scores", where)
        col = f"score_{sc.name}"
        if col not in objects.columns or not len(objects):
            continue
        table = pd.to_numeric(objects[col], errors="coerce").to_numpy(dtype=np.float64)
        got = sc.aligned(_ids(objects, "image_id", where), _ids(objects, "category_id", where), pairs=True)
        differ = ~(np.abs(table - got) <= SCORE_TOLERANCE)
        if differ.any():
            k = int(np.argmax(differ))
            obj = f"annotation {objects['ann_id'].iloc[k]}" if "ann_id" in objects.columns else f"row {k}"
            raise InputError(
                f"score set '{sc.name}' ({src}) is not the one the object table's {col} came from: "
                f"{int(differ.sum())} of {len(objects)} objects differ, e.g. {obj}: {table[k]:.6g} in the table, "
                f"{got[k]:.6g} in the file", where)
