"""Built-in saliency sources whose map depends only on the image size (the center bias).

Such a source needs no file: :class:`SizeMap` is a small picklable reference that
the objects workers turn into the map of an image size (one map per size, kept in
a small per-process cache), and :class:`SizeMapSource` stands where a
:class:`~salanalysis.maps.MapSource` would, giving every image that reference. The
values are those of the 8-bit PNG that ``salanalysis saliency baseline`` writes for
the same image (``round(255 * map)``, :func:`~salanalysis.maps.write_map_directory`),
so the object table is the same as with a folder of written maps, without writing,
caching or decoding one map per image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from salanalysis.errors import InputError
from salanalysis.maps.read import NOTE_CONSTANT, normalize_map

if TYPE_CHECKING:  # pandas is not imported by the workers
    import pandas as pd

__all__ = ["SIZE_MAPS", "SizeMap", "SizeMapSource", "center_bias_array"]

#: The size-only maps the package computes, with what they are.
SIZE_MAPS = {"center-bias": "a Gaussian at the image center (sd 0.25 of width and height; a control)"}


def center_bias_array(height: int, width: int, *, sigma_frac: float = 0.25) -> np.ndarray:
    """A centered Gaussian, min-max normalised to [0, 1] (float64, height x width).

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


@functools.lru_cache(maxsize=16)
def _stored(kind: str, sigma_frac: float, height: int, width: int) -> np.ndarray:
    if kind != "center-bias":
        raise InputError(f"unknown built-in saliency map {kind!r} (known: {', '.join(SIZE_MAPS)})")
    u8 = np.round(np.clip(center_bias_array(height, width, sigma_frac=sigma_frac), 0.0, 1.0) * 255.0)
    out = u8.astype(np.uint8)
    out.flags.writeable = False  # shared by every image of the size
    return out


@dataclass(frozen=True)
class SizeMap:
    """A map computed from the image size alone (a reference the objects workers read).

    ``kind``: a key of :data:`SIZE_MAPS`; ``sigma_frac``: the center bias's spread.
    """

    kind: str = "center-bias"
    sigma_frac: float = 0.25

    @property
    def label(self) -> str:
        return f"built-in {self.kind} map"

    def stored(self, height: int, width: int) -> np.ndarray:
        """The map's stored 8-bit values at (height, width), as its written PNG holds them (read-only)."""
        return _stored(self.kind, float(self.sigma_frac), int(height), int(width))


class SizeMapSource:
    """A built-in saliency source computed from each image's size (used like a MapSource).

    Every image has a map (the same :class:`SizeMap` reference); nothing is read from
    disk. ``location`` names the source in messages.
    """

    kind = "built-in"

    def __init__(self, name: str = "center", kind: str = "center-bias", *, sigma_frac: float = 0.25) -> None:
        if kind not in SIZE_MAPS:
            raise InputError(f"unknown built-in saliency map {kind!r} (known: {', '.join(SIZE_MAPS)})")
        self.name = name
        self.ref = SizeMap(kind, float(sigma_frac))
        self.location = Path(f"<built-in {kind}>")
        self.normalize = True
        self.colour = "refuse"

    @property
    def n_files(self) -> int:
        return 0

    def paths(self, images: pd.DataFrame) -> list[SizeMap]:
        """The map reference of each row of an image table (every image has one)."""
        return [self.ref] * len(images)

    def match(self, images: pd.DataFrame) -> pd.Series:
        """The map reference of each image of an image table, by image_id."""
        import pandas as pd

        return pd.Series(self.paths(images), index=pd.Index(images["image_id"], name="image_id"), name=self.name,
                         dtype=object)

    def find(self, image_id: int, file_name: str | None = None) -> SizeMap:
        return self.ref

    def read(self, ref: SizeMap, height: int | None = None, width: int | None = None) -> tuple[np.ndarray, int]:
        """The map at (height, width), float32 normalised to [0, 1], and its notes (as ``read_map``)."""
        if height is None or width is None:
            raise InputError(f"the built-in {self.ref.kind} map needs the image size", self.location)
        arr = ref.stored(height, width).astype(np.float32)
        notes = NOTE_CONSTANT if float(arr.min()) == float(arr.max()) else 0
        return normalize_map(arr), notes

    def load(self, image_id: int, height: int, width: int, file_name: str | None = None) -> np.ndarray:
        """The map of an image as float32 (height x width), normalised."""
        return self.read(self.ref, height, width)[0]

    def no_match_error(self, images: pd.DataFrame) -> InputError:  # pragma: no cover - every image matches
        return InputError(f"built-in source '{self.name}' matched no image", self.location)

    def __repr__(self) -> str:
        return f"SizeMapSource({self.name!r}, {self.ref.kind!r})"
