"""Baseline saliency sources, and the writer of map directories.

Two controls for "is it saliency, or just ...?", written as map directories
that :class:`salanalysis.maps.MapSource` reads like any other source:

Centre bias (:func:`center_bias_map`)
    An axis-aligned Gaussian centred on the image centre
    ``((width - 1) / 2, (height - 1) / 2)`` (zero-based pixel coordinates),
    standard deviations ``sigma_frac * width`` horizontally and
    ``sigma_frac * height`` vertically (default ``sigma_frac = 0.25``, so the
    spread follows the image's aspect ratio, as the MIT benchmark's centre
    baseline), min-max normalised to [0, 1]. It needs only the image size, so it
    is built from the annotation file's sizes or from the image files.
Spectral residual (:func:`spectral_residual_map`)
    Hou & Zhang (CVPR 2007) through OpenCV's
    ``cv2.saliency.StaticSaliencySpectralResidual_create()`` (opencv-contrib;
    not re-implemented here). OpenCV works on a 64 x 64 grayscale version of
    the image and resizes its map back to the image size; the map is then
    min-max normalised to [0, 1].

Every map is written as an 8-bit grayscale PNG named after its image file
(``COCO_val2014_000000000192.png`` for ``COCO_val2014_000000000192.jpg``) by
:func:`write_map_directory`, which writes nothing under the final names unless
every map was computed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from salanalysis.errors import InputError
from salanalysis.io import staged_dir

__all__ = [
    "IMAGE_EXTENSIONS",
    "image_files",
    "center_bias_map",
    "spectral_residual_map",
    "read_image",
    "images_table",
    "write_map_directory",
    "staged_map_names",
    "check_map_names",
    "write_center_bias_maps",
    "write_spectral_residual_maps",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


# ------------------------------------------------------------------------ the maps
def center_bias_map(height: int, width: int, *, sigma_frac: float = 0.25) -> np.ndarray:
    """A centred Gaussian, min-max normalised to [0, 1] (float64, height x width).

    ``g(x, y) = exp(-((x - cx)^2 / (2 sx^2) + (y - cy)^2 / (2 sy^2)))`` with
    ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``, ``sx = sigma_frac *
    width``, ``sy = sigma_frac * height``, then ``(g - min) / (max - min)``.
    """
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise InputError(f"image size must be positive, got {width}x{height}")
    if not sigma_frac > 0:
        raise ValueError("sigma_frac must be > 0")
    x = (np.arange(width) - (width - 1) / 2.0) / (sigma_frac * width)
    y = (np.arange(height) - (height - 1) / 2.0) / (sigma_frac * height)
    g = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / (hi - lo) if hi > lo else np.ones_like(g)


def spectral_residual_map(image: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency of an image (OpenCV), min-max normalised (float64).

    Parameters
    ----------
    image
        A BGR (or grayscale) image as read by ``cv2.imread``.
    """
    if image is None or np.asarray(image).size == 0:
        raise InputError("empty image")
    sr = cv2.saliency.StaticSaliencySpectralResidual_create()
    ok, sal = sr.computeSaliency(np.ascontiguousarray(image))
    if not ok or sal is None:
        raise InputError("OpenCV spectral residual saliency failed")
    sal = np.asarray(sal, dtype=np.float64)
    lo, hi = float(sal.min()), float(sal.max())
    return (sal - lo) / (hi - lo) if hi > lo else np.zeros_like(sal)


# ------------------------------------------------------------------------- images
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file (BGR, uint8) with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise InputError("image not found", path)
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise InputError("cannot decode image (corrupted or not an image)", path)
    return img


def _image_size(path: Path) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return int(im.width), int(im.height)
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        img = read_image(path)
        return int(img.shape[1]), int(img.shape[0])
    except Exception as exc:
        raise InputError(f"cannot read image size: {type(exc).__name__}: {exc}", path) from exc


def image_files(directory: str | os.PathLike, noun: str = "directory") -> list[Path]:
    """Image files (``IMAGE_EXTENSIONS``, any case) directly in ``directory``, sorted by name.

    Raises
    ------
    InputError
        The folder does not exist or holds no image (messages call it ``noun``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"image {noun} not found", directory)
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.name,
    )
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {noun}", directory)
    return files


def images_table(directory: str | os.PathLike, *, sizes: bool = True) -> pd.DataFrame:
    """The image files of a folder (not recursive), sorted by name.

    Returns
    -------
    pandas.DataFrame
        image_id (Int64: the COCO id read from the name, <NA> when it has none),
        file_name, width, height (read from the file header; omitted when
        ``sizes=False``), path.

    Raises
    ------
    InputError
        The folder does not exist or holds no image.
    """
    from salanalysis.salicon import image_id_from_name

    files = image_files(directory)
    table = pd.DataFrame(
        {
            "image_id": pd.array([image_id_from_name(p.name) for p in files], dtype="Int64"),
            "file_name": [p.name for p in files],
        }
    )
    if sizes:
        wh = [_image_size(p) for p in files]
        table["width"] = np.array([w for w, _ in wh], dtype=np.int64)
        table["height"] = np.array([h for _, h in wh], dtype=np.int64)
    table["path"] = [str(p) for p in files]
    return table


# ------------------------------------------------------------------------ writing
def _encode_png(arr: np.ndarray, name: str) -> bytes:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"map {name!r} must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"map {name!r} holds NaN or infinite values")
    u8 = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, buf = cv2.imencode(".png", u8)
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 PNG
        raise InputError(f"cannot encode map {name!r} as PNG")
    return buf.tobytes()


def check_map_names(names: Sequence[str]) -> None:
    """Raise :class:`InputError` if two maps would get the same name.

    Callers check all names up front, before the maps a resumed run kept are
    left out (:func:`write_map_directory` sees only the new ones).
    """
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"two maps are named {n!r}")
        seen.add(n)


def _files_key(kind: str, paths: Iterable[str | os.PathLike]) -> str:
    """A short hash naming a map kind and the image files it is made from (path, size, mtime)."""
    from salanalysis.io import file_stamp, fingerprint

    return fingerprint({"kind": kind, "images": [file_stamp(p) for p in paths]})


def staged_map_names(out: str | os.PathLike, resume_key: str) -> set[str]:
    """The names of the maps an interrupted :func:`write_map_directory` run with ``resume_key`` kept."""
    stage = Path(out) / f".maps.{resume_key}.part"
    if not stage.is_dir():
        return set()
    return {p.name[:-4] for p in stage.iterdir() if p.is_file() and p.name.endswith(".png")
            and not p.name.startswith(".")}  # fmt: skip


def write_map_directory(
    maps: Iterable[tuple[str, np.ndarray]],
    out: str | os.PathLike,
    *,
    progress: bool = False,
    total: int | None = None,
    resume_key: str | None = None,
) -> dict[str, Path]:
    """Write ``(name, map)`` pairs as 8-bit grayscale PNGs ``out/<name>.png``.

    Maps hold values in [0, 1] (clipped), stored as ``round(255 * value)``.
    Every file is first written to a hidden temporary folder inside ``out``;
    only when all maps are written are they moved (``os.replace``) under their
    final names, so an error (or an interrupt) while computing leaves ``out``
    as it was (a folder created by this call is removed again). Existing files of the same names are replaced; other files in
    ``out`` are left alone.

    With a ``resume_key`` the temporary folder is ``out/.maps.<resume_key>.part``
    and is kept when the run stops early (an interrupt, a crash; not an
    :class:`InputError`, after which the input must change anyway); a later call with the same key writes the
    maps it already holds (:func:`staged_map_names`: the caller leaves them
    out of ``maps``) together with the new ones, and removes the folders that
    interrupted runs with other keys left in ``out``.

    Returns
    -------
    dict
        name -> the written path.

    Raises
    ------
    InputError
        ``out`` is a file, a name is repeated or not a plain file name, a map is
        not a finite 2-D array, or there is nothing to write.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("output must be a directory, found a file", out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    new: set[str] = set()  # names written by this call
    done = False
    try:
        with staged_dir(out, resume_key=resume_key, prefix=".maps.", suffix=".part") as tmp:
            for p in list(tmp.iterdir()):  # a resumed run: kept maps count as written, the rest goes
                if p.is_file() and p.name.endswith(".png") and not p.name.startswith("."):
                    written[p.name[:-4]] = out / p.name
                elif p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            it = maps
            if progress:
                from salanalysis._progress import progress_bar

                it = progress_bar(maps, total=total, unit="map")
            for name, arr in it:
                name = str(name)
                if not name or Path(name).name != name or name.startswith("."):
                    raise InputError(f"map name {name!r} is not a plain file name")
                if name in new:
                    raise InputError(f"two maps are named {name!r}")
                new.add(name)
                part = tmp / f".{name}.png.part"  # complete files only under the final name
                part.write_bytes(_encode_png(arr, name))
                os.replace(part, tmp / f"{name}.png")
                written[name] = out / f"{name}.png"
            if not written:
                raise InputError("no maps to write", out)
        done = True
    finally:
        if not done and created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty: never removes anything else
    return written


def _sizes_table(images) -> pd.DataFrame:
    from salanalysis.coco import Annotations

    if isinstance(images, Annotations):
        return images.images[["image_id", "file_name", "width", "height"]].copy()
    if isinstance(images, (str, os.PathLike)):
        return images_table(images)
    if isinstance(images, pd.DataFrame):
        missing = [c for c in ("file_name", "width", "height") if c not in images.columns]
        if missing:
            raise InputError(f"image table lacks columns {', '.join(missing)}")
        return images.copy()
    raise TypeError("images must be Annotations, an image folder or a table with file_name, width, height")


def write_center_bias_maps(
    images, out: str | os.PathLike, *, sigma_frac: float = 0.25, progress: bool = False
) -> pd.DataFrame:
    """Write a centre-bias map (:func:`center_bias_map`) for every image.

    Parameters
    ----------
    images
        :class:`~salanalysis.coco.Annotations` (sizes from its ``images``), an
        image folder (sizes from the file headers) or a table with file_name,
        width, height.
    out
        The map directory (created).
    sigma_frac
        Gaussian standard deviation as a fraction of width (x) and height (y).

    Returns
    -------
    pandas.DataFrame
        The image table (image_id, file_name, width, height) plus ``path`` of
        each written map.
    """
    table = _sizes_table(images)
    cache: dict[tuple[int, int], np.ndarray] = {}

    def gen():
        for fn, w, h in zip(table["file_name"], table["width"], table["height"]):
            key = (int(h), int(w))
            if key not in cache:
                cache[key] = center_bias_map(key[0], key[1], sigma_frac=sigma_frac)
            yield Path(str(fn)).stem, cache[key]

    written = write_map_directory(gen(), out, progress=progress, total=len(table))
    table = table.drop(columns=["path"], errors="ignore")
    table["path"] = [str(written[Path(str(fn)).stem]) for fn in table["file_name"]]
    return table.reset_index(drop=True)


def write_spectral_residual_maps(
    images_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    progress: bool = False,
    resume: bool = True,
) -> pd.DataFrame:
    """Write the spectral-residual map (:func:`spectral_residual_map`) of every image.

    ``resume``: an interrupted run keeps its finished maps (``out/.maps.<key>.part``,
    the key naming the image files), and a later call on the same images
    computes only the missing ones (see :func:`write_map_directory`).

    Returns
    -------
    pandas.DataFrame
        image_id, file_name, width, height, path (of each written map).
    """
    table = images_table(images_dir, sizes=False)
    check_map_names([Path(fn).stem for fn in table["file_name"]])
    key = _files_key("spectral-residual", table["path"]) if resume else None
    kept = staged_map_names(out, key) if key is not None else set()
    shapes: dict[str, tuple[int, int]] = {}

    def gen():
        for fn, p in zip(table["file_name"], table["path"]):
            stem = Path(fn).stem
            if stem in kept:
                continue
            img = read_image(p)
            shapes[stem] = img.shape[:2]
            try:
                sal = spectral_residual_map(img)
            except InputError as exc:
                raise InputError(str(exc), p) from exc
            yield stem, sal

    written = write_map_directory(
        gen(), out, progress=progress, total=len(table) - len(kept), resume_key=key
    )
    for stem in kept:  # the map has the image's size
        shapes[stem] = cv2.imread(str(written[stem]), cv2.IMREAD_UNCHANGED).shape[:2]
    hw = [shapes[Path(fn).stem] for fn in table["file_name"]]
    table["width"] = np.array([w for _, w in hw], dtype=np.int64)
    table["height"] = np.array([h for h, _ in hw], dtype=np.int64)
    table["path"] = [str(written[Path(fn).stem]) for fn in table["file_name"]]
    return table[["image_id", "file_name", "width", "height", "path"]]
