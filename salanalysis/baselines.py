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
    Hou & Zhang (CVPR 2007), the algorithm of opencv-contrib's
    ``cv2.saliency.StaticSaliencySpectralResidual`` re-implemented step by step
    with numpy and plain OpenCV's core functions (colour conversion, resize,
    DFT, blurs), so the package needs only the plain ``opencv-python-headless``
    wheel, not the contrib one (whose ``cv2`` folder clashes with a plain
    OpenCV a user may already have): the image is
    converted to grayscale and resized to 64 x 64 (``INTER_LINEAR_EXACT``); the
    log amplitude of its 2-D DFT minus its 3 x 3 box blur is the spectral
    residual; the inverse DFT of ``exp(residual)`` with the original phase,
    its magnitude blurred by a 5 x 5 Gaussian (sigma 8) and squared, is the map,
    resized back to the image size (``INTER_LINEAR``) and min-max normalised to
    [0, 1]. On photographs it equals OpenCV contrib's map (min-max normalised
    the same way) within ``SPECTRAL_RESIDUAL_ATOL = 5e-3`` per pixel (measured
    with opencv-contrib 5.1: at most 3.0e-3 on the 27 demo photographs, so
    8-bit maps differ by at most one grey level); on uniform-noise images, whose
    flat spectra make the residual sensitive to rounding, by up to 2.2e-2. A
    coefficient of the 64 x 64 spectrum that is exactly zero has no log:
    amplitudes are floored at 1 (log 0), which gives contrib's map within the same
    tolerance on such images (one demo photograph, a flat image with a square).
    ``tests/test_baselines.py`` compares the two where ``cv2.saliency`` exists.

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
    "SPECTRAL_RESIDUAL_ATOL",
]

#: Largest per-pixel difference from opencv-contrib's StaticSaliencySpectralResidual on
#: photographs (both min-max normalised to [0, 1]); measured at most 3.0e-3 on the demo images.
SPECTRAL_RESIDUAL_ATOL = 5e-3
_SR_SIZE = 64  # OpenCV's resImWidth = resImHeight = 64

# ------------------------------------------------------------------------ the maps
def center_bias_map(height: int, width: int, *, sigma_frac: float = 0.25) -> np.ndarray:
    """A centered Gaussian, min-max normalised to [0, 1] (float64, height x width).

    ``g(x, y) = exp(-((x - cx)^2 / (2 sx^2) + (y - cy)^2 / (2 sy^2)))`` with
    ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``, ``sx = sigma_frac *
    width``, ``sy = sigma_frac * height``, then ``(g - min) / (max - min)``.
    """
    return center_bias_array(height, width, sigma_frac=sigma_frac)


def spectral_residual_map(image: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency of an image, min-max normalised (float64).

    The algorithm of opencv-contrib's ``StaticSaliencySpectralResidual``
    (see the module docstring), equal to it within
    :data:`SPECTRAL_RESIDUAL_ATOL`. A constant image has no residual: its map
    is all zeros.

    Parameters
    ----------
    image
        A BGR (or BGRA, or grayscale) image as read by ``cv2.imread``.
    """
    img = None if image is None else np.asarray(image)
    if img is None or img.size == 0:
        raise InputError("empty image")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    elif img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        gray = img.reshape(img.shape[:2])
    else:
        raise InputError(f"not an image: array of shape {img.shape}")
    if float(gray.min()) == float(gray.max()):
        return np.zeros(img.shape[:2], dtype=np.float64)
    small = cv2.resize(
        gray, (_SR_SIZE, _SR_SIZE), interpolation=cv2.INTER_LINEAR_EXACT
    ).astype(np.float64)
    spec = cv2.dft(cv2.merge([small, np.zeros_like(small)]))
    amp, phase = cv2.cartToPolar(spec[..., 0], spec[..., 1])
    # a coefficient that is exactly zero (the Nyquist term of some images, most of a box's
    # spectrum) has no log: amplitudes are floored at 1 (log 0), which reproduces contrib's maps
    log_amp = np.log(np.maximum(amp, 1.0))
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_DEFAULT)
    re, im = cv2.polarToCart(np.exp(residual), phase)
    back = cv2.dft(cv2.merge([re, im]), flags=cv2.DFT_INVERSE)
    mag = cv2.GaussianBlur(
        np.hypot(back[..., 0], back[..., 1]), (5, 5), 8, borderType=cv2.BORDER_DEFAULT
    )
    with np.errstate(over="ignore"):
        mag = mag * mag
    top = float(mag.max())
    if not np.isfinite(top) or top <= 0:
        return np.zeros(img.shape[:2], dtype=np.float64)
    sal = cv2.resize(
        (mag / top).astype(np.float32), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR
    ).astype(np.float64)
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
