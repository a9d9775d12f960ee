"""Baseline saliency sources: a center-bias map and the spectral residual.

Two controls for "is it saliency, or just ...?", written as map directories
that :class:`salanalysis.maps.MapSource` reads like any other source:

Center bias (:func:`center_bias_map`)
    An axis-aligned Gaussian centered on the image center
    ``((width - 1) / 2, (height - 1) / 2)`` (zero-based pixel coordinates),
    standard deviations ``sigma_frac * width`` horizontally and
    ``sigma_frac * height`` vertically (default ``sigma_frac = 0.25``, so the
    spread follows the image's aspect ratio, as the MIT benchmark's center
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
:func:`salanalysis.maps.write_map_directory`, which writes nothing under the
final names unless every map was computed.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from salanalysis.errors import InputError
from salanalysis.images import images_table, read_image
from salanalysis.maps import (
    center_bias_array,
    check_map_names,
    files_key,
    staged_map_names,
    write_map_directory,
)

__all__ = [
    "center_bias_map",
    "spectral_residual_map",
    "write_center_bias_maps",
    "write_spectral_residual_maps",
]

# ------------------------------------------------------------------------ the maps
def center_bias_map(height: int, width: int, *, sigma_frac: float = 0.25) -> np.ndarray:
    """A centered Gaussian, min-max normalised to [0, 1] (float64, height x width).

    ``g(x, y) = exp(-((x - cx)^2 / (2 sx^2) + (y - cy)^2 / (2 sy^2)))`` with
    ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``, ``sx = sigma_frac *
    width``, ``sy = sigma_frac * height``, then ``(g - min) / (max - min)``.
    """
    return center_bias_array(height, width, sigma_frac=sigma_frac)


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
    """Write a center-bias map (:func:`center_bias_map`) for every image.

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
    key = files_key("spectral-residual", table["path"]) if resume else None
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
