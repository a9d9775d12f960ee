"""Writing map folders: :func:`write_map_directory` (8-bit PNGs, staged, resumable)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from salanalysis.errors import InputError
from salanalysis.maps.results_json import encode_png

__all__ = ["write_map_directory", "staged_map_names", "check_map_names", "files_key"]

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
    if os.path.islink(stage) or not stage.is_dir():  # a link is refused by the writer, never read
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

    Maps hold values in [0, 1] (clipped), stored as ``round(255 * value)``;
    ``uint8``/``uint16`` arrays are stored with their own values
    (:func:`~salanalysis.maps.results_json.encode_png`).
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
    from salanalysis.io import STAGING_MARKER, staged_dir  # pandas-free workers import this module

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
                if p.name == STAGING_MARKER:
                    continue
                if p.is_file() and not p.is_symlink() and p.name.endswith(".png") and not p.name.startswith("."):
                    written[p.name[:-4]] = out / p.name
                elif p.is_dir() and not p.is_symlink():
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
                part.write_bytes(encode_png(arr, name))
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
