"""Image files and COCO image names: one set of name patterns, one image reader.

COCO names
    A COCO-style file stem is ``<DATASET>_<split><year>_<zero-padded id>``
    (``COCO_val2014_000000000192``); a bare id, zero-padded or not
    (``000000000192``, ``192``), names the same image. :func:`parse_image_name`
    reads both forms; :func:`image_id_from_name` gives the id;
    :func:`coco_image_name` writes the 2014 form. Saliency maps are matched to
    images with these rules (:class:`salanalysis.maps.MapSource`), SALICON
    fixations name their images with them (:mod:`salanalysis.salicon`), and map
    folders written by this package use them (:func:`salanalysis.maps.map_file_name`).

Image files
    :func:`image_files` lists a folder's images (:data:`IMAGE_EXTENSIONS`, any
    case, not recursive); :func:`read_image` decodes one (through OpenCV, BGR or
    RGB uint8) with a one-line error naming the file; :func:`image_size` reads
    only the header; :func:`images_table` tabulates a folder.
    :func:`check_header_pixels` reads the size from the header of encoded bytes
    and refuses an image over the ``pixels`` limit (:mod:`salanalysis.limits`)
    before it is decoded: every decode of this package goes through it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from salanalysis.errors import InputError

if TYPE_CHECKING:  # pandas is imported where it is used (the objects workers import maps -> images)
    import pandas as pd

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageName",
    "parse_image_name",
    "parse_image_stem",
    "image_id_from_name",
    "image_id_from_stem",
    "coco_image_name",
    "image_files",
    "read_image",
    "image_size",
    "images_table",
    "check_header_pixels",
    "image_in_folder",
]

#: Image file extensions read as images (any case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

#: The one pattern of image names: an optional ``DATASET_split2014_`` prefix, then the id.
_NAME_RE = re.compile(r"^(?:(?P<dataset>[A-Za-z]+)_(?P<split>[A-Za-z]+)(?P<year>\d{4})_)?0*(?P<id>\d+)$")


@dataclass(frozen=True)
class ImageName:
    """The parts of a COCO-style image name (``dataset``, ``split``, ``year`` are None for a bare id)."""

    image_id: int
    dataset: str | None = None
    split: str | None = None
    year: int | None = None


def parse_image_name(name: str | os.PathLike) -> ImageName | None:
    """Parse a file name or stem: ``COCO_val2014_000000000192.jpg`` -> (192, COCO, val, 2014).

    A file extension is dropped first; a name that is neither form gives None.
    """
    stem = Path(str(name)).stem if Path(str(name)).suffix else Path(str(name)).name
    return parse_image_stem(stem)


def parse_image_stem(stem: str) -> ImageName | None:
    """:func:`parse_image_name` of a stem without an extension (fast: no path parsing)."""
    m = _NAME_RE.match(stem)
    if m is None:
        return None
    year = m.group("year")
    return ImageName(int(m.group("id")), m.group("dataset"), m.group("split"),
                     None if year is None else int(year))


def image_id_from_stem(stem: str) -> int | None:
    """:func:`image_id_from_name` of a stem without an extension (fast: no path parsing)."""
    m = _NAME_RE.match(stem)
    return None if m is None else int(m.group("id"))


def image_id_from_name(name: str | os.PathLike) -> int | None:
    """COCO image id of a file name or stem (``COCO_val2014_000000000192`` -> 192), or None."""
    parsed = parse_image_name(name)
    return None if parsed is None else parsed.image_id


def coco_image_name(image_id: int, split: str = "val", year: int = 2014, dataset: str = "COCO") -> str:
    """The COCO file stem of an image: ``COCO_{split}{year}_%012d``."""
    return f"{dataset}_{split}{int(year)}_{int(image_id):012d}"


def image_files(directory: str | os.PathLike, noun: str = "directory") -> list[Path]:
    """Image files (:data:`IMAGE_EXTENSIONS`, any case) directly in ``directory``, sorted by name.

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


def read_image(path: str | os.PathLike, order: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """Decode an image file as uint8 (H, W, 3), BGR (OpenCV's order, default) or RGB.

    Grayscale files are expanded to three channels, an alpha channel is dropped.

    Raises
    ------
    InputError
        Missing, empty or undecodable file.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError("image not found", path)
    buf = np.fromfile(path, dtype=np.uint8)
    if buf.size:
        check_header_pixels(buf, path)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise InputError("cannot decode image (corrupted or not an image)", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if order == "rgb" else img


def _header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the header of encoded image bytes (Pillow, no decoding), or None."""
    import io
    import warnings

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we check ourselves
            with Image.open(io.BytesIO(data)) as im:
                return int(im.width), int(im.height)
    except Image.DecompressionBombError:  # over Pillow's own limit: read the header by hand
        pass
    except Exception:  # not a format Pillow knows, or a broken header: the decoder will say
        return None
    Image.init()  # what Image.open does, without its size check
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            im = factory(io.BytesIO(data), None)
            return int(im.size[0]), int(im.size[1])
        except Exception:
            continue
    return None


def check_header_pixels(data, path: str | os.PathLike | None = None, what: str = "image") -> None:
    """Refuse encoded image bytes whose header declares more pixels than the ``pixels`` limit.

    One line naming ``path``, the declared size and the limit (:class:`~salanalysis.limits.LimitError`),
    raised before anything is decoded or allocated.
    """
    from salanalysis.limits import check_pixels

    size = _header_size(bytes(memoryview(data)[:1 << 16]) if len(data) > 1 << 16 else bytes(data))
    if size is None and len(data) > 1 << 16:  # a header past the first 64 KiB (rare): read it all
        size = _header_size(bytes(data))
    if size is not None:
        check_pixels(size[0], size[1], f"{what} header declares", path)
        cv_limit = int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "") or 1 << 30)
        if size[0] * size[1] > cv_limit:  # only where --limit pixels was raised past it
            raise InputError(
                f"{what} header declares {size[0]} x {size[1]} pixels, over OpenCV's decoding limit "
                f"of {cv_limit:,} (raise it with OPENCV_IO_MAX_IMAGE_PIXELS)", path)


def image_in_folder(root: str | os.PathLike, name: object, source: str | os.PathLike | None = None) -> Path:
    """``root / name`` for an image name read from a file (``source``), kept inside ``root``.

    A name that is absolute, holds a NUL, or resolves (links followed) outside the
    resolved ``root`` (``../secret/photo.jpg``) is refused with one line naming
    ``source`` and the name, shown escaped; nothing outside the folder the user
    named is read.
    """
    text = str(name)
    if "\x00" in text:
        raise InputError(f"image file name {text!r} holds a NUL character", source)
    rel = Path(text)
    if rel.is_absolute() or rel.drive or rel.root:
        raise InputError(f"image file name {text!r} is an absolute path; names must be relative "
                         "to the image folder", source)
    full = Path(root) / rel
    try:
        full.resolve().relative_to(Path(root).resolve())
    except ValueError:
        raise InputError(f"image file name {text!r} points outside the image folder "
                         f"{os.fspath(root)!r}", source) from None
    return full


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file, from its header (Pillow) without decoding it."""
    path = Path(path)
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return int(im.width), int(im.height)
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        img = read_image(path)
        return int(img.shape[1]), int(img.shape[0])
    except Exception as exc:
        raise InputError(f"cannot read image size: {type(exc).__name__}: {exc}", path) from exc


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
    import pandas as pd

    files = image_files(directory)
    table = pd.DataFrame(
        {
            "image_id": pd.array([image_id_from_name(p.name) for p in files], dtype="Int64"),
            "file_name": [p.name for p in files],
        }
    )
    if sizes:
        wh = [image_size(p) for p in files]
        table["width"] = np.array([w for w, _ in wh], dtype=np.int64)
        table["height"] = np.array([h for _, h in wh], dtype=np.int64)
    table["path"] = [str(p) for p in files]
    return table
