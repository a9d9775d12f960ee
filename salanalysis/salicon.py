"""SALICON fixations: readers for both releases and ground-truth saliency maps.

Two releases of the SALICON mouse-tracking data (Jiang et al., CVPR 2015) are read
into one tidy fixation table:

2015 release (JSON, COCO-like)
    ``{"images": [{"id", "file_name", "width", "height"}, ...], "annotations":
    [{"image_id", "worker_id", "fixations": [[row, col], ...]}, ...]}``. The
    points are **[row, col], 1-based** (row 1..height, col 1..width), as read
    by the official salicon-api (``sal_map[row - 1][col - 1]``).
2017 release (LSUN'17, one ``.mat`` file per image)
    ``gaze``: a struct array, one element per subject, with ``fixations`` (M x 2,
    **[x, y], 1-based**), ``location`` (raw mouse samples, N x 2, [x, y], 1-based)
    and ``timestamp``; plus ``image`` (the image name) and ``resolution``
    (``[height, width]``, MATLAB's ``size`` order, ``[480 640]`` for SALICON).
    Read with :func:`scipy.io.loadmat`; a folder of such files is read whole.

The fixation table (see :func:`read_fixations`) holds **zero-based pixel
coordinates**: ``x`` is the column (0..width-1) and ``y`` the row
(0..height-1) of the pixel center, i.e. ``x = col - 1``, ``y = row - 1``.

Fixations outside the image (after rounding to the nearest pixel) are, by
default, dropped and counted, in total and per image (``n_outside`` and
``outside`` of :class:`SaliconFixations`), with a warning when more than 1% of
all fixations are dropped; ``on_outside="error"`` raises
:class:`~salanalysis.errors.InputError` instead. An image size that the
fixations contradict is refused whatever ``on_outside`` says: more than half
of an image's fixations (of at least 20) outside it
(:mod:`salanalysis._fixation_checks`).
A subject with an empty fixation list contributes nothing and is counted
(``n_empty_subjects``); a file whose every fixation list is empty, or an image
left without any fixation inside it, is an error.

Ground-truth maps (:func:`fixation_map`) follow the official salicon-api
``buildFixMap``: a zero map of the image size, each fixated pixel set to 1
(``accumulate="binary"``; ``"count"`` adds 1 per fixation instead), blurred
with :func:`scipy.ndimage.gaussian_filter` (sigma 19 px by default,
``mode="reflect"``, ``truncate=4.0``, i.e. a kernel radius of
``int(4 * sigma + 0.5)`` = 76 px for sigma 19), then min-max normalised to
[0, 1]. :func:`write_fixation_maps` writes them as 8-bit grayscale PNGs
(``round(255 * map)``) named after the image (``COCO_train2014_%012d.png``),
the layout of the official SALICON ``maps/`` folders, so that
:class:`salanalysis.maps.MapSource` reads them.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from salanalysis._fixation_checks import check_outside
from salanalysis.errors import InputError
from salanalysis.images import coco_image_name, image_id_from_name
from salanalysis.io import read_json
from salanalysis.limits import check_pixels

__all__ = [
    "FIXATION_COLUMNS",
    "SaliconFixations",
    "read_fixations",
    "read_salicon_json",
    "read_salicon_mat",
    "fixation_map",
    "fixation_points_map",
    "salicon_name",
    "image_id_from_name",
    "write_fixation_maps",
]

FIXATION_COLUMNS = ("image_id", "image", "width", "height", "subject", "fixation", "x", "y")


# ----------------------------------------------------------------------------- names
def salicon_name(image_id: int, split: str = "val") -> str:
    """The SALICON/COCO 2014 file stem of an image: ``COCO_{split}2014_%012d``."""
    if split not in ("train", "val", "test"):
        raise InputError(f"SALICON split must be train, val or test, got {split!r}")
    return coco_image_name(image_id, split, 2014)


# ------------------------------------------------------------------------- container
@dataclass
class SaliconFixations:
    """Fixations of one SALICON file (or folder) as a tidy table.

    Attributes
    ----------
    table
        One row per fixation inside its image, columns

        ``image_id`` (int64)
            COCO image id.
        ``image`` (str)
            File stem of the image (``COCO_train2014_000000123855``), the name
            its map is written under.
        ``width``, ``height`` (int64)
            Image size in pixels.
        ``subject`` (int64)
            ``worker_id`` (2015 JSON) or the 0-based position of the subject in
            the ``gaze`` struct array (2017 ``.mat``).
        ``fixation`` (int64)
            0-based order of the point within the subject's list (position in
            the source list, kept when earlier points were dropped).
        ``x``, ``y`` (float64)
            Zero-based pixel coordinates: column and row (``col - 1``,
            ``row - 1`` of the 1-based source).

        Sorted by (image_id, subject, fixation).
    source
        The file or folder read.
    format
        ``"json"`` (2015 release) or ``"mat"`` (2017 release).
    n_outside
        Fixations dropped because they fell outside their image.
    n_empty_subjects
        Subjects (workers) whose fixation list was empty.
    outside
        Per image (sorted by image_id): ``image_id``, ``image``, ``n_read``
        (fixations read) and ``n_outside`` (those dropped as outside the image);
        ``n_outside`` sums to :attr:`n_outside`.
    """

    table: pd.DataFrame
    source: Path
    format: str
    n_outside: int = 0
    n_empty_subjects: int = 0
    outside: pd.DataFrame | None = None

    @property
    def n_images(self) -> int:
        """Images with at least one fixation."""
        return int(self.table["image_id"].nunique())

    def image_sizes(self) -> pd.DataFrame:
        """image_id, image, width, height: one row per image, sorted by image_id."""
        cols = ["image_id", "image", "width", "height"]
        return (
            self.table[cols].drop_duplicates("image_id").sort_values("image_id").reset_index(drop=True)
        )

    def __repr__(self) -> str:
        return (
            f"SaliconFixations({str(self.source)!r}, {self.format}: {len(self.table)} fixations, "
            f"{self.n_images} images, {self.n_outside} outside dropped)"
        )


# ---------------------------------------------------------------------------- helpers
def _normalize_sizes(sizes):
    """A size override as None, a (width, height) tuple or a mapping (tables converted once)."""
    if sizes is None or isinstance(sizes, (tuple, Mapping)):
        return sizes
    if isinstance(sizes, pd.DataFrame):
        missing = [c for c in ("image_id", "width", "height") if c not in sizes.columns]
        if missing:
            raise InputError(f"size table lacks columns {', '.join(missing)}")
        ok = sizes["image_id"].notna()
        return {
            int(i): (int(w), int(h))
            for i, w, h in zip(sizes.loc[ok, "image_id"], sizes.loc[ok, "width"], sizes.loc[ok, "height"])
        }
    raise TypeError("sizes must be (width, height), a mapping image_id -> (width, height) or a DataFrame")


def _fixation_size(v, key: str, i: int, path: Path) -> int | None:
    """A width or height of a fixation file's ``images`` entry: a positive whole number (or absent)."""
    if v is None:
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 1 \
        and float(v) == int(v)
    if not ok:
        raise InputError(f"images[{i}]: {key} must be a positive whole number, got {v!r:.40}", path)
    return int(v)


def _sizes_lookup(sizes, image_id: int, image: str):
    """(width, height) for an image from a normalised size override, or None."""
    if sizes is None:
        return None
    if isinstance(sizes, tuple):
        return int(sizes[0]), int(sizes[1])
    if isinstance(sizes, Mapping):
        hit = sizes.get(int(image_id))
        if hit is None:
            hit = sizes.get(image)
        return None if hit is None else (int(hit[0]), int(hit[1]))
    raise TypeError("sizes must be (width, height), a mapping image_id -> (width, height) or a DataFrame")


class _Collector:
    """Accumulates fixation arrays; builds the table once (fast for 10^5 subjects)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {c: [] for c in FIXATION_COLUMNS}
        self.n_empty = 0

    def add(self, iid: int, name: str, w: int, h: int, subject: int, x: np.ndarray, y: np.ndarray) -> None:
        n = len(x)
        if n == 0:
            self.n_empty += 1
            return
        c = self.cols
        c["image_id"].append(np.full(n, iid, dtype=np.int64))
        c["image"].append(np.full(n, name, dtype=object))
        c["width"].append(np.full(n, w, dtype=np.int64))
        c["height"].append(np.full(n, h, dtype=np.int64))
        c["subject"].append(np.full(n, subject, dtype=np.int64))
        c["fixation"].append(np.arange(n, dtype=np.int64))
        c["x"].append(np.asarray(x, dtype=np.float64))
        c["y"].append(np.asarray(y, dtype=np.float64))

    def table(self) -> pd.DataFrame:
        if not self.cols["x"]:
            return pd.DataFrame({c: [] for c in FIXATION_COLUMNS})
        return pd.DataFrame({c: np.concatenate(v) for c, v in self.cols.items()})


def _finish(
    collected: _Collector,
    source: Path,
    fmt: str,
    on_outside: str,
) -> SaliconFixations:
    if on_outside not in ("drop", "error"):
        raise ValueError("on_outside must be 'drop' or 'error'")
    n_empty = collected.n_empty
    table = collected.table()
    if table.empty:
        raise InputError("no fixations: every fixation list is empty", source)
    col = np.floor(table["x"].to_numpy() + 0.5)
    row = np.floor(table["y"].to_numpy() + 0.5)
    finite = np.isfinite(col) & np.isfinite(row)
    inside = finite & (col >= 0) & (row >= 0) & (col < table["width"].to_numpy()) & (
        row < table["height"].to_numpy()
    )
    n_outside = int((~inside).sum())
    if n_outside and on_outside == "error":
        bad = table.loc[~inside].iloc[0]
        raise InputError(
            f"{n_outside} fixation(s) outside their image, first on image {int(bad['image_id'])} "
            f"(subject {int(bad['subject'])}): zero-based x={bad['x']:g}, y={bad['y']:g} "
            f"for a {int(bad['width'])}x{int(bad['height'])} image",
            source,
        )
    outside = check_outside(table, inside, source)
    all_ids = set(table["image_id"].tolist())
    table = table.loc[inside].reset_index(drop=True)
    left = set(table["image_id"].tolist())
    if not left:
        raise InputError("no fixation lies inside its image", source)
    emptied = sorted(all_ids - left)
    if emptied:
        raise InputError(
            f"image {emptied[0]} has no fixation inside the image"
            + (f" (and {len(emptied) - 1} more image(s))" if len(emptied) > 1 else ""),
            source,
        )
    table["image"] = table["image"].astype(str)
    table = table.sort_values(["image_id", "subject", "fixation"], kind="stable").reset_index(drop=True)
    table = table[list(FIXATION_COLUMNS)]
    return SaliconFixations(
        table=table, source=source, format=fmt, n_outside=n_outside, n_empty_subjects=n_empty, outside=outside
    )


def _points(value, what: str, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: fixations are not numeric pairs", path) from exc
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"{what}: fixations must be an M x 2 list of pairs, got shape {arr.shape}", path)
    return arr


# ------------------------------------------------------------------------------ JSON
def read_salicon_json(
    path: str | os.PathLike,
    *,
    sizes=None,
    split: str | None = None,
    on_outside: str = "drop",
) -> SaliconFixations:
    """Read a SALICON 2015 fixation JSON into a :class:`SaliconFixations`.

    Parameters
    ----------
    path
        The JSON file (``fixations_train2014.json`` or ``fixations_val2014.json``).
    sizes
        Image sizes overriding the file's ``images`` entries: ``(width, height)``
        for all images, a mapping ``image_id -> (width, height)``, or a table with
        image_id, width, height. Needed for images not listed in ``images``.
    split
        ``train`` / ``val`` / ``test``: names images that have no ``file_name``
        (``COCO_{split}2014_%012d``).
    on_outside
        ``"drop"`` (count and drop fixations outside the image) or ``"error"``.

    Raises
    ------
    InputError
        Not a SALICON fixation file, an annotation without ``image_id`` or
        ``fixations``, malformed points, an image without a size, no fixations.
    """
    path = Path(path)
    sizes = _normalize_sizes(sizes)
    data = read_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise InputError("not a SALICON fixation JSON: no 'annotations' list", path)
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise InputError("not a SALICON fixation JSON: 'annotations' is not a list", path)
    if not anns:
        raise InputError("no fixations: 'annotations' is empty", path)
    images = data.get("images", [])
    if not isinstance(images, list):
        raise InputError("'images' is not a list", path)
    info: dict[int, tuple[str | None, int | None, int | None]] = {}
    for i, im in enumerate(images):
        if not isinstance(im, dict) or "id" not in im:
            raise InputError(f"images[{i}] lacks an id", path)
        fn = im.get("file_name")
        if fn is not None and (not isinstance(fn, str) or "\x00" in fn):
            raise InputError(f"images[{i}]: file_name must be text without NUL, got {fn!r:.60}", path)
        w, h = (_fixation_size(im.get(k), k, i, path) for k in ("width", "height"))
        if w is not None and h is not None:
            check_pixels(w, h, f"images[{i}] (id {im['id']!r}) declares", path)
        info[int(im["id"])] = (Path(fn).stem if fn else None, w, h)
    got = _Collector()
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "fixations" not in ann:
            raise InputError(f"annotations[{i}] lacks image_id or fixations", path)
        iid = int(ann["image_id"])
        name, w, h = info.get(iid, (None, None, None))
        if name is None:
            if split is None:
                raise InputError(f"image {iid} has no file_name in 'images'; pass split= to name it", path)
            name = salicon_name(iid, split)
        override = _sizes_lookup(sizes, iid, name)
        if override is not None:
            w, h = override
        if w is None or h is None:
            raise InputError(f"no size for image {iid} (not in 'images'): give sizes", path)
        pts = _points(ann["fixations"], f"annotations[{i}] (image {iid})", path)
        # [row, col], 1-based -> x = col - 1, y = row - 1
        got.add(iid, name, w, h, int(ann.get("worker_id", i)), pts[:, 1] - 1.0, pts[:, 0] - 1.0)
    return _finish(got, path, "json", on_outside)


# ------------------------------------------------------------------------------- MAT
def _mat_string(value) -> str | None:
    arr = np.asarray(value)
    if arr.dtype.kind in ("U", "S"):
        flat = arr.ravel()
        return str(flat[0]) if flat.size else None
    if arr.dtype == object and arr.size:
        return _mat_string(arr.ravel()[0])
    return None


def _mat_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".mat" and p.is_file())
        if not files:
            raise InputError("no .mat fixation files in directory", path)
        return files
    if not path.exists():
        raise InputError("file not found", path)
    return [path]


def _read_one_mat(path: Path, sizes, field: str, got: _Collector) -> int:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise InputError(f"cannot read MATLAB file: {type(exc).__name__}: {exc}", path) from exc
    if "gaze" not in mat:
        raise InputError("not a SALICON 2017 fixation file: no 'gaze' variable", path)
    gaze = mat["gaze"]
    if gaze.dtype.names is None or field not in gaze.dtype.names:
        raise InputError(f"'gaze' has no field '{field}' (fields: {gaze.dtype.names})", path)
    name = _mat_string(mat["image"]) if "image" in mat else None
    name = Path(name).stem if name else path.stem
    iid = image_id_from_name(name)
    if iid is None:
        iid = image_id_from_name(path.stem)
    if iid is None:
        raise InputError(f"cannot read a COCO image id from the image name {name!r}", path)
    wh = _sizes_lookup(sizes, iid, name)
    if wh is None:
        if "resolution" not in mat:
            raise InputError("no 'resolution' variable and no image size given", path)
        res = np.asarray(mat["resolution"], dtype=np.float64).ravel()
        if res.size != 2 or not np.all(res > 0):
            raise InputError(f"'resolution' must be [height width], got {res.tolist()}", path)
        wh = (int(res[1]), int(res[0]))
    for s, subj in enumerate(gaze.ravel()):
        pts = _points(subj[field], f"gaze({s + 1}).{field}", path)
        # [x, y], 1-based
        got.add(iid, name, wh[0], wh[1], s, pts[:, 0] - 1.0, pts[:, 1] - 1.0)
    return iid


def read_salicon_mat(
    path: str | os.PathLike,
    *,
    sizes=None,
    field: str = "fixations",
    on_outside: str = "drop",
) -> SaliconFixations:
    """Read SALICON 2017 (LSUN'17) ``.mat`` fixation files.

    Parameters
    ----------
    path
        One ``.mat`` file or a folder of them (``fixations/val``).
    sizes
        Image sizes overriding ``resolution``: ``(width, height)``, a mapping
        ``image_id -> (width, height)`` or a table with image_id, width, height.
    field
        ``"fixations"`` (default, the released fixations) or ``"location"`` (the
        raw mouse samples).
    on_outside
        ``"drop"`` (count and drop points outside the image) or ``"error"``.

    Raises
    ------
    InputError
        Unreadable file, no ``gaze`` struct or no ``field`` in it, no size, no
        COCO id in the image name, no fixations.
    """
    if field not in ("fixations", "location"):
        raise ValueError("field must be 'fixations' or 'location'")
    path = Path(path)
    sizes = _normalize_sizes(sizes)
    got = _Collector()
    seen: dict[int, Path] = {}
    for f in _mat_files(path):
        iid = _read_one_mat(f, sizes, field, got)
        if iid in seen:
            raise InputError(f"image {iid} appears in two files: {seen[iid].name} and {f.name}", path)
        seen[iid] = f
    return _finish(got, path, "mat", on_outside)


def read_fixations(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    sizes=None,
    split: str | None = None,
    field: str = "fixations",
    on_outside: str = "drop",
) -> SaliconFixations:
    """Read SALICON fixations of either release (see the module docstring).

    Parameters
    ----------
    path
        A 2015 ``.json`` file, a 2017 ``.mat`` file, or a folder of ``.mat``
        files.
    format
        ``"json"`` or ``"mat"``; guessed from the extension (a folder is
        ``mat``) when ``None``.
    sizes, split, field, on_outside
        See :func:`read_salicon_json` and :func:`read_salicon_mat`.

    Returns
    -------
    SaliconFixations
        ``.table`` with columns image_id, image, width, height, subject,
        fixation, x, y (zero-based pixel coordinates; x = column, y = row).
    """
    path = Path(path)
    if format is None:
        if path.is_dir() or path.suffix.lower() == ".mat":
            format = "mat"
        elif path.suffix.lower() == ".json":
            format = "json"
        else:
            raise InputError("cannot tell the fixation format: use a .json or .mat file or pass format", path)
    if format == "json":
        return read_salicon_json(path, sizes=sizes, split=split, on_outside=on_outside)
    if format == "mat":
        return read_salicon_mat(path, sizes=sizes, field=field, on_outside=on_outside)
    raise InputError(f"unknown fixation format {format!r} (json or mat)", path)


# ------------------------------------------------------------------------------ maps
def fixation_points_map(
    x: np.ndarray, y: np.ndarray, height: int, width: int, *, accumulate: str = "binary"
) -> np.ndarray:
    """The discrete fixation map: zeros with the fixated pixels set.

    Points are rounded to the nearest pixel (``floor(v + 0.5)``); points outside
    the image are ignored (the readers have already dropped and counted them).

    Parameters
    ----------
    x, y
        Zero-based column and row of each fixation.
    height, width
        The map size.
    accumulate
        ``"binary"``: a fixated pixel is 1 (as salicon-api ``buildFixMap``);
        ``"count"``: the number of fixations on the pixel.
    """
    if accumulate not in ("binary", "count"):
        raise ValueError("accumulate must be 'binary' or 'count'")
    col = np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)
    row = np.floor(np.asarray(y, dtype=np.float64) + 0.5).astype(np.int64)
    ok = (col >= 0) & (row >= 0) & (col < width) & (row < height)
    out = np.zeros((int(height), int(width)), dtype=np.float64)
    if accumulate == "binary":
        out[row[ok], col[ok]] = 1.0
    else:
        np.add.at(out, (row[ok], col[ok]), 1.0)
    return out


def fixation_map(
    x: np.ndarray,
    y: np.ndarray,
    height: int,
    width: int,
    *,
    sigma: float = 19.0,
    accumulate: str = "binary",
    truncate: float = 4.0,
) -> np.ndarray:
    """A ground-truth saliency map from fixations, as the SALICON API builds it.

    The discrete map of :func:`fixation_points_map` is blurred with
    ``scipy.ndimage.gaussian_filter(m, sigma, mode="reflect", truncate=truncate)``
    (an isotropic Gaussian of standard deviation ``sigma`` pixels, cut at
    ``int(truncate * sigma + 0.5)`` pixels, reflecting at the border) and
    min-max normalised to [0, 1]. ``sigma=0`` skips the blur.

    Returns
    -------
    numpy.ndarray
        float64, height x width, in [0, 1].

    Raises
    ------
    InputError
        No fixation inside the image (the map would be undefined).
    """
    if sigma < 0:
        raise ValueError("sigma must be >= 0")
    m = fixation_points_map(x, y, height, width, accumulate=accumulate)
    if not m.any():
        raise InputError(f"no fixation inside the {width}x{height} image: cannot build a map")
    if sigma > 0:
        m = ndimage.gaussian_filter(m, float(sigma), mode="reflect", truncate=float(truncate))
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.ones_like(m)


def _map_tasks(table: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray, int, int]]:
    """(image, x, y, height, width) per image, in (image_id, image) order."""
    return [
        (str(name), g["x"].to_numpy(), g["y"].to_numpy(), int(g["height"].iloc[0]), int(g["width"].iloc[0]))
        for (_, name), g in table.groupby(["image_id", "image"], sort=True)
    ]


def _maps_key(table: pd.DataFrame, sigma: float, accumulate: str, truncate: float) -> str:
    """A short hash of the fixations and options that make the maps."""
    import hashlib

    from salanalysis.io import fingerprint

    cols = ["image_id", "image", "width", "height", "x", "y"]
    rows = pd.util.hash_pandas_object(table[cols], index=False).to_numpy()
    return fingerprint({"fixations": hashlib.sha256(rows.tobytes()).hexdigest(),
                        "sigma": float(sigma), "accumulate": str(accumulate), "truncate": float(truncate)})  # fmt: skip


def _map_task(
    task: tuple[str, np.ndarray, np.ndarray, int, int], sigma: float, accumulate: str, truncate: float
) -> tuple[str, np.ndarray]:
    name, x, y, h, w = task
    try:
        return name, fixation_map(x, y, h, w, sigma=sigma, accumulate=accumulate, truncate=truncate)
    except InputError as exc:
        raise InputError(f"image {name}: {exc}") from exc


def write_fixation_maps(
    fixations: SaliconFixations | pd.DataFrame,
    out: str | os.PathLike,
    *,
    sigma: float = 19.0,
    accumulate: str = "binary",
    truncate: float = 4.0,
    progress: bool = False,
    jobs: int = 1,
    resume: bool = True,
) -> pd.DataFrame:
    """Write one ground-truth map per image as a map directory.

    Each map (:func:`fixation_map`) is saved as an 8-bit grayscale PNG
    ``<image>.png`` (``COCO_val2014_000000000192.png``), ``round(255 * map)``.
    All maps are written to a hidden temporary folder inside ``out`` first and
    moved into place only when every map succeeded (see
    :func:`salanalysis.maps.write_map_directory`).

    ``resume``: a failed or interrupted run keeps its finished maps in
    ``out/.maps.<key>.part`` (the key names the fixations and the options), and
    a later call with the same inputs computes only the missing maps (the
    files are the same as an uninterrupted run's); ``False`` keeps nothing.

    ``jobs`` worker processes compute the maps (the blur is most of the time,
    ~0.15 s per 640x480 map); the files are the same for any ``jobs``. Workers
    are forked where ``fork`` exists, else spawned (scripts then need the
    ``if __name__ == "__main__":`` guard).

    Returns
    -------
    pandas.DataFrame
        One row per written map: image_id, image, width, height, n_fixations,
        path.
    """
    from salanalysis.maps import check_map_names, staged_map_names, write_map_directory

    table = fixations.table if isinstance(fixations, SaliconFixations) else fixations
    missing = [c for c in FIXATION_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"fixation table lacks columns {', '.join(missing)}")
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, got {jobs}")
    tasks = _map_tasks(table)
    check_map_names([t[0] for t in tasks])
    key = _maps_key(table, sigma, accumulate, truncate) if resume else None
    if key is not None:  # maps kept by an interrupted run with the same inputs
        kept = staged_map_names(out, key)
        tasks = [t for t in tasks if t[0] not in kept]
    work = functools.partial(_map_task, sigma=sigma, accumulate=accumulate, truncate=truncate)
    opts = dict(progress=progress, total=len(tasks), resume_key=key)
    if jobs > 1 and len(tasks) > 1:
        from salanalysis._pool import pool_context

        # the pool starts before write_map_directory's progress bar (no thread is forked)
        with pool_context().Pool(processes=min(jobs, len(tasks))) as pool:
            written = write_map_directory(pool.imap(work, tasks, chunksize=1), out, **opts)
    else:
        written = write_map_directory(map(work, tasks), out, **opts)
    summary = (
        table.groupby(["image_id", "image"], sort=True)
        .agg(width=("width", "first"), height=("height", "first"), n_fixations=("x", "size"))
        .reset_index()
    )
    summary["path"] = [str(written[n]) for n in summary["image"]]
    return summary
