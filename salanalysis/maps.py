"""Saliency map sources: a directory of maps matched to COCO images.

A :class:`MapSource` indexes a directory once and matches each image to at most
one map file, by (in this order)

1. the COCO file stem (``COCO_val2014_000000000192.png`` for
   ``COCO_val2014_000000000192.jpg``),
2. the image id, written zero-padded (``000000000192.png``), plain
   (``192.png``) or as any COCO-style name ending in the id
   (``COCO_val2014_000000000192.png`` for an annotation file that names the
   image ``000000000192.jpg``).

Two files that match one image (``192.png`` and ``192.npy``) are an error; an
image without a match has no map, and :meth:`MapSource.match` reports it. The
source never guesses beyond these rules.

Map folders are written by :func:`write_map_directory` (8-bit PNGs, staged and
moved into place only when every map was computed; resumable), the writer of
every map folder of this package (baselines, SALICON fixations, the saliency
network).

Supported files: 8-bit (or 16-bit) grayscale PNG/JPG/BMP/TIFF (colour images
are converted to gray) and float ``.npy`` arrays (2-D). Maps are returned as
float32 at the image's own size (bilinear resize, ``cv2.INTER_LINEAR``, when the
sizes differ) and, by default, min-max normalised to [0, 1] per map as in the
paper. A constant map has no contrast: it normalises to all zeros.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from salanalysis.errors import InputError
from salanalysis.images import image_id_from_stem

if TYPE_CHECKING:  # pandas is imported where it is used: the objects workers import this module
    import pandas as pd

__all__ = [
    "MapSource",
    "decode_gray_image",
    "load_map",
    "normalize_map",
    "MAP_EXTENSIONS",
    "write_map_directory",
    "staged_map_names",
    "check_map_names",
    "files_key",
]

MAP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")


def normalize_map(arr: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1] (float32). A constant map becomes all zeros."""
    arr = arr.astype(np.float32, copy=False)
    lo, hi = float(arr.min()), float(arr.max())
    if hi > lo:
        return (arr - lo) / (hi - lo)
    return np.zeros_like(arr, dtype=np.float32)


def _read_raw(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"cannot read saliency map: {type(exc).__name__}: {exc}", path) from exc
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise InputError(f"saliency map must be 2-D, got shape {arr.shape}", path)
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise InputError(f"saliency map has non-numeric dtype {arr.dtype}", path)
        return arr.astype(np.float32)
    return decode_gray_image(path).astype(np.float32)


def decode_gray_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a map image file to a 2-D gray array in its stored dtype (uint8, uint16, ...).

    The file's bytes are decoded with ``cv2.imdecode(..., IMREAD_UNCHANGED)``;
    BGR and BGRA images are converted to gray (``cv2.cvtColor``), and of an
    image with another number of channels the first is kept. No resize, no
    conversion of the values: :func:`load_map` converts the result to float32,
    the objects workers keep 8- and 16-bit maps integer.

    Raises
    ------
    InputError
        The file cannot be read or is not a decodable image.
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read saliency map: {exc}", path) from exc
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if arr is None:
        raise InputError("cannot decode saliency map image (corrupted or not an image)", path)
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
        elif arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
        else:
            arr = arr[..., 0]
    return arr


def load_map(
    path: str | os.PathLike,
    height: int | None = None,
    width: int | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Read one saliency map as float32, resized to (height, width) if given.

    Parameters
    ----------
    path
        A PNG/JPG/... image or a 2-D ``.npy`` array.
    height, width
        The image's size; the map is resized bilinearly when it differs.
    normalize
        Min-max normalise to [0, 1] (the paper's convention). ``False`` returns
        the stored values (resized).

    Raises
    ------
    InputError
        Unreadable or corrupted file, wrong shape, NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("saliency map not found", path)
    arr = _read_raw(path)
    if arr.size == 0:
        raise InputError("saliency map is empty", path)
    if not np.isfinite(arr).all():
        raise InputError("saliency map holds NaN or infinite values", path)
    if height is not None and width is not None and arr.shape != (height, width):
        arr = cv2.resize(arr, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return normalize_map(arr) if normalize else arr.astype(np.float32, copy=False)


def _split_name(name: str) -> tuple[str, str]:
    """``(stem, suffix)`` of a file name, as ``pathlib.PurePath.stem`` and ``.suffix``."""
    i = name.rfind(".")
    if 0 < i < len(name) - 1:
        return name[:i], name[i:]
    return name, ""


class MapSource:
    """A directory of saliency maps, matched to COCO images by name.

    Parameters
    ----------
    directory
        The folder holding the maps (not searched recursively).
    name
        The source's name (``salicon``, ``predicted``, ``center``...): it names
        the object-table columns ``sal_max_<name>``.
    normalize
        Min-max normalise each map to [0, 1] (default, as the paper).

    Raises
    ------
    InputError
        The directory does not exist or holds no map file.
    """

    def __init__(self, directory: str | os.PathLike, name: str = "saliency", normalize: bool = True):
        self.directory = Path(directory)
        self.name = str(name)
        self.normalize = normalize
        if not self.directory.is_dir():
            raise InputError(f"saliency map directory for source '{name}' not found", self.directory)
        # plain strings, not Path objects: a COCO-sized folder (40k files) is indexed
        # and matched in a fraction of a second
        self._by_stem: dict[str, list[str]] = {}
        self._by_id: dict[int, list[str]] = {}
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            stem, suffix = _split_name(entry.name)
            if suffix.lower() not in MAP_EXTENSIONS or not entry.is_file():
                continue
            self._by_stem.setdefault(stem, []).append(entry.path)
            iid = image_id_from_stem(stem)
            if iid is not None:
                self._by_id.setdefault(iid, []).append(entry.path)
        if not self._by_stem:
            raise InputError(
                f"no saliency maps ({', '.join(MAP_EXTENSIONS)}) in directory for source '{name}'",
                self.directory,
            )

    @property
    def n_files(self) -> int:
        """Number of map files in the directory."""
        return sum(len(v) for v in self._by_stem.values())

    def find(self, image_id: int, file_name: str | None = None) -> Path | None:
        """The map file for an image, or ``None`` when it has none.

        Raises
        ------
        InputError
            More than one file matches the image.
        """
        found = self._find(image_id, file_name)
        return None if found is None else Path(found)

    def _find(self, image_id: int, file_name: str | None = None) -> str | None:
        candidates: list[str] = []
        if file_name is not None:
            candidates = self._by_stem.get(_split_name(os.path.basename(file_name))[0], [])
        if not candidates:
            candidates = self._by_id.get(int(image_id), [])
        if len(candidates) > 1:
            names = ", ".join(os.path.basename(p) for p in candidates)
            raise InputError(f"several maps match image {image_id}: {names}", self.directory)
        return candidates[0] if candidates else None

    def paths(self, images: pd.DataFrame) -> list[str | None]:
        """Map path as a string (or ``None``) for each row of an image table, in order."""
        return [
            self._find(iid, fn)
            for iid, fn in zip(images["image_id"].tolist(), images["file_name"].tolist())
        ]

    def match(self, images: pd.DataFrame) -> pd.Series:
        """Map path (or ``None``) for each image of an image table, indexed by image_id."""
        import pandas as pd

        paths = [None if p is None else Path(p) for p in self.paths(images)]
        return pd.Series(paths, index=pd.Index(images["image_id"], name="image_id"), name=self.name, dtype=object)

    def load(self, image_id: int, height: int, width: int, file_name: str | None = None) -> np.ndarray:
        """The map of an image as float32 (height x width), normalised unless disabled.

        Raises
        ------
        InputError
            The image has no map, or the file cannot be read.
        """
        path = self.find(image_id, file_name)
        if path is None:
            raise InputError(f"no saliency map for image {image_id} in source '{self.name}'", self.directory)
        return load_map(path, height, width, normalize=self.normalize)

    def __repr__(self) -> str:
        return f"MapSource({self.name!r}, {str(self.directory)!r}, {self.n_files} files)"


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


def files_key(kind: str, paths: Iterable[str | os.PathLike]) -> str:
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
    from salanalysis.io import staged_dir  # pandas-free workers import this module: io loads pandas

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
