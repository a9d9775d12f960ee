"""Per-image class scores of a model: one :class:`Scores` object, many file formats.

A score set is an N x C float array in [0, 1]: for each image of the annotation
file (rows in ``Annotations.images`` order) and each category (columns in
category-id order), the model's confidence that the image contains the class.

Formats read by :func:`read_scores` (chosen by extension and columns) and
written by :func:`write_scores`:

- **wide** CSV or Parquet: ``image_id`` plus one column per category *name*, or
  one per category *id* (headers that all spell integers and are not category
  names, as LVIS users write them: ``1, 2, ..., 1203``);
- **long** CSV or Parquet: ``image_id``, ``category_id`` or ``category`` (name), ``score``;
- a table keyed by ``file_name`` instead of ``image_id`` (either layout): each
  name is matched to the annotations' ``file_name`` (or, failing that, to its
  base name, when exactly one image has it);
- **NPZ**: arrays ``image_ids`` (N), ``scores`` (N x C) and ``categories``
  (C names, or C category ids);
- **COCO detection results JSON** (a list of ``{image_id, category_id, score, ...}``):
  the image-level score of a class is the maximum detection score of that class
  in the image; a class without a detection scores 0, and so does every class
  of an annotated image without any detection. Written back as one record per
  (image, class) with a positive score and no box.

CSV files may be comma- or semicolon-separated (with a decimal comma, as
spreadsheets write them in many locales: :func:`salanalysis.io.read_table`).

Validation (each an :class:`~salanalysis.errors.InputError` naming the file):
a directory or a missing file, malformed JSON (with its position), empty file, unknown image ids, duplicate
rows, unknown or missing categories, NaN or infinite scores, scores outside
[0, 1] (pass ``logits=True`` to convert logits with a sigmoid; scores in
[0, 100] are named as percent, to divide by 100), and
ground-truth images without scores (an error unless ``missing="zero"``, which
scores them 0 for every class and records how many in ``Scores.n_filled``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.io import (
    atomic_path,
    read_json,
    read_table,
    spreadsheet_safe,
    spreadsheet_unescape,
    write_json,
)
from salanalysis.limits import check_count

__all__ = ["Scores", "read_scores", "read_score_sets", "write_scores", "SCORE_EXTENSIONS"]


def _positions(have: np.ndarray, want: np.ndarray, name: str, what: str, src: str | None) -> np.ndarray:
    """Index into ``have`` of every entry of ``want``; an InputError names what is missing."""
    if len(have) == len(want) and np.array_equal(have, want):
        return np.arange(len(want))
    order = np.argsort(have, kind="stable")
    pos = np.searchsorted(have, want, sorter=order).clip(0, max(len(have) - 1, 0))
    if len(want):
        if len(have) == 0:
            raise InputError(f"score set '{name}' holds no {what}s", src)
        pos = order[pos]
        bad = have[pos] != want
        if bad.any():
            missing = np.unique(want[bad])
            raise InputError(
                f"score set '{name}' lacks {len(missing)} {what}(s) of the annotations, e.g. {missing[0]}", src
            )
    return pos

SCORE_EXTENSIONS = (".csv", ".parquet", ".pq", ".npz", ".json")


@dataclass
class Scores:
    """Image-level class scores of one model (or baseline).

    Attributes
    ----------
    name
        Label used in every output (``score_<name>``, table rows, legends).
    image_ids
        int64 array (N,), the row order.
    category_ids
        int64 array (C,), the column order.
    categories
        Category names, same order as ``category_ids``.
    scores
        float64 array (N, C), values in [0, 1].
    source
        The file read, for provenance (``""`` when built in memory).
    n_filled
        Ground-truth images that had no scores and were filled with 0
        (``missing="zero"``).
    """

    name: str
    image_ids: np.ndarray
    category_ids: np.ndarray
    categories: list[str]
    scores: np.ndarray
    source: str = ""
    n_filled: int = 0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_ids = np.asarray(self.image_ids, dtype=np.int64)
        self.category_ids = np.asarray(self.category_ids, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.categories = [str(c) for c in self.categories]
        n, c = len(self.image_ids), len(self.category_ids)
        if self.scores.shape != (n, c):
            raise InputError(
                f"scores '{self.name}' have shape {self.scores.shape}, expected ({n}, {c})",
                self.source or None,
            )
        if len(self.categories) != c:
            raise InputError(f"scores '{self.name}': {len(self.categories)} names for {c} categories")

    @classmethod
    def from_array(cls, name: str, annotations: Annotations, scores: np.ndarray, source: str = "", *,
                   logits: bool = False, **fields) -> Scores:
        """Wrap an (images x categories) array in the annotation file's order (``fields``: ``n_filled``, ``meta``).

        The checks of :func:`read_scores`: the shape must be (images, categories), the
        values finite and in [0, 1] (``logits=True`` applies a sigmoid first; percent
        scores, 0..100, are refused with that hint). Each problem is an :class:`InputError`.
        """
        arr = np.asarray(scores, dtype=np.float64)
        where = source or None
        if arr.size and not np.isfinite(arr).all():
            raise InputError(f"scores '{name}' hold NaN or infinite values", where)
        if logits:
            arr = 1.0 / (1.0 + np.exp(-arr))
        elif arr.size and (arr.min() < 0 or arr.max() > 1):
            raise InputError(f"scores '{name}': {_range_message(arr)}", where)
        return cls(name=name, image_ids=annotations.image_ids, category_ids=annotations.category_ids,
                   categories=annotations.category_names, scores=arr, source=source, **fields)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, annotations: Annotations, *, name: str, logits: bool = False,
                   missing: Literal["error", "zero"] = "error") -> Scores:
        """A score set from a DataFrame, aligned by image id and class name, with :func:`read_scores`' checks.

        Parameters
        ----------
        df
            Wide (``image_id`` plus one column per category name, or per category id)
            or long (``image_id``, ``category_id`` or ``category``, ``score``); rows and
            columns in any order.
        annotations
            The ground truth: rows are aligned to its images, columns to its categories.
        name
            The score set's name.
        logits, missing
            As in :func:`read_scores`: values outside [0, 1] are an error (percent
            scores are named as such) unless ``logits``; annotated images without
            a row are an error unless ``missing="zero"``.

        Raises
        ------
        InputError
            Unknown or missing ids or categories, duplicates, NaN, values outside [0, 1].
        """
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"scores '{name}': expected a DataFrame, got {type(df).__name__}")
        if missing not in ("error", "zero"):
            raise ValueError("missing must be 'error' or 'zero'")
        if df.empty:
            raise InputError(f"score table '{name}' has no rows")
        if "image_id" not in df.columns and "file_name" not in df.columns:
            raise InputError(f"score table '{name}' lacks an 'image_id' (or 'file_name') column")
        long = "score" in df.columns and ("category_id" in df.columns or "category" in df.columns)
        return _align_frame(df.reset_index(drop=True), "long" if long else "wide", annotations, name=name,
                            logits=logits, missing=missing, path=None)

    def aligned(self, image_ids: np.ndarray, category_ids: np.ndarray | None = None, *,
                pairs: bool = False) -> np.ndarray:
        """The scores in the order of ``image_ids`` (rows) and ``category_ids`` (columns).

        The one check of a score set against annotations: every requested image
        and category must be in the set (an :class:`InputError` names the first
        missing one and the file). ``category_ids`` None keeps the set's columns.
        With ``pairs=True`` the two arrays have equal length and the result is
        the score of each (image, category) pair (one per object). When the
        order requested is the set's own, the set's array itself is returned
        (no copy: callers must not modify it).
        """
        src = self.source or None
        rows = _positions(self.image_ids, np.asarray(image_ids, dtype=np.int64), self.name, "image", src)
        same_rows = len(rows) == len(self.image_ids) and np.array_equal(rows, np.arange(len(rows)))
        if category_ids is None:
            return self.scores if same_rows else self.scores[rows]
        cols = _positions(self.category_ids, np.asarray(category_ids, dtype=np.int64), self.name,
                          "category", src)
        if pairs:
            return self.scores[rows, cols] if len(rows) else np.zeros(0)
        if same_rows and len(cols) == len(self.category_ids) and np.array_equal(cols, np.arange(len(cols))):
            return self.scores  # already in the requested order: no copy (read it, do not write to it)
        return self.scores[np.ix_(rows, cols)]

    def to_wide(self) -> pd.DataFrame:
        """``image_id`` plus one column per category name."""
        df = pd.DataFrame(self.scores, columns=self.categories)
        df.insert(0, "image_id", self.image_ids)
        return df

    def to_long(self) -> pd.DataFrame:
        """``image_id, category_id, category, score``, one row per (image, category)."""
        n, c = self.scores.shape
        return pd.DataFrame(
            {
                "image_id": np.repeat(self.image_ids, c),
                "category_id": np.tile(self.category_ids, n),
                "category": np.tile(np.array(self.categories, dtype=object), n),
                "score": self.scores.ravel(),
            }
        )


# --------------------------------------------------------------------- reading
def _frame_from_file(path: Path) -> tuple[pd.DataFrame, str]:
    """Return a long frame (image_id, category_id|category, score) or a wide one."""
    ext = path.suffix.lower()
    if ext == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise InputError(
                "expected a COCO detection-results JSON: a list of {image_id, category_id, score}", path
            )
        if not data:
            raise InputError("detection-results JSON holds no detections", path)
        for i, d in enumerate(data):
            if not isinstance(d, dict) or not {"image_id", "category_id", "score"} <= d.keys():
                raise InputError(f"detection {i} lacks image_id, category_id or score", path)
        df = pd.DataFrame(
            {
                "image_id": [d["image_id"] for d in data],
                "category_id": [d["category_id"] for d in data],
                "score": pd.to_numeric(pd.Series([d["score"] for d in data]), errors="coerce"),
            }
        )
        return df, "detections"
    if ext == ".npz":
        if not path.exists():
            raise InputError("file not found", path)
        if path.stat().st_size == 0:
            raise InputError("file is empty", path)
        try:
            with np.load(path, allow_pickle=False) as z:
                # uncompressed sizes from the zip directory: refuse a bomb before expanding it
                stored = sum(z.zip.getinfo(f"{k}.npy").file_size for k in z.files)
                check_count("cells", stored // 8, "NPZ arrays: their uncompressed size in 8-byte cells",
                            path)
                arrays = {k: z[k] for k in z.files}
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"cannot read NPZ: {type(exc).__name__}: {exc}", path) from exc
        missing = [k for k in ("image_ids", "scores", "categories") if k not in arrays]
        if missing:
            raise InputError(f"NPZ lacks array(s) {', '.join(missing)}", path)
        s = arrays["scores"]
        cats = arrays["categories"]
        ids = arrays["image_ids"]
        if s.ndim != 2 or s.shape != (len(ids), len(cats)):
            raise InputError(
                f"NPZ 'scores' has shape {s.shape}, expected ({len(ids)}, {len(cats)}) "
                "from 'image_ids' and 'categories'",
                path,
            )
        labels = [int(c) for c in cats] if np.issubdtype(cats.dtype, np.integer) else [str(c) for c in cats]
        df = pd.DataFrame(s.astype(np.float64), columns=labels)
        df.insert(0, "image_id", ids)
        return df, "npz"
    if ext in (".csv", ".parquet", ".pq"):
        df = _read_csv(path) if ext == ".csv" else read_table(path)
        if df.empty:
            raise InputError("score table has no rows", path)
        if "image_id" not in df.columns and "file_name" not in df.columns:
            raise InputError("score table lacks an 'image_id' (or 'file_name') column", path)
        if "score" in df.columns and ("category_id" in df.columns or "category" in df.columns):
            return df, "long"
        return df, "wide"
    raise InputError(f"unknown score file type '{ext}' (expected {', '.join(SCORE_EXTENSIONS)})", path)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV table whose floats read back exactly as written (``%.17g``), on any supported pandas.

    Before pandas 3.1 the default float converter can be off in the 17th significant
    digit; ``float_precision="round_trip"`` is exact (from 3.1 every converter is, and
    the argument is deprecated). Errors are :func:`~salanalysis.io.read_table`'s.
    """
    version = tuple(int(v) for v in re.findall(r"\d+", pd.__version__)[:2])
    if version < (3, 1) and path.is_file() and path.stat().st_size:
        try:
            return spreadsheet_unescape(pd.read_csv(path, float_precision="round_trip"))
        except Exception:  # read_table below gives the one-line error
            pass
    return read_table(path)


_DIGITS = re.compile(r"[0-9]+")


def _id_headers(columns: list, id_by_name: Mapping) -> bool:
    """Wide-table headers that are category ids: every header spells an integer and is not a name."""
    text = [str(c) for c in columns]
    return all(_DIGITS.fullmatch(c) for c in text) and not any(c in id_by_name for c in text)


def _ids_from_file_names(df: pd.DataFrame, annotations: Annotations, path: str | os.PathLike) -> pd.DataFrame:
    """``df`` keyed by ``file_name`` -> keyed by ``image_id``: each name matched to the annotations'
    ``file_name`` (or, failing that, its base name); an unknown name is an InputError."""
    images = annotations.images
    by_name = dict(zip(images["file_name"].astype(str), images["image_id"]))
    by_base: dict[str, set] = {}
    for name, iid in by_name.items():
        by_base.setdefault(Path(name).name, set()).add(iid)
    names = df["file_name"].astype(str).tolist()
    ids = []
    for name in names:
        iid = by_name.get(name)
        if iid is None:
            hits = by_base.get(Path(name).name, ())
            iid = next(iter(hits)) if len(hits) == 1 else None
        ids.append(iid)
    bad = [n for n, i in zip(names, ids) if i is None]
    if bad:
        raise InputError(f"{len(set(bad))} file name(s) not in the annotations' images, e.g. {bad[0]!r}", path)
    out = df.drop(columns=["file_name"])
    out.insert(0, "image_id", np.array(ids, dtype=np.int64))
    return out


def _check_ids(ids: pd.Series, path: str | os.PathLike) -> np.ndarray:
    num = pd.to_numeric(ids, errors="coerce")
    if num.isna().any() or (num != np.round(num)).any():
        bad = ids[num.isna() | (num != np.round(num))].iloc[0]
        raise InputError(f"image_id '{bad}' is not an integer", path)
    return num.to_numpy().astype(np.int64)


def read_scores(
    path: str | os.PathLike,
    annotations: Annotations,
    *,
    name: str | None = None,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
) -> Scores:
    """Read a score file and align it to the annotation file's images and categories.

    Parameters
    ----------
    path
        A wide or long CSV/Parquet table, an NPZ, or a COCO detection-results JSON.
    annotations
        The ground truth the scores refer to.
    name
        The score set's name (default: the file stem).
    logits
        The values are logits: convert with a sigmoid (otherwise values outside
        [0, 1] are an error).
    missing
        ``"error"`` (default): every annotated image must have scores;
        ``"zero"``: images without scores get 0 for every class. (Detection
        results are image-sparse by nature: an annotated image without any
        detection scores 0, whatever this option says.)

    Returns
    -------
    Scores
        Rows in ``annotations.images`` order, columns in category-id order.
    """
    path = Path(path)
    if missing not in ("error", "zero"):
        raise ValueError("missing must be 'error' or 'zero'")
    if path.is_dir():
        raise InputError(f"expected a score file ({', '.join(SCORE_EXTENSIONS)}), got a directory", path)
    name = name or path.stem
    df, layout = _frame_from_file(path)
    return _align_frame(df, layout, annotations, name=name, logits=logits, missing=missing, path=path)


def _align_frame(df: pd.DataFrame, layout: str, annotations: Annotations, *, name: str, logits: bool,
                 missing: str, path: Path | None) -> Scores:
    """A long, detections, wide or npz frame checked and aligned to the annotations (see :func:`read_scores`).

    ``path`` None: the frame was given in memory (errors name the score set instead).
    """
    source = "" if path is None else str(path)
    where = path if path is not None else f"score set {name!r}"  # what each error names
    if getattr(annotations, "subset_of", None) is not None:  # analysed on part of the dataset
        df = _restrict_frame(df, layout, annotations)
    if "image_id" not in df.columns:  # keyed by file name: matched through the annotations
        df = _ids_from_file_names(df, annotations, where)
    cats = annotations.categories
    id_by_name = dict(zip(cats["name"], cats["category_id"]))
    known_ids = set(int(c) for c in cats["category_id"])
    n_img, n_cat = len(annotations.images), len(cats)

    if layout in ("long", "detections"):
        if "category_id" in df.columns:
            cnum = pd.to_numeric(df["category_id"], errors="coerce")
            bad = df["category_id"][cnum.isna() | ~cnum.isin(list(known_ids))]
            if len(bad):
                raise InputError(f"unknown category id {bad.iloc[0]}", where)
            cat_ids = cnum.to_numpy().astype(np.int64)
        else:
            unknown = sorted(set(df["category"].astype(str)) - set(id_by_name))
            if unknown:
                raise InputError(f"unknown category {unknown[0]!r} ({len(unknown)} unknown)", where)
            cat_ids = df["category"].astype(str).map(id_by_name).to_numpy().astype(np.int64)
        img_ids = _check_ids(df["image_id"], where)
        values = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=np.float64)
        if layout == "long":
            pairs = pd.DataFrame({"i": img_ids, "c": cat_ids})
            dup = pairs.duplicated()
            if dup.any():
                r = pairs[dup].iloc[0]
                raise InputError(
                    f"duplicate rows for image {r['i']} category {r['c']} ({int(dup.sum())} duplicates)", where
                )
        wide_ids = np.unique(img_ids)
        col = np.searchsorted(annotations.category_ids, cat_ids)
        row = np.searchsorted(wide_ids, img_ids)
        if not np.isfinite(values).all():
            raise InputError("scores hold NaN or infinite values", where)
        if layout == "detections":
            mat = np.zeros((len(wide_ids), n_cat))
            np.maximum.at(mat, (row, col), values)
        else:
            mat = np.full((len(wide_ids), n_cat), np.nan)
            mat[row, col] = values
            holes = np.isnan(mat)
            if holes.any():
                r, c = np.argwhere(holes)[0]
                raise InputError(
                    f"missing scores for {int(holes.sum())} (image, category) pairs, "
                    f"e.g. image {wide_ids[r]} category {annotations.category_ids[c]}",
                    where,
                )
    else:  # wide or npz
        img_ids = _check_ids(df["image_id"], where)
        columns = [c for c in df.columns if c != "image_id"]
        if columns and (all(isinstance(c, (int, np.integer)) for c in columns) or _id_headers(columns, id_by_name)):
            unknown = [c for c in columns if int(c) not in known_ids]
            col_ids = [int(c) for c in columns]
        else:
            columns_s = [str(c) for c in columns]
            unknown = [c for c in columns_s if c not in id_by_name]
            col_ids = [id_by_name.get(c) for c in columns_s]  # type: ignore[misc]  # None: unknown
        if unknown:
            raise InputError(f"unknown category {str(unknown[0])!r} ({len(unknown)} unknown columns)", where)
        if len(set(col_ids)) != len(col_ids):
            raise InputError("a category appears in more than one column", where)
        absent = sorted(known_ids - set(col_ids))
        if absent:
            nm = cats.set_index("category_id")["name"]
            raise InputError(
                f"missing categories: {len(absent)} of {n_cat}, e.g. {nm[absent[0]]!r}", where
            )
        dup = pd.Series(img_ids).duplicated()
        if dup.any():
            raise InputError(
                f"duplicate rows for image {img_ids[dup.to_numpy()][0]} ({int(dup.sum())} duplicates)", where
            )
        try:
            raw = df[columns].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"non-numeric score: {exc}", where) from exc
        order = np.searchsorted(annotations.category_ids, np.array(col_ids, dtype=np.int64))
        mat = np.empty_like(raw)
        mat[:, order] = raw
        sort = np.argsort(img_ids, kind="stable")
        wide_ids, mat = img_ids[sort], mat[sort]
        if not np.isfinite(mat).all():
            raise InputError("scores hold NaN or infinite values", where)

    # images
    unknown_imgs = np.setdiff1d(wide_ids, annotations.image_ids)
    if unknown_imgs.size:
        raise InputError(
            f"{unknown_imgs.size} image id(s) not in the annotations, e.g. {unknown_imgs[0]}", where
        )
    if logits:
        mat = 1.0 / (1.0 + np.exp(-mat))
    elif mat.size and (mat.min() < 0 or mat.max() > 1):
        raise InputError(_range_message(mat), where)
    full = np.zeros((n_img, n_cat), dtype=np.float64)
    at = np.searchsorted(annotations.image_ids, wide_ids)
    full[at] = mat
    n_filled = n_img - len(wide_ids)
    if n_filled and layout != "detections" and missing == "error":
        unscored = np.setdiff1d(annotations.image_ids, wide_ids)
        raise InputError(
            f"{n_filled} annotated image(s) have no scores, e.g. {unscored[0]} "
            "(to evaluate on the scored images: --image-ids FILE, or MetricRules(image_ids=...); "
            "--missing zero scores them 0, as all-negative predictions)",
            where,
        )
    return Scores(name=name, image_ids=annotations.image_ids, category_ids=annotations.category_ids,
                  categories=annotations.category_names, scores=full, source=source,
                  n_filled=n_filled, meta={"layout": layout, "logits": logits})


def _restrict_frame(df: pd.DataFrame, layout: str, annotations: Annotations) -> pd.DataFrame:
    """Drop the rows and columns of images and categories that the full annotations hold and
    their subset (``annotations.subset_of``, :mod:`salanalysis.subsets`) leaves out."""
    parent = annotations.subset_of  # type: ignore[attr-defined]
    ids = pd.to_numeric(df["image_id"], errors="coerce")
    out = df[~ids.isin(np.setdiff1d(parent.image_ids, annotations.image_ids)).to_numpy()]
    gone = set(int(c) for c in np.setdiff1d(parent.category_ids, annotations.category_ids))
    if not gone:
        return out
    cats = parent.categories
    gone_names = set(cats.loc[cats["category_id"].isin(list(gone)), "name"])
    if layout in ("long", "detections"):
        if "category_id" in out.columns:
            drop = pd.to_numeric(out["category_id"], errors="coerce").isin(list(gone))
        else:
            drop = out["category"].astype(str).isin(gone_names)
        return out[~drop.to_numpy()]
    cols = [c for c in out.columns if c != "image_id" and (
        int(c) in gone if isinstance(c, (int, np.integer)) else str(c) in gone_names)]
    return out.drop(columns=cols)


def _range_message(mat: np.ndarray) -> str:
    """Why scores outside [0, 1] are refused, with the likely cause (percent, or logits)."""
    lo, hi = float(mat.min()), float(mat.max())
    if lo >= 0 and 1 < hi <= 100:
        return (f"scores outside [0, 1] (min {lo:.6g}, max {hi:.6g}) look like percent: "
                "divide them by 100 (--logits only if they are logits)")
    return f"scores outside [0, 1] (min {lo:.6g}, max {hi:.6g}); pass --logits (logits=True) if these are logits"


def read_score_sets(
    scores: Scores
    | Mapping[str, Scores | str | os.PathLike | pd.DataFrame]
    | Sequence[Scores | tuple[str, str | os.PathLike | pd.DataFrame]]
    | None,
    annotations: Annotations,
    *,
    logits: bool = False,
    missing: Literal["error", "zero"] = "error",
) -> list[Scores]:
    """The named score sets of an analysis, read where given as files.

    Parameters
    ----------
    scores
        A mapping name -> :class:`Scores`, score file or DataFrame (wide: ``image_id``
        plus one column per class; :meth:`Scores.from_frame`; a ``Scores`` under another
        name is renamed), or a sequence of ``Scores`` and ``(name, path)`` pairs,
        or one ``Scores``, or ``None`` (no score sets). A file whose name is
        ``None`` or ``""`` is named after its stem, as :func:`read_scores` does.
    annotations, logits, missing
        As in :func:`read_scores` (for the files).

    Raises
    ------
    InputError
        A file cannot be read (see :func:`read_scores`) or a name is given twice.
    """
    if scores is None:
        return []
    items = [scores] if isinstance(scores, Scores) else scores
    pairs = list(items.items()) if isinstance(items, Mapping) else [
        (s.name, s) if isinstance(s, Scores) else tuple(s) for s in items
    ]
    out: list[Scores] = []
    for name, s in pairs:
        label = None if name is None or name == "" else str(name)  # None/"": the file stem
        if isinstance(s, pd.DataFrame):
            s = Scores.from_frame(s, annotations, name=label or "scores", logits=logits, missing=missing)
        elif not isinstance(s, Scores):
            s = read_scores(s, annotations, name=label, logits=logits, missing=missing)
        elif getattr(annotations, "subset_of", None) is not None:  # a set of the full dataset, on the subset
            s = dataclasses.replace(s, image_ids=annotations.image_ids, category_ids=annotations.category_ids,
                                    categories=annotations.category_names,
                                    scores=s.aligned(annotations.image_ids, annotations.category_ids).copy())
        out.append(s if label is None or s.name == label else dataclasses.replace(s, name=label))
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"score set name {dup[0]!r} given twice")
    return out


# --------------------------------------------------------------------- writing
def write_scores(
    scores: Scores, path: str | os.PathLike, layout: Literal["wide", "long"] = "wide"
) -> Path:
    """Write a score set atomically; the format follows the extension.

    ``.csv``/``.parquet`` write the ``layout`` table (wide by default), ``.npz``
    the three arrays, ``.json`` COCO-style image-level results (one record per
    (image, class) with a positive score, no box). Every format reads back to
    the same array with :func:`read_scores`.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".csv", ".parquet", ".pq"):
        df = scores.to_wide() if layout == "wide" else scores.to_long()
        with atomic_path(path) as tmp:
            if ext == ".csv":
                spreadsheet_safe(df).to_csv(tmp, index=False, float_format="%.17g")
            else:
                df.to_parquet(tmp, index=False)
        return path
    if ext == ".npz":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    image_ids=scores.image_ids,
                    scores=scores.scores,
                    categories=np.array(scores.categories),
                )
        return path
    if ext == ".json":
        i, c = np.nonzero(scores.scores > 0)
        records = [
            {"image_id": int(scores.image_ids[a]), "category_id": int(scores.category_ids[b]),
             "score": float(scores.scores[a, b])}
            for a, b in zip(i, c)
        ]
        return write_json(path, records)
    raise InputError(f"unknown score file type '{ext}' (expected {', '.join(SCORE_EXTENSIONS)})", path)
