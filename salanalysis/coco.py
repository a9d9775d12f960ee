"""COCO-format instance annotations, read through pycocotools.

:class:`Annotations` wraps :class:`pycocotools.coco.COCO` and exposes tidy
tables:

``images``
    image_id, file_name, width, height (sorted by image_id; the row order every
    image-level array in the package follows).
``categories``
    category_id, name, supercategory, index (contiguous 0..C-1 in category-id
    order; the column order of every score and label matrix).
``instances``
    ann_id, image_id, category_id, bbox_x, bbox_y, bbox_w, bbox_h, area, iscrowd
    (sorted by image_id, ann_id). Crowd annotations stay in the table, flagged by
    ``iscrowd``; analyses exclude them by default.

Masks are decoded by pycocotools (polygons, compressed and uncompressed RLE).
Works for any COCO-format instances file, not only COCO's 80 classes.

Validation (each an :class:`~salanalysis.errors.InputError` naming the file):
the ``images``, ``categories`` and ``annotations`` lists must exist (an
image-info file without ``annotations``, such as ``image_info_test2014.json``,
is not ground truth; a file of images without objects says
``"annotations": []``); ids are unique and every annotation names a known
image and category; ids are integers, or all strings of digits (read as the
integers they spell: :mod:`salanalysis._coco_fields`); width and height are
whole numbers; a category name is a string; a ``bbox`` is four finite numbers ``[x, y, w, h]``, none
negative.

Streaming
    :meth:`Annotations.load` reads a file of :data:`STREAM_BYTES` (256 MiB) or
    more item by item with ijson (:mod:`salanalysis._coco_stream`; ``stream=``
    forces either way): ids, boxes and areas in arrays, polygon coordinates in
    one float64 array with offsets, compressed RLE counts in one byte buffer;
    the JSON tree and the per-annotation dicts never exist. The tables, masks,
    error messages and the object table equal those of the in-memory reader
    (tests/test_coco_stream.py). :meth:`Annotations.ann` then rebuilds the
    fields the package reads, and :attr:`Annotations.coco` is built from the
    arrays on first use (at the memory streaming avoids). ``NaN`` and
    ``Infinity`` literals (not JSON) are a malformed-JSON error there.

LVIS
    Images may carry ``neg_category_ids`` (classes verified absent) and
    ``not_exhaustive_category_ids`` (classes present but not every instance
    annotated), as in LVIS. :meth:`Annotations.federated_labels` returns them
    as matrices; the metrics use them for LVIS's federated evaluation
    (:mod:`salanalysis.metrics`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from salanalysis._coco_fields import normalize_ids, pixels
from salanalysis._coco_stream import NONE as SEG_NONE
from salanalysis._coco_stream import read_stream
from salanalysis.errors import InputError
from salanalysis.io import _existing_file, read_json

__all__ = ["COCO80", "STREAM_BYTES", "Annotations", "is_coco80", "load_annotations"]

#: Files of this many bytes or more are read as a stream by default (:meth:`Annotations.load`):
#: ``json.load`` of a file needs several times its size in Python objects.
STREAM_BYTES = 256 * 2**20

#: COCO's 80 object categories (2014/2017 instances files): category id -> name.
COCO80: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}

_IMAGE_KEYS = ("id", "width", "height")
_ANN_KEYS = ("id", "image_id", "category_id")


def _check_sizes(images: list, path: Path) -> None:
    """Width and height: numbers, and no image over the ``pixels`` limit (checked before any mask
    or map of that size is allocated)."""
    from salanalysis.limits import check_pixels

    for i, im in enumerate(images):
        _check_size(i, im["id"], im["width"], im["height"], path, check_pixels)


def _check_size(i: int, image_id: object, width: object, height: object, path: Path, check_pixels=None) -> bool:
    """One image of :func:`_check_sizes` (also the streaming reader's ``check_image``)."""
    if check_pixels is None:
        from salanalysis.limits import check_pixels
    size = []
    for key, v in (("width", width), ("height", height)):
        if v is None:  # an unknown size: whoever needs it says so
            continue
        try:
            f = float(v) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else None
        except (ValueError, OverflowError):
            f = None
        if f is None or not math.isfinite(f):
            raise InputError(f"images[{i}] (id {image_id!r}): {key} must be a number, got {v!r:.40}", path)
        size.append(f)
    if len(size) == 2 and size[0] > 0 and size[1] > 0:
        check_pixels(math.ceil(size[0]), math.ceil(size[1]), f"images[{i}] (id {image_id!r}) declares", path)
    return True


def _validate(data: object, path: Path) -> dict:
    """The checked ``data``, its ids as integers (:func:`~salanalysis._coco_fields.normalize_ids`)."""
    if not isinstance(data, dict):
        raise InputError("not a COCO instances file: top level is not a JSON object", path)
    for key in ("images", "categories"):
        if key not in data:
            raise InputError(f"not a COCO instances file: missing '{key}'", path)
        if not isinstance(data[key], list):
            raise InputError(f"not a COCO instances file: '{key}' is not a list", path)
    if "annotations" not in data:
        raise InputError(
            "not a COCO instances file: missing 'annotations' (an image-info file has none; "
            "a file whose images have no objects says \"annotations\": [])", path)
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise InputError("not a COCO instances file: 'annotations' is not a list", path)
    if not data["categories"]:
        raise InputError("no categories listed", path)
    for i, im in enumerate(data["images"]):
        missing = [k for k in _IMAGE_KEYS if not isinstance(im, dict) or k not in im]
        if missing:
            raise InputError(f"images[{i}] lacks {', '.join(missing)}", path)
    for i, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise InputError(f"categories[{i}] lacks id or name", path)
        if not isinstance(c["name"], str):
            raise InputError(f"category {c['id']}: name {c['name']!r} is not a string", path)
    for i, a in enumerate(anns):
        missing = [k for k in _ANN_KEYS if not isinstance(a, dict) or k not in a]
        if missing:
            raise InputError(f"annotations[{i}] lacks {', '.join(missing)}", path)
    data = normalize_ids(data, path, _FEDERATED_KEYS)
    anns = data["annotations"]
    _check_sizes(data["images"], path)
    ids = [im["id"] for im in data["images"]]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise InputError(f"duplicate image id {dup}", path)
    cids = [c["id"] for c in data["categories"]]
    if len(set(cids)) != len(cids):
        raise InputError("duplicate category id", path)
    names = [c["name"] for c in data["categories"]]
    if len(set(names)) != len(names):
        raise InputError("duplicate category name", path)
    image_set, cat_set = set(ids), set(cids)
    ann_ids = set()
    for a in anns:
        if a["image_id"] not in image_set:
            raise InputError(f"annotation {a['id']} refers to unknown image id {a['image_id']}", path)
        if a["category_id"] not in cat_set:
            raise InputError(
                f"annotation {a['id']} refers to unknown category id {a['category_id']}", path
            )
        if a["id"] in ann_ids:
            raise InputError(f"duplicate annotation id {a['id']}", path)
        ann_ids.add(a["id"])
        if "segmentation" not in a and "bbox" not in a:
            raise InputError(f"annotation {a['id']} has neither segmentation nor bbox", path)
    _check_federated(data["images"], cat_set, path)
    return data


def _bboxes(anns: list, path: Path) -> np.ndarray:
    """The (n, 4) float64 boxes (NaN where an annotation has none); InputError on a malformed one."""
    raw = [a.get("bbox", _NO_BOX) for a in anns]
    try:
        bbox = np.array(raw, dtype=np.float64).reshape(-1, 4)
        if len(bbox) != len(anns):
            raise ValueError
    except (TypeError, ValueError):
        for a, b in zip(anns, raw):
            ok = isinstance(b, (list, tuple)) and len(b) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
            if not ok:
                raise InputError(f"annotation {a['id']}: bbox must be four numbers [x, y, width, height], "
                                 f"got {b!r}", path) from None
        raise
    has = np.array([b is not _NO_BOX for b in raw], dtype=bool)
    bad = has & ~np.isfinite(bbox).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise InputError(f"annotation {anns[k]['id']}: bbox holds a non-finite number: {raw[k]!r}", path)
    bad = has & (bbox < 0).any(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise InputError(f"annotation {anns[k]['id']}: bbox [x, y, width, height] holds a negative number: "
                         f"{raw[k]!r}", path)
    return bbox


_NO_BOX = [np.nan] * 4
_FEDERATED_KEYS = ("neg_category_ids", "not_exhaustive_category_ids")


def _check_federated(images: list, cat_set: set, path: Path) -> None:
    for im in images:
        for key in _FEDERATED_KEYS:
            ids = im.get(key)
            if ids is None:
                continue
            if not isinstance(ids, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in ids):
                raise InputError(f"image {im['id']}: '{key}' must be a list of category ids", path)
            unknown = [c for c in ids if c not in cat_set]
            if unknown:
                raise InputError(f"image {im['id']}: '{key}' names unknown category id {unknown[0]}", path)


class Annotations:
    """A COCO-format instances file (``segments``: the compact segmentations of a streamed file, else None).

    Parameters
    ----------
    data
        The parsed JSON (a dict with ``images``, ``categories`` and ``annotations``).
    path
        Where it came from (used in error messages and provenance).

    Use :meth:`load` (or :func:`load_annotations`) to read a file.
    """

    def __init__(self, data: dict, path: str | os.PathLike = "<memory>") -> None:
        self.path = Path(path)
        data = _validate(data, self.path)
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        self._coco = coco
        self.segments = None
        self._federated = None

        imgs = pd.DataFrame(
            {
                "image_id": [im["id"] for im in data["images"]],
                "file_name": [im.get("file_name", f"{im['id']}.jpg") for im in data["images"]],
                "width": [pixels(im["width"], "width", im["id"], self.path) for im in data["images"]],
                "height": [pixels(im["height"], "height", im["id"], self.path) for im in data["images"]],
            }
        )
        self.images = imgs.sort_values("image_id", kind="stable").reset_index(drop=True)
        self.images["image_id"] = self.images["image_id"].astype(np.int64)

        cats = sorted(data["categories"], key=lambda c: c["id"])
        self.categories = pd.DataFrame(
            {
                "category_id": np.array([c["id"] for c in cats], dtype=np.int64),
                "name": [str(c["name"]) for c in cats],
                "supercategory": [str(c.get("supercategory", "")) for c in cats],
                "index": np.arange(len(cats), dtype=np.int64),
            }
        )

        anns = data["annotations"]
        bbox = _bboxes(anns, self.path)
        inst = pd.DataFrame(
            {
                "ann_id": np.array([a["id"] for a in anns], dtype=np.int64),
                "image_id": np.array([a["image_id"] for a in anns], dtype=np.int64),
                "category_id": np.array([a["category_id"] for a in anns], dtype=np.int64),
                "bbox_x": bbox[:, 0],
                "bbox_y": bbox[:, 1],
                "bbox_w": bbox[:, 2],
                "bbox_h": bbox[:, 3],
                "area": np.array([float(a.get("area", np.nan)) for a in anns], dtype=np.float64),
                "iscrowd": np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
            }
        )
        self.instances = inst.sort_values(["image_id", "ann_id"], kind="stable").reset_index(drop=True)
        self._cat_index = dict(zip(self.categories["category_id"], self.categories["index"]))
        self._img_index = dict(zip(self.images["image_id"], range(len(self.images))))

    @classmethod
    def _from_stream(cls, path: Path) -> Annotations:
        """An :class:`Annotations` from :func:`salanalysis._coco_stream.read_stream` (no JSON tree kept)."""
        parts = read_stream(path, check_image=_check_size)
        self = cls.__new__(cls)
        self.path = path
        self._coco = None
        self.segments = parts.segments
        self._federated = parts.federated
        self._has_federated = parts.has_federated
        imgs = pd.DataFrame(parts.images)
        self.images = imgs.sort_values("image_id", kind="stable").reset_index(drop=True)
        for col in ("image_id", "width", "height"):
            self.images[col] = self.images[col].astype(np.int64)
        cats = sorted(parts.categories, key=lambda c: c["id"])
        self.categories = pd.DataFrame(
            {
                "category_id": np.array([c["id"] for c in cats], dtype=np.int64),
                "name": [str(c["name"]) for c in cats],
                "supercategory": [str(c["supercategory"]) for c in cats],
                "index": np.arange(len(cats), dtype=np.int64),
            }
        )
        bbox = parts.bbox
        inst = pd.DataFrame(
            {
                "ann_id": parts.ann_id, "image_id": parts.image_id, "category_id": parts.category_id,
                "bbox_x": bbox[:, 0], "bbox_y": bbox[:, 1], "bbox_w": bbox[:, 2], "bbox_h": bbox[:, 3],
                "area": parts.area, "iscrowd": parts.iscrowd,
            }
        )
        order = np.lexsort((parts.ann_id, parts.image_id))  # stable: as sort_values(kind="stable")
        self.instances = inst.iloc[order].reset_index(drop=True)
        self._ann_file = np.argsort(parts.ann_id, kind="stable")  # ann_id lookup: file rows by id
        self._ann_sorted = parts.ann_id[self._ann_file]
        self._file_row = order  # row of `instances` -> file row (the row of `segments`)
        self._inst_row = np.empty(len(order), dtype=np.int64)  # file row -> row of `instances`
        self._inst_row[order] = np.arange(len(order))
        self._has_bbox = parts.has_bbox
        self._cat_index = dict(zip(self.categories["category_id"], self.categories["index"]))
        self._img_index = dict(zip(self.images["image_id"], range(len(self.images))))
        return self

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, *, stream: bool | None = None) -> Annotations:
        """Read and validate a COCO instances JSON file.

        ``stream``: read the file item by item (:mod:`salanalysis._coco_stream`:
        compact arrays, the JSON tree never in memory) instead of ``json.load``.
        None (the default) streams files of :data:`STREAM_BYTES` or more. Both
        give the same tables, masks and object table; a streamed instance builds
        :attr:`coco` (the pycocotools object) only when asked for it, from its
        arrays, and :meth:`ann` returns only the fields the package reads.
        """
        path = Path(path)
        if stream is None:
            try:
                stream = os.path.getsize(path) >= STREAM_BYTES
            except OSError:
                stream = False  # read_json names the problem
        if stream:
            return cls._from_stream(_existing_file(path, "a JSON file"))
        return cls(read_json(path), path)

    @property
    def coco(self) -> COCO:
        """The :class:`pycocotools.coco.COCO` object (built on first use for a streamed file: that
        holds every annotation as Python dicts, the memory streaming avoids)."""
        if self._coco is None:
            dataset = {
                "images": [self._image_dict(r) for r in self.images.itertuples(index=False)],
                "categories": [{"id": int(r.category_id), "name": r.name, "supercategory": r.supercategory}
                               for r in self.categories.itertuples(index=False)],
                "annotations": [self.ann(int(i)) for i in self.instances["ann_id"].tolist()],
            }
            coco = COCO()
            coco.dataset = dataset
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco = coco
        return self._coco

    def _image_dict(self, r) -> dict:
        im = {"id": int(r.image_id), "file_name": r.file_name, "width": int(r.width), "height": int(r.height)}
        im.update(self._federated.get(int(r.image_id), {}))
        return im

    # ---------------------------------------------------------------- accessors
    @property
    def image_ids(self) -> np.ndarray:
        """Image ids in row order (sorted ascending)."""
        return self.images["image_id"].to_numpy()

    @property
    def category_ids(self) -> np.ndarray:
        """Category ids in column order (sorted ascending)."""
        return self.categories["category_id"].to_numpy()

    @property
    def category_names(self) -> list[str]:
        """Category names in column order."""
        return list(self.categories["name"])

    def category_index(self, category_id: int) -> int:
        """Contiguous index 0..C-1 of a category id."""
        return int(self._cat_index[category_id])

    def image_index(self, image_id: int) -> int:
        """Row of an image id in :attr:`images`."""
        return int(self._img_index[image_id])

    @property
    def has_federated_fields(self) -> bool:
        """Whether any image carries ``neg_category_ids`` or ``not_exhaustive_category_ids`` (LVIS)."""
        if self._federated is not None:
            return self._has_federated
        return any(k in im for im in self.coco.dataset["images"] for k in _FEDERATED_KEYS)

    def federated_labels(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The LVIS image-level class lists as bool matrices (images x categories, in row/column order).

        Returns
        -------
        (negative, not_exhaustive) or None
            ``negative[i, c]``: class ``c`` is verified absent from image ``i``
            (``neg_category_ids``); ``not_exhaustive[i, c]``: class ``c`` is in
            the image but not every instance is annotated
            (``not_exhaustive_category_ids``). None when no image carries either field.
        """
        if not self.has_federated_fields:
            return None
        shape = (len(self.images), len(self.categories))
        neg, nex = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        images = (self.coco.dataset["images"] if self._federated is None
                  else [{"id": i, **f} for i, f in self._federated.items()])
        for im in images:
            row = self._img_index[im["id"]]
            for key, mat in zip(_FEDERATED_KEYS, (neg, nex)):
                cols = [self._cat_index[c] for c in im.get(key) or ()]
                mat[row, cols] = True
        return neg, nex

    def instances_for(self, include_crowd: bool = False) -> pd.DataFrame:
        """The instance table, without crowd annotations unless ``include_crowd``."""
        if include_crowd:
            return self.instances
        return self.instances[~self.instances["iscrowd"]].reset_index(drop=True)

    def n_objects(self) -> pd.Series:
        """Non-crowd instances per image, indexed by image_id (0 for empty images)."""
        counts = self.instances_for(False).groupby("image_id").size()
        return counts.reindex(self.image_ids, fill_value=0).rename("n_objects")

    def label_matrix(self, include_crowd: bool = True) -> np.ndarray:
        """Ground-truth labels, ``bool`` array (images x categories).

        An image is positive for a class when it has at least one annotation of
        that class. Crowd annotations count by default (as ML-GCN and ASL do).
        Images without annotations are all-negative rows.
        """
        inst = self.instances_for(include_crowd)
        y = np.zeros((len(self.images), len(self.categories)), dtype=bool)
        rows = inst["image_id"].map(self._img_index).to_numpy()
        cols = inst["category_id"].map(self._cat_index).to_numpy()
        y[rows, cols] = True
        return y

    # ------------------------------------------------------------------- masks
    def ann(self, ann_id: int) -> dict:
        """The raw annotation dict (of a streamed file: id, image_id, category_id, bbox, area,
        iscrowd and segmentation, rebuilt from the arrays)."""
        if self.segments is None:
            return self.coco.anns[ann_id]
        k = int(np.searchsorted(self._ann_sorted, ann_id))
        if k == len(self._ann_sorted) or self._ann_sorted[k] != ann_id:
            raise KeyError(ann_id)
        i = int(self._ann_file[k])  # row in file order
        r = self.instances.iloc[int(self._inst_row[i])]
        out = {"id": int(ann_id), "image_id": int(r["image_id"]), "category_id": int(r["category_id"])}
        if self._has_bbox[i]:
            out["bbox"] = [float(r[c]) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
        if not np.isnan(r["area"]):
            out["area"] = float(r["area"])
        out["iscrowd"] = int(r["iscrowd"])
        if self.segments.kind[i] != SEG_NONE:
            out["segmentation"] = self.segments.segmentation(i)
        return out

    def segment_rows(self, include_crowd: bool = False) -> np.ndarray:
        """Rows of :attr:`segments` (a streamed file) aligned with :meth:`instances_for`."""
        return self._file_row if include_crowd else self._file_row[~self.instances["iscrowd"].to_numpy()]

    def rle(self, ann_id: int) -> dict:
        """Compressed RLE of an annotation (polygons and uncompressed RLE converted)."""
        if self.segments is None:
            return self.coco.annToRLE(self.coco.anns[ann_id])
        ann = self.ann(ann_id)
        im = self.images.iloc[self._img_index[ann["image_id"]]]
        return _ann_to_rle(ann["segmentation"], int(im["height"]), int(im["width"]))

    def mask(self, ann_id: int) -> np.ndarray:
        """Binary mask (uint8, image height x width), as ``COCO.annToMask``."""
        return mask_utils.decode(self.rle(ann_id))

    def __repr__(self) -> str:
        n_crowd = int(self.instances["iscrowd"].sum())
        return (
            f"Annotations({str(self.path)!r}: {len(self.images)} images, "
            f"{len(self.instances)} instances ({n_crowd} crowd), {len(self.categories)} categories)"
        )


def load_annotations(path: str | os.PathLike, *, stream: bool | None = None) -> Annotations:
    """Read and validate a COCO instances JSON file (see :class:`Annotations` and its ``load``)."""
    return Annotations.load(path, stream=stream)


def _ann_to_rle(segm: object, h: int, w: int) -> dict:
    """``COCO.annToRLE`` for one segmentation of an ``h`` x ``w`` image."""
    if isinstance(segm, list):
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm["counts"], list):
        return mask_utils.frPyObjects(segm, h, w)
    return segm


def is_coco80(annotations: Annotations) -> bool:
    """Whether the annotation file lists exactly COCO's 80 categories (:data:`COCO80`: ids and names)."""
    cats = annotations.categories
    return dict(zip(cats["category_id"].tolist(), cats["name"].tolist())) == COCO80
