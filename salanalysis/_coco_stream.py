"""A COCO instances file read as a stream (ijson): compact columns, never the whole JSON tree.

:func:`read_stream` parses the file three times with ijson's C backend
(``images``, ``categories``, then ``annotations``, item by item) and turns each
item into compact form at once: ids, boxes, areas and flags in typed arrays,
polygon coordinates in one float64 array with offsets, compressed RLE counts in
one byte buffer with offsets. Only a segmentation that fits none of these (an
uncompressed RLE, or a malformed one that :mod:`salanalysis.objects` will refuse
with its own message) is kept as the Python object it was. Memory therefore
grows with the number of objects and vertices as numbers, not as Python dicts.

Validation gives the messages :func:`salanalysis.coco._validate` gives. Each
check is a *stage* in that function's order; the first failure of each stage is
kept while streaming and the earliest stage's is raised at the end, so a file
with several faults names the same one as the in-memory reader, including the
image size limits of :mod:`salanalysis.limits` (``check_image``). Hostile files:
nesting deeper than :data:`MAX_DEPTH` is refused by a numpy scan of the bytes
before any parsing (``malformed JSON: nested too deeply to read``); an integer
beyond int64 or a float that overflows is a ``malformed JSON`` line from yajl.
One difference: ``NaN`` and ``Infinity`` are not JSON and ijson refuses them
(``malformed JSON``), where Python's ``json`` module reads them (and the box
check then refuses them).
"""

from __future__ import annotations

import array
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salanalysis._coco_fields import _check_ref, _kind, _one_kind, pixels
from salanalysis.errors import InputError

__all__ = ["SegmentStore", "StreamedParts", "read_stream", "packed_polygons", "max_depth", "MAX_DEPTH",
           "FEDERATED_KEYS"]

FEDERATED_KEYS = ("neg_category_ids", "not_exhaustive_category_ids")
_INT_TEXT = re.compile(r"-?[0-9]+")

#: segmentation kinds in :class:`SegmentStore`
POLY, RLE_STR, RAW, NONE = 0, 1, 2, 3


@dataclass
class SegmentStore:
    """Every annotation's segmentation in compact form, in file order.

    ``kind[i]``: POLY (polygons ``poly_first[i]..poly_first[i]+n_poly[i]`` of
    ``poly_len`` / ``poly_start`` into ``coords``), RLE_STR (``counts`` bytes
    ``rle_start[i]..rle_end[i]``, size ``rle_h[i] x rle_w[i]``), RAW (``raw[i]``
    holds the JSON value) or NONE (no ``segmentation`` key).
    """

    kind: np.ndarray
    n_poly: np.ndarray
    poly_first: np.ndarray
    poly_len: np.ndarray  # coordinates (2 per vertex) per polygon
    poly_start: np.ndarray
    coords: np.ndarray
    rle_h: np.ndarray
    rle_w: np.ndarray
    rle_start: np.ndarray
    rle_end: np.ndarray
    counts: bytes
    raw: dict[int, object] = field(default_factory=dict)

    def segmentation(self, i: int) -> object:
        """The JSON value of annotation ``i``'s segmentation (polygon numbers as floats); None if absent."""
        k = int(self.kind[i])
        if k == POLY:
            p0 = int(self.poly_first[i])
            return [self.coords[s:s + n].tolist()
                    for s, n in zip(self.poly_start[p0:p0 + self.n_poly[i]].tolist(),
                                    self.poly_len[p0:p0 + self.n_poly[i]].tolist())]
        if k == RLE_STR:
            return {"size": [int(self.rle_h[i]), int(self.rle_w[i])],
                    "counts": self.counts[self.rle_start[i]:self.rle_end[i]].decode("ascii")}
        if k == RAW:
            return self.raw[i]
        return None

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.kind, self.n_poly, self.poly_first, self.poly_len, self.poly_start,
                                      self.coords, self.rle_h, self.rle_w, self.rle_start, self.rle_end)) + len(
            self.counts)


@dataclass
class StreamedParts:
    """What :func:`read_stream` returns: checked columns in file order (ids as integers)."""

    images: dict  # image_id, file_name, width, height (lists / arrays)
    categories: list  # dicts id, name, supercategory
    federated: dict  # image_id -> {key: [category ids]} for images carrying the LVIS fields
    has_federated: bool
    ann_id: np.ndarray
    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    has_bbox: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray
    segments: SegmentStore


def _one_line(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):  # yajl's message, with the offending bytes quoted
        text = text.decode("utf-8", errors="replace")
    return " ".join(str(text).split())


def _items(path: Path, prefix: str):
    import ijson

    with open(path, "rb") as fh:
        yield from ijson.items(fh, prefix, use_float=True)


class _Errors:
    """The first failure of each validation stage; :meth:`raise_first` raises the earliest stage's."""

    def __init__(self, path: Path) -> None:
        self.path, self.first = path, {}

    def add(self, stage: float, message: str | InputError) -> None:
        self.first.setdefault(stage, message if isinstance(message, InputError) else InputError(message, self.path))

    def run(self, stage: float, fn, *args):
        try:
            return fn(*args)
        except InputError as exc:  # kept as raised (a LimitError stays one)
            self.add(stage, exc)
            return None

    def raise_first(self) -> None:
        if self.first:
            raise self.first[min(self.first)]


def _num(v: object) -> object:
    return int(v) if isinstance(v, str) and _INT_TEXT.fullmatch(v) else v


def _top(path: Path) -> None:
    """Top-level checks: an object holding lists ``images``, ``categories`` and ``annotations``."""
    import ijson

    with open(path, "rb") as fh:
        try:
            first = next(ijson.parse(fh), None)
        except ijson.JSONError as exc:
            raise InputError(f"malformed JSON: {_one_line(exc)}", path) from None
    if first is None or first[1] != "start_map":
        raise InputError("not a COCO instances file: top level is not a JSON object", path)


def _whole(path: Path, key: str) -> list:
    """The top-level value of ``key`` when it yielded no item: [] or raise the structural error."""
    found = list(_items(path, key))
    if not found:
        if key == "annotations":
            raise InputError(
                "not a COCO instances file: missing 'annotations' (an image-info file has none; "
                "a file whose images have no objects says \"annotations\": [])", path)
        raise InputError(f"not a COCO instances file: missing '{key}'", path)
    if not isinstance(found[-1], list):
        raise InputError(f"not a COCO instances file: '{key}' is not a list", path)
    return found[-1]


def _bbox_floats(b: object) -> list | None:
    """``b`` as four floats the way ``numpy.array(boxes, float64)`` reads it (None where it cannot)."""
    if not isinstance(b, (list, tuple)) or len(b) != 4 or any(isinstance(v, (list, dict)) for v in b):
        return None
    try:
        return [math.nan if v is None else float(v) for v in b]
    except (TypeError, ValueError):
        return None


def _strict_box(b: object) -> bool:
    return isinstance(b, (list, tuple)) and len(b) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)


#: Deeper nesting is refused before parsing (ijson's item prefixes grow with the depth, so a file
#: of ``[[[[...`` a million deep would need terabytes); a COCO file nests 5 deep.
MAX_DEPTH = 1000


def max_depth(path: Path, chunk: int = 1 << 20) -> int:
    """The deepest nesting of brackets outside strings in the file (numpy, ``chunk`` bytes at a time)."""
    depth, deepest, in_str, bs_run = 0, 0, False, 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            b = np.frombuffer(block, dtype=np.uint8)
            idx = np.arange(len(b), dtype=np.int32)
            last = np.maximum.accumulate(np.where(b != 92, idx, -1))  # last non-backslash at or before i
            before = np.empty(len(b), dtype=np.int32)  # backslashes right before byte i
            before[0] = bs_run
            run = idx[1:] - 1 - last[:-1]
            before[1:] = np.where(last[:-1] < 0, run + bs_run, run)
            quote = (b == 34) & (before % 2 == 0)
            inside = ((np.cumsum(quote, dtype=np.int32) - quote) % 2 == 1) ^ in_str  # inside a string
            delta = ((b == 91) | (b == 123)).astype(np.int8) - ((b == 93) | (b == 125)).astype(np.int8)
            delta[inside | quote] = 0
            levels = depth + np.cumsum(delta, dtype=np.int64)
            deepest = max(deepest, int(levels.max()))
            depth = int(levels[-1])
            in_str = bool(in_str ^ (int(quote.sum()) % 2 == 1))
            bs_run = len(b) - 1 - int(last[-1]) + (bs_run if last[-1] < 0 else 0)
    return deepest


def read_stream(path: str | Path, check_image=None) -> StreamedParts:
    """Read and check a COCO instances file item by item (see the module docstring).

    ``check_image(i, image_id, width, height, path)``, if given, checks each image's
    declared size (raising InputError) after the id checks, as the in-memory reader does.

    Raises
    ------
    InputError
        The message :class:`salanalysis.coco.Annotations` gives for the same file.
    """
    import ijson

    path = Path(path)
    if max_depth(path) > MAX_DEPTH:
        raise InputError("malformed JSON: nested too deeply to read", path)
    try:
        return _read(path, check_image)
    except ijson.JSONError as exc:
        raise InputError(f"malformed JSON: {_one_line(exc)}", path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc}", path) from None


def _read(path: Path, check_image) -> StreamedParts:
    _top(path)
    err = _Errors(path)
    # ------------------------------------------------------------------ images
    ids, names, widths, heights, fed, has_fed = [], [], [], [], {}, False
    n_img = 0
    for i, im in enumerate(_items(path, "images.item")):
        n_img += 1
        missing = [k for k in ("id", "width", "height") if not isinstance(im, dict) or k not in im]
        if missing:
            err.add(1, f"images[{i}] lacks {', '.join(missing)}")
            continue
        ids.append(im["id"])
        names.append(im.get("file_name"))
        widths.append(im["width"])
        heights.append(im["height"])
        present = {k: im[k] for k in FEDERATED_KEYS if k in im}
        if present:
            has_fed = True
            fed[len(ids) - 1] = present
    if n_img == 0:
        _whole(path, "images")
    cats = list(_items(path, "categories.item"))
    if not cats:
        _whole(path, "categories")
        err.add(0.5, "no categories listed")
    for i, c in enumerate(cats):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            err.add(2, f"categories[{i}] lacks id or name")
            cats = []
            break
        if not isinstance(c["name"], str):
            err.add(2, f"category {c['id']}: name {c['name']!r} is not a string")
            break
    img_kind = err.run(4, _one_kind, ids, "image id", path)
    cat_kind = err.run(5, _one_kind, [c["id"] for c in cats], "category id", path)
    ids = [_num(v) for v in ids]
    cids = [_num(c["id"]) for c in cats]
    # -------------------------------------------------------------- annotations
    ann = _AnnReader(path, err, img_kind if 4 not in err.first else None,
                     cat_kind if 5 not in err.first else None, set(_ints(ids)), set(_ints(cids)))
    n_ann = 0
    for i, a in enumerate(_items(path, "annotations.item")):
        n_ann += 1
        ann.add(i, a)
    if n_ann == 0:
        _whole(path, "annotations")
    ann.finish_kinds()
    if any(s < 4 for s in err.first):
        err.raise_first()
    # federated references' kinds, then duplicates of image / category ids and names
    for row, present in fed.items():
        for key, lst in present.items():
            if isinstance(lst, list):
                for c in lst:
                    if _kind(c) in ("integer", "string"):
                        err.run(8, _check_ref, c, cat_kind, f"image {ids[row]}", f"'{key}' entry", "categories",
                                path)
    if err.first:  # a structural or id-type fault: nothing below would be sound
        err.raise_first()
    if check_image is not None:  # the size limits of coco._check_sizes, image by image
        for i, (iid, w, h) in enumerate(zip(ids, widths, heights)):
            if err.run(8.5, check_image, i, iid, w, h, path) is None:
                break
        err.raise_first()
    if len(set(ids)) != len(ids):
        seen = set()
        dup = next(v for v in ids if v in seen or seen.add(v))
        err.add(9, f"duplicate image id {dup}")
    if len(set(cids)) != len(cids):
        err.add(10, "duplicate category id")
    cnames = [c["name"] for c in cats]
    if len(set(cnames)) != len(cnames):
        err.add(11, "duplicate category name")
    ann.finish_duplicates()
    cat_set = set(cids)
    for row, present in fed.items():
        for key in FEDERATED_KEYS:
            lst = present.get(key)
            if lst is None:
                continue
            lst = [_num(c) for c in lst] if isinstance(lst, list) else lst
            present[key] = lst
            if not isinstance(lst, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in lst):
                err.add(13, f"image {ids[row]}: '{key}' must be a list of category ids")
            else:
                unknown = [c for c in lst if c not in cat_set]
                if unknown:
                    err.add(13, f"image {ids[row]}: '{key}' names unknown category id {unknown[0]}")
    err.raise_first()
    w = [err.run(14, pixels, v, "width", i, path) for v, i in zip(widths, ids)]
    err.raise_first()
    h = [err.run(15, pixels, v, "height", i, path) for v, i in zip(heights, ids)]
    if ann.bbox_error is not None:
        err.add(16, ann.bbox_error)
    err.raise_first()
    images = {"image_id": ids, "file_name": [n if n is not None else f"{i}.jpg" for n, i in zip(names, ids)],
              "width": w, "height": h}
    federated = {ids[row]: present for row, present in fed.items()}
    categories = [{"id": _num(c["id"]), "name": c["name"], "supercategory": c.get("supercategory", "")}
                  for c in cats]
    return ann.parts(images, categories, federated, has_fed)


class _AnnReader:
    """Annotations item by item into typed arrays (:class:`SegmentStore` for the segmentations)."""

    def __init__(self, path, err, img_kind, cat_kind, image_set, cat_set) -> None:
        self.path, self.err = path, err
        self.img_kind, self.cat_kind = img_kind, cat_kind
        self.image_set, self.cat_set = image_set, cat_set
        self.id = array.array("q")
        self.image_id = array.array("q")
        self.category_id = array.array("q")
        self.bbox = array.array("d")
        self.has_bbox = array.array("b")
        self.area = array.array("d")
        self.iscrowd = array.array("b")
        self.kind = array.array("b")
        self.n_poly = array.array("q")
        self.poly_first = array.array("q")
        self.poly_len = array.array("q")
        self.poly_start = array.array("q")
        self.coords = array.array("d")
        self.rle_h = array.array("q")
        self.rle_w = array.array("q")
        self.rle_start = array.array("q")
        self.rle_end = array.array("q")
        self.counts = bytearray()
        self.raw: dict[int, object] = {}
        self.id_kinds: dict[str, object] = {}  # kind -> first id of that kind
        self.bad_id: str | None = None
        self.stage12: tuple[int, str] | None = None  # (annotation index, message): refs, no segmentation
        self.box_loose: str | None = None  # first box that is not four JSON numbers
        self.box_unread = False  # a box numpy cannot read as four floats: box_loose is the fault
        self.box_fault: str | None = None  # first non-finite or negative box

    @property
    def bbox_error(self) -> str | None:
        return self.box_loose if self.box_unread else self.box_fault

    def add(self, i: int, a: object) -> None:
        err = self.err
        if not isinstance(a, dict) or any(k not in a for k in ("id", "image_id", "category_id")):
            missing = [k for k in ("id", "image_id", "category_id") if not isinstance(a, dict) or k not in a]
            err.add(3, f"annotations[{i}] lacks {', '.join(missing)}")
            a = {"id": 0, "image_id": 0, "category_id": 0}
        aid, iid, cid = a["id"], a["image_id"], a["category_id"]
        k = _kind(aid)
        if k in ("integer", "string"):
            self.id_kinds.setdefault(k, aid)
        elif self.bad_id is None:
            self.bad_id = f"annotation id {_show(aid)} is not an integer id ({k})"
        where = f"annotation {aid}"
        ok = err.run(7, _check_ref, iid, self.img_kind, where, "image_id", "images", self.path) is None
        ok = err.run(7, _check_ref, cid, self.cat_kind, where, "category_id", "categories", self.path) is None and ok
        if 7 in err.first:
            ok = False
        aid, iid, cid = _num(aid), _num(iid), _num(cid)
        if self.stage12 is None and ok:
            if iid not in self.image_set:
                self.stage12 = (i, f"annotation {aid} refers to unknown image id {iid}")
            elif cid not in self.cat_set:
                self.stage12 = (i, f"annotation {aid} refers to unknown category id {cid}")
            elif "segmentation" not in a and "bbox" not in a:
                self.stage12 = (i, f"annotation {aid} has neither segmentation nor bbox")
        self.id.append(aid if isinstance(aid, int) and not isinstance(aid, bool) and _fits(aid) else 0)
        self.image_id.append(iid if isinstance(iid, int) and _fits(iid) else 0)
        self.category_id.append(cid if isinstance(cid, int) and _fits(cid) else 0)
        b = a.get("bbox")
        if "bbox" in a:  # the in-memory reader's rules (coco._bboxes), its first fault named
            vals = _bbox_floats(b)
            if self.box_loose is None and not _strict_box(b):
                self.box_loose = f"annotation {aid}: bbox must be four numbers [x, y, width, height], got {b!r}"
            if vals is None:
                self.box_unread = True
                vals = [math.nan] * 4
            elif self.box_fault is None and not all(math.isfinite(v) for v in vals):
                self.box_fault = f"annotation {aid}: bbox holds a non-finite number: {b!r}"
            elif self.box_fault is None and any(v < 0 for v in vals):
                self.box_fault = f"annotation {aid}: bbox [x, y, width, height] holds a negative number: {b!r}"
            self.bbox.extend(vals)
            self.has_bbox.append(1)
        else:
            self.bbox.extend((math.nan,) * 4)
            self.has_bbox.append(0)
        ar = a.get("area", math.nan)
        try:
            self.area.append(float(ar))
        except (TypeError, ValueError):
            err.add(17, f"annotation {aid}: area {ar!r} is not a number")
            self.area.append(math.nan)
        self.iscrowd.append(1 if a.get("iscrowd", 0) else 0)
        self._segment(len(self.kind), a)

    def _segment(self, n: int, a: dict) -> None:
        self.n_poly.append(0)
        self.poly_first.append(len(self.poly_len))
        self.rle_h.append(0)
        self.rle_w.append(0)
        self.rle_start.append(len(self.counts))
        if "segmentation" not in a:
            self.kind.append(NONE)
        else:
            s = a["segmentation"]
            kind = RAW
            if isinstance(s, list) and all(isinstance(p, list) and len(p) % 2 == 0 for p in s):
                start, coords0, polys0 = len(self.coords), len(self.coords), len(self.poly_len)
                try:
                    for p in s:
                        self.coords.extend(p)
                        self.poly_len.append(len(p))
                        self.poly_start.append(start)
                        start += len(p)
                    kind = POLY
                    self.n_poly[n] = len(s)
                except (TypeError, OverflowError):  # a value that is not a number: kept as it was
                    del self.coords[coords0:]
                    del self.poly_len[polys0:]
                    del self.poly_start[polys0:]
            elif isinstance(s, dict) and set(s) == {"size", "counts"} and isinstance(s["counts"], str) \
                    and isinstance(s["size"], list) and len(s["size"]) == 2 \
                    and all(isinstance(v, int) and not isinstance(v, bool) and _fits(v) for v in s["size"]) \
                    and s["counts"].isascii():
                kind = RLE_STR
                self.rle_h[n], self.rle_w[n] = s["size"]
                self.counts += s["counts"].encode("ascii")
            if kind == RAW:
                self.raw[n] = s
            self.kind.append(kind)
        self.rle_end.append(len(self.counts))

    def finish_kinds(self) -> None:
        if self.bad_id is not None:
            self.err.add(6, self.bad_id)
        elif len(self.id_kinds) > 1:
            s = self.id_kinds["string"]
            self.err.add(6, f"annotation id '{s}' is a string while other annotation ids are integers "
                         "(ids must be all integers or all strings of digits)")

    def finish_duplicates(self) -> None:
        ids = np.frombuffer(self.id, dtype=np.int64) if len(self.id) else np.zeros(0, np.int64)
        order = np.argsort(ids, kind="stable")
        later = order[1:][ids[order[1:]] == ids[order[:-1]]]  # second and later uses of an id
        first_dup = int(later.min()) if len(later) else None
        cand = []
        if first_dup is not None:
            cand.append((first_dup, 1, f"duplicate annotation id {int(ids[first_dup])}"))
        if self.stage12 is not None:
            cand.append((self.stage12[0], 0, self.stage12[1]))
        if cand and not any(s in self.err.first for s in (3, 6, 7)):
            self.err.add(12, min(cand)[2])

    def parts(self, images, categories, federated, has_fed) -> StreamedParts:
        def arr(a, dtype):
            return np.frombuffer(a, dtype=dtype) if len(a) else np.zeros(0, dtype)  # no copy: shares `a`

        segs = SegmentStore(
            kind=arr(self.kind, np.int8), n_poly=arr(self.n_poly, np.int64),
            poly_first=arr(self.poly_first, np.int64), poly_len=arr(self.poly_len, np.int64),
            poly_start=arr(self.poly_start, np.int64), coords=arr(self.coords, np.float64),
            rle_h=arr(self.rle_h, np.int64), rle_w=arr(self.rle_w, np.int64),
            rle_start=arr(self.rle_start, np.int64), rle_end=arr(self.rle_end, np.int64),
            counts=bytes(self.counts), raw=self.raw,
        )
        return StreamedParts(
            images=images, categories=categories, federated=federated, has_federated=has_fed,
            ann_id=arr(self.id, np.int64), image_id=arr(self.image_id, np.int64),
            category_id=arr(self.category_id, np.int64), bbox=arr(self.bbox, np.float64).reshape(-1, 4),
            has_bbox=arr(self.has_bbox, np.int8).astype(bool), area=arr(self.area, np.float64),
            iscrowd=arr(self.iscrowd, np.int8).astype(bool), segments=segs,
        )


def _ints(values: list) -> list:
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _fits(v: int) -> bool:
    return -(2**63) <= v < 2**63


def _show(value: object) -> str:
    return "null" if value is None else f"'{value}'" if isinstance(value, str) else repr(value)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without the loop."""
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total, dtype=np.int64)


def packed_polygons(segs: SegmentStore, rows: np.ndarray) -> tuple:
    """The polygons of the annotations at file ``rows`` as :func:`salanalysis.objects._prepare` packs them.

    Returns ``(poly_per_obj, vert_per_poly, coords, n_dropped, others)``: polygons
    with fewer than 3 vertices left out (counted in ``n_dropped``), and
    ``others``, the positions in ``rows`` whose segmentation is not a polygon list
    (RLE, absent, or kept raw), for the caller to check one by one.
    """
    rows = np.asarray(rows, dtype=np.int64)
    is_poly = segs.kind[rows] == POLY
    n_poly = np.where(is_poly, segs.n_poly[rows], 0)
    pidx = _ranges(segs.poly_first[rows], n_poly)
    keep = segs.poly_len[pidx] >= 6
    obj_of = np.repeat(np.arange(len(rows), dtype=np.int64), n_poly)
    poly_per_obj = np.bincount(obj_of[keep], minlength=len(rows)).astype(np.int64)
    kept = pidx[keep]
    coords = segs.coords[_ranges(segs.poly_start[kept], segs.poly_len[kept])]
    return poly_per_obj, segs.poly_len[kept] // 2, coords, int((~keep).sum()), np.flatnonzero(~is_poly)
