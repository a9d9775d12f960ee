"""Reading one saliency map: decoding, the colour and alpha rules, resize and normalisation.

The reading rules are stated in :mod:`salanalysis.maps`; this module imports no
pandas (the object-table workers import it).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Literal

import cv2
import numpy as np

from salanalysis.errors import InputError
from salanalysis.images import check_header_pixels
from salanalysis.limits import check_pixels
from salanalysis.maps.results_json import EncodedMap, encoded_bytes

__all__ = [
    "MapRef", "ColourRule", "COLOUR_RULES", "MAP_EXTENSIONS",
    "NOTE_ALPHA", "NOTE_COLOUR", "NOTE_CONSTANT", "NOTE_ASPECT", "NOTE_NAMES", "note_messages",
    "normalize_map", "decode_map", "decode_gray_image", "aspect_differs", "read_raw", "read_map", "load_map",
]

MAP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")

#: A map to read: a file path, or an entry of a results JSON.
MapRef = str | EncodedMap
ColourRule = Literal["refuse", "luminance"]
COLOUR_RULES = ("refuse", "luminance")

#: Notes on how a map was read (bit flags, see :func:`read_map`).
NOTE_ALPHA = 1  # an alpha channel that is not fully opaque was ignored
NOTE_COLOUR = 2  # a colour map was converted to gray (colour="luminance")
NOTE_CONSTANT = 4  # a constant map: no saliency, normalised to all zeros
NOTE_ASPECT = 8  # resized to an image of another aspect ratio (stretched)
#: Every note, with its short name in tables (the object table's counts, ``inspect``).
NOTE_NAMES = {NOTE_ASPECT: "stretched", NOTE_CONSTANT: "constant", NOTE_ALPHA: "alpha_ignored",
              NOTE_COLOUR: "colour_converted"}
_NOTE_TEXT = {
    NOTE_ASPECT: "map(s) of another aspect ratio than their image, stretched to it (bilinear resize)",
    NOTE_CONSTANT: "constant map(s): no saliency, read as all zeros",
    NOTE_ALPHA: "map(s) with a transparent alpha channel, ignored (gray from the colour channels)",
    NOTE_COLOUR: "colour map(s) converted to gray (luminance 0.299 R + 0.587 G + 0.114 B)",
}


def note_messages(counts: dict[int, tuple[int, str]], source: str) -> list[str]:
    """One line per kind of note: ``{flag: (n_maps, example)}`` -> messages naming the source."""
    return [f"saliency source '{source}': {counts[f][0]} {text}, e.g. {counts[f][1]}"
            for f, text in _NOTE_TEXT.items() if counts.get(f, (0, ""))[0]]


def normalize_map(arr: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1] (float32). A constant map becomes all zeros."""
    arr = arr.astype(np.float32, copy=False)
    lo, hi = float(arr.min()), float(arr.max())
    if hi > lo:
        return (arr - lo) / (hi - lo)
    return np.zeros_like(arr, dtype=np.float32)


# ------------------------------------------------------------------------ decoding
_DEVNULL: list[int] = []  # one descriptor of os.devnull per process, opened on first use


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C libraries' own messages (OpenCV's log, libpng) while decoding.

    They write to file descriptor 2 directly; it points at ``os.devnull`` for
    the duration (what Python itself has buffered is flushed first).
    """
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if not _DEVNULL:
            _DEVNULL.append(os.open(os.devnull, os.O_WRONLY))
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to save (a daemon): nothing to silence
        yield
        return
    try:
        os.dup2(_DEVNULL[0], 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _label(ref: MapRef | os.PathLike) -> str:
    return ref.label if isinstance(ref, EncodedMap) else os.fspath(ref)


def _gray(arr: np.ndarray, label: str, colour: str) -> tuple[np.ndarray, int]:
    """A decoded image as 2-D gray, with its notes (see the module docstring)."""
    if arr.ndim != 3:
        return arr, 0
    c = arr.shape[2]
    if c not in (3, 4):
        return arr[..., 0], 0
    notes = 0
    if c == 4:
        opaque = np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" else 1.0
        if float(arr[..., 3].min()) < opaque:
            notes |= NOTE_ALPHA
    b = arr[..., 0]
    if np.array_equal(b, arr[..., 1]) and np.array_equal(b, arr[..., 2]):
        return np.ascontiguousarray(b), notes
    if colour == "refuse":
        raise InputError(
            "a colour image (its colour channels differ), not a grayscale saliency map: a photo? "
            "(a folder may hold the photos beside the maps: name the maps with a map pattern; "
            "colour maps are read with the colour rule 'luminance', --colour-maps luminance)",
            label,
        )
    code = cv2.COLOR_BGRA2GRAY if c == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(arr, code), notes | NOTE_COLOUR


def decode_map(ref: MapRef | os.PathLike, colour: ColourRule = "refuse") -> tuple[np.ndarray, int]:
    """Decode a map image (a file, or a results-JSON entry) to 2-D gray in its stored dtype.

    No resize and no conversion of the values: :func:`read_map` converts to
    float32, the objects workers keep 8- and 16-bit maps integer.

    Parameters
    ----------
    ref
        A path, or an :class:`~salanalysis.maps.results_json.EncodedMap`.
    colour
        ``"refuse"`` (default): a colour image whose channels differ is an
        error; ``"luminance"``: it is converted to gray (module docstring).

    Returns
    -------
    (array, notes)
        The gray map and its notes (:data:`NOTE_ALPHA`, :data:`NOTE_COLOUR`).

    Raises
    ------
    InputError
        The file cannot be read, is not a decodable image, or is a colour image
        (with ``colour="refuse"``).
    """
    label = _label(ref)
    if isinstance(ref, EncodedMap):
        buf = np.frombuffer(encoded_bytes(ref), dtype=np.uint8)
    else:
        try:
            buf = np.fromfile(ref, dtype=np.uint8)
        except FileNotFoundError:
            raise InputError("saliency map not found", label) from None
        except OSError as exc:
            raise InputError(f"cannot read saliency map: {exc.strerror or exc}", label) from exc
    if buf.size:
        check_header_pixels(buf, label, "saliency map")
        with _quiet_stderr():
            arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    else:
        arr = None
    if arr is None:
        raise InputError("cannot decode saliency map image (corrupted or not an image)", label)
    return _gray(arr, label, colour)


def decode_gray_image(path: str | os.PathLike, colour: ColourRule = "refuse") -> np.ndarray:
    """The gray array of :func:`decode_map` without its notes."""
    return decode_map(path, colour)[0]


def _read_npy(path: str) -> np.ndarray:
    try:  # the header first (a memory map allocates nothing): refuse a huge declared shape
        head = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:
        raise InputError(f"cannot read saliency map: {type(exc).__name__}: {exc}", path) from exc
    if head.ndim in (2, 3):
        check_pixels(head.shape[1], head.shape[0], "saliency map has", path)
    del head
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


def aspect_differs(map_shape: tuple[int, int], height: int, width: int) -> bool:
    """Whether a (rows, cols) map and a width x height image differ in aspect ratio by over 1%."""
    hm, wm = int(map_shape[0]), int(map_shape[1])
    return abs(wm * height - width * hm) > 0.01 * width * hm


def read_raw(ref: MapRef | os.PathLike, colour: ColourRule = "refuse") -> tuple[np.ndarray, int]:
    """A map's stored values (a 2-D array: ``.npy`` as float32, images in their dtype) and notes.

    Raises
    ------
    InputError
        Missing, unreadable, corrupted, empty, colour (refused) or non-finite map.
    """
    if not isinstance(ref, EncodedMap) and os.fspath(ref).lower().endswith(".npy"):
        path = os.fspath(ref)
        if not os.path.isfile(path):
            raise InputError("saliency map not found", path)
        arr, notes = _read_npy(path), 0
    else:
        arr, notes = decode_map(ref, colour)
    if arr.size == 0:
        raise InputError("saliency map is empty", _label(ref))
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError("saliency map holds NaN or infinite values", _label(ref))
    return arr, notes


def read_map(
    ref: MapRef | os.PathLike,
    height: int | None = None,
    width: int | None = None,
    *,
    normalize: bool = True,
    colour: ColourRule = "refuse",
) -> tuple[np.ndarray, int]:
    """Read one saliency map as float32 at (height, width), with notes on how it was read.

    The reading rules of the module docstring: bilinear resize to the image
    size when it differs, then (``normalize``) min-max normalisation to [0, 1].

    Returns
    -------
    (array, notes)
        The map and its notes: :data:`NOTE_ASPECT` (stretched),
        :data:`NOTE_CONSTANT`, :data:`NOTE_ALPHA`, :data:`NOTE_COLOUR`.

    Raises
    ------
    InputError
        Unreadable, corrupted, colour (refused), empty or non-finite map.
    """
    arr, notes = read_raw(ref, colour)
    arr = arr.astype(np.float32, copy=False)
    if height is not None and width is not None and arr.shape != (height, width):
        if aspect_differs(arr.shape, height, width):
            notes |= NOTE_ASPECT
        arr = cv2.resize(arr, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    if float(arr.min()) == float(arr.max()):
        notes |= NOTE_CONSTANT
    return (normalize_map(arr) if normalize else arr), notes


def load_map(
    path: MapRef | os.PathLike,
    height: int | None = None,
    width: int | None = None,
    normalize: bool = True,
    colour: ColourRule = "refuse",
) -> np.ndarray:
    """Read one saliency map as float32, resized to (height, width) if given.

    :func:`read_map` without the notes.

    Parameters
    ----------
    path
        A PNG/JPG/... image, a 2-D ``.npy`` array, or a results-JSON entry.
    height, width
        The image's size; the map is resized bilinearly when it differs.
    normalize
        Min-max normalise to [0, 1] (the paper's convention). ``False`` returns
        the stored values (resized).
    colour
        ``"refuse"`` colour images (default) or convert them (``"luminance"``).

    Raises
    ------
    InputError
        Unreadable or corrupted file, a colour image (refused), wrong shape,
        NaN or infinite values.
    """
    return read_map(path, height, width, normalize=normalize, colour=colour)[0]
