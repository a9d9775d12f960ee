"""SALICON results JSON: saliency maps as base64-encoded images in one file.

The format of the official SALICON evaluation and of the example results file
of its API (``salicon-api``: ``results/fixations_train2014examples_fake_results.json``,
read by ``SALICON.loadRes``): a JSON list with one object per image, ::

    [{"image_id": 123909, "saliency_map": "iVBORw0KGgo..."}, ...]

where ``saliency_map`` is the base64 encoding of an image file (a grayscale
PNG in the official examples; any image OpenCV decodes is accepted, and a
``data:image/png;base64,`` prefix is ignored). Image ids are COCO ids.

:func:`read_results_json` indexes such a file (the maps stay encoded until a
map is read); :func:`write_results_json` writes one from arrays (8-bit
grayscale PNGs, ``round(255 * value)`` of values clipped to [0, 1], the
encoding of every map folder this package writes).
:class:`salanalysis.maps.MapSource` reads a results JSON wherever it reads a
map folder; ``salanalysis saliency convert`` converts one into the other.

This module imports neither pandas nor :mod:`salanalysis.io` at import time
(the object-table workers import it through :mod:`salanalysis.maps`).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from salanalysis.errors import InputError

__all__ = ["EncodedMap", "encode_png", "encoded_bytes", "read_results_json", "write_results_json",
           "RESULTS_JSON_FIELDS"]

#: The two fields of an entry of a results JSON.
RESULTS_JSON_FIELDS = ("image_id", "saliency_map")


class EncodedMap(NamedTuple):
    """One map of a results JSON, still encoded.

    Attributes
    ----------
    label
        Names the map in messages: ``FILE (image ID)``.
    data
        The base64 text of the image file (or the file's bytes).
    """

    label: str
    data: str | bytes


def encoded_bytes(ref: EncodedMap) -> bytes:
    """The image file bytes of an :class:`EncodedMap` (base64 decoded).

    Raises
    ------
    InputError
        The text is not valid base64.
    """
    data = ref.data
    if isinstance(data, bytes):
        return data
    if data.startswith("data:"):  # a data URI: data:image/png;base64,....
        data = data.split(",", 1)[-1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"saliency_map is not valid base64: {exc}", ref.label) from None


def encode_png(arr: np.ndarray, name: str) -> bytes:
    """A grayscale PNG of a map: values in [0, 1] (clipped) as 8 bits, ``round(255 * value)``.

    A ``uint8`` or ``uint16`` array is a map as stored (decoded from a file):
    it is written with its own values and depth.

    Raises
    ------
    InputError
        Not a finite, non-empty 2-D array.
    """
    import cv2

    arr = np.asarray(arr)
    if arr.dtype in (np.uint8, np.uint16) and arr.ndim == 2 and arr.size:
        u8 = np.ascontiguousarray(arr)
        ok, buf = cv2.imencode(".png", u8)
        if not ok:  # pragma: no cover - OpenCV always encodes 8/16-bit gray PNG
            raise InputError(f"cannot encode map {name!r} as PNG")
        return buf.tobytes()
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


def _image_id(value, i: int, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"entry {i}: image_id must be an integer, got {value!r}", path)
    try:
        iid = int(value)
    except (TypeError, ValueError):
        raise InputError(f"entry {i}: image_id must be an integer, got {value!r}", path) from None
    if float(value) != iid or iid < 0:
        raise InputError(f"entry {i}: image_id must be a non-negative integer, got {value!r}", path)
    return iid


def read_results_json(path: str | os.PathLike) -> dict[int, EncodedMap]:
    """Index a SALICON results JSON: image id -> :class:`EncodedMap` (not decoded).

    Raises
    ------
    InputError
        Not a list of ``{image_id, saliency_map}`` objects, no entry, an
        ``image_id`` that is not an integer, a ``saliency_map`` that is not a
        string, or two entries for one image.
    """
    from salanalysis.io import read_json

    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError("not a SALICON results JSON: expected a list of {image_id, saliency_map}", path)
    if not data:
        raise InputError("SALICON results JSON holds no maps", path)
    out: dict[int, EncodedMap] = {}
    first: dict[int, int] = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not set(RESULTS_JSON_FIELDS) <= entry.keys():
            raise InputError(f"entry {i} lacks image_id or saliency_map (a SALICON results JSON holds "
                             "a list of {image_id, saliency_map})", path)
        iid = _image_id(entry["image_id"], i, path)
        sal = entry["saliency_map"]
        if not isinstance(sal, str) or not sal:
            raise InputError(f"entry {i} (image {iid}): saliency_map must be a base64-encoded image "
                             f"(a string), got {type(sal).__name__}", path)
        if iid in out:
            raise InputError(f"two maps for image {iid} (entries {first[iid]} and {i})", path)
        first[iid] = i
        out[iid] = EncodedMap(f"{os.fspath(path)} (image {iid})", sal)
    return out


def write_results_json(maps: Iterable[tuple[int, np.ndarray]], path: str | os.PathLike) -> Path:
    """Write ``(image_id, map)`` pairs as a SALICON results JSON, atomically.

    Each map (values in [0, 1], clipped) is stored as an 8-bit grayscale PNG
    (:func:`encode_png`), base64-encoded; entries follow the order given.
    The file reads back with :func:`read_results_json` (and with the SALICON
    API's ``loadRes``).

    Raises
    ------
    InputError
        A repeated image id, a map that is not a finite 2-D array, no map, or
        an output that does not end in ``.json``.
    """
    import json

    from salanalysis.io import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise InputError("a SALICON results JSON must end in .json", path)
    seen: set[int] = set()
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write("[")
            for n, (iid, arr) in enumerate(maps):
                iid = int(iid)
                if iid in seen:
                    raise InputError(f"two maps for image {iid}", path)
                seen.add(iid)
                text = base64.b64encode(encode_png(arr, str(iid))).decode("ascii")
                fh.write(("," if n else "") + "\n" + json.dumps({"image_id": iid, "saliency_map": text}))
            if not seen:
                raise InputError("no maps to write", path)
            fh.write("\n]\n")
    return path
