"""Matching saliency maps to images: :class:`MapSource` (a map folder or a SALICON results JSON).

The matching rules and map patterns are stated in :mod:`salanalysis.maps`.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from salanalysis.errors import InputError, warn_input
from salanalysis.images import parse_image_stem
from salanalysis.maps.read import (
    COLOUR_RULES,
    MAP_EXTENSIONS,
    ColourRule,
    MapRef,
    _label,
    read_map,
)
from salanalysis.maps.results_json import EncodedMap, read_results_json

if TYPE_CHECKING:  # pandas is imported where it is used: the objects workers import this package
    import pandas as pd

__all__ = ["MapSource", "map_pattern_regex"]

def _split_name(name: str) -> tuple[str, str]:
    """``(stem, suffix)`` of a file name, as ``pathlib.PurePath.stem`` and ``.suffix``."""
    i = name.rfind(".")
    if 0 < i < len(name) - 1:
        return name[:i], name[i:]
    return name, ""


def map_pattern_regex(pattern: str) -> re.Pattern:
    """The regular expression of a map pattern (``{stem}_final_bw``, ``sal_{id}``).

    ``{stem}`` becomes the group ``core`` matching any name, ``{id}`` the group
    ``core`` matching digits; the rest is literal. A trailing map extension
    (``{stem}_final_bw.png``) is dropped.

    Raises
    ------
    InputError
        The pattern holds no ``{stem}`` or ``{id}``, holds more than one field,
        or another field.
    """
    text = str(pattern)
    stem, suffix = _split_name(text)
    if suffix.lower() in MAP_EXTENSIONS:
        text = stem
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InputError(f"map pattern {pattern!r}: {exc}") from None
    fields = [f for _, f, _, _ in parts if f is not None]
    if len(fields) != 1 or fields[0] not in ("stem", "id"):
        raise InputError(f"map pattern {pattern!r} must hold exactly one {{stem}} or {{id}}, "
                         "e.g. '{stem}_final_bw' or 'sal_{id}'")
    body = "".join(re.escape(lit) + ("" if f is None else ("(?P<core>.+)" if f == "stem" else "(?P<core>[0-9]+)"))
                   for lit, f, _, _ in parts)
    return re.compile(body)


class MapSource:
    """Saliency maps matched to COCO images by name: a folder, or a SALICON results JSON.

    Parameters
    ----------
    location
        The folder holding the maps (not searched recursively), or a SALICON
        results JSON (``.json``, :mod:`salanalysis.maps.results_json`).
    name
        The source's name (``salicon``, ``predicted``, ``center``...): it names
        the object-table columns ``sal_max_<name>``.
    normalize
        Min-max normalise each map to [0, 1] (default, as the paper).
    pattern
        The map pattern (module docstring): ``"{stem}_final_bw"``; None: ``{stem}``.
    colour
        ``"refuse"`` colour images (default) or read them by luminance.

    Attributes
    ----------
    skipped
        Names of files of a map type that are not maps by the pattern (or hidden).
    other_files
        Names of the folder's files of other types (ignored).

    Raises
    ------
    InputError
        The location does not exist, holds no map (no file matching the
        pattern), or is a malformed results JSON.
    """

    def __init__(self, location: str | os.PathLike, name: str = "saliency", normalize: bool = True, *,
                 pattern: str | None = None, colour: ColourRule = "refuse"):
        self.location = Path(location)
        self.directory = self.location  # the name older code uses
        self.name = str(name)
        self.normalize = normalize
        if colour not in COLOUR_RULES:
            raise InputError(f"colour rule must be one of {', '.join(COLOUR_RULES)}, got {colour!r}")
        self.colour: ColourRule = colour
        self.pattern = None if pattern in (None, "", "{stem}") else str(pattern)
        regex = None if self.pattern is None else map_pattern_regex(self.pattern)
        self.skipped: list[str] = []
        self.other_files: list[str] = []
        self.broken_links: list[str] = []
        # plain strings, not Path objects: a COCO-sized folder (40k files) is indexed
        # and matched in a fraction of a second
        self._by_stem: dict[str, list[MapRef]] = {}
        self._by_id: dict[int, list[tuple[MapRef, tuple | None]]] = {}
        if self.location.is_file() and self.location.suffix.lower() == ".json":
            self.kind = "results-json"
            for iid, ref in read_results_json(self.location).items():
                self._by_id[iid] = [(ref, None)]
            return
        self.kind = "folder"
        if not self.location.exists():
            raise InputError(f"saliency maps of source '{name}' not found (give a map folder or a "
                             "SALICON results JSON)", self.location)
        if not self.location.is_dir():
            raise InputError(f"saliency source '{name}' must be a map folder or a SALICON results "
                             "JSON (.json)", self.location)
        n = 0
        for entry in sorted(os.scandir(self.location), key=lambda e: e.name):
            stem, suffix = _split_name(entry.name)
            if not entry.is_file():
                if entry.is_symlink():  # its target is gone: named, not taken silently as "no map"
                    self.broken_links.append(entry.name)
                continue
            if suffix.lower() not in MAP_EXTENSIONS:
                self.other_files.append(entry.name)
                continue
            m = None if regex is None else regex.fullmatch(stem)
            if entry.name.startswith(".") or (regex is not None and m is None):
                self.skipped.append(entry.name)
                continue
            core = stem if m is None else m.group("core")
            self._by_stem.setdefault(core, []).append(entry.path)
            parsed = parse_image_stem(core)
            if parsed is not None:
                prefix = None if parsed.dataset is None else (parsed.dataset, parsed.split, parsed.year)
                self._by_id.setdefault(parsed.image_id, []).append((entry.path, prefix))
            n += 1
        if self.broken_links:
            warn_input(f"saliency source '{name}': {len(self.broken_links)} broken symbolic link(s), e.g. "
                       f"{self.broken_links[0]} (target missing): their images count as without a map",
                       self.location)
        if not n:
            kinds = ", ".join(MAP_EXTENSIONS)
            if self.pattern is not None and self.skipped:
                raise InputError(f"no file of source '{name}' matches the map pattern {self.pattern!r} "
                                 f"(the folder holds e.g. {', '.join(self.skipped[:3])})", self.location)
            raise InputError(f"no saliency maps ({kinds}) in directory for source '{name}'", self.location)

    @property
    def n_files(self) -> int:
        """Number of maps (files, or entries of a results JSON)."""
        if self.kind == "results-json":
            return len(self._by_id)
        return sum(len(v) for v in self._by_stem.values())

    def refs(self) -> list[MapRef]:
        """Every map of the source (paths as strings, or results-JSON entries), in name / id order."""
        if self.kind == "results-json":
            return [v[0][0] for _, v in sorted(self._by_id.items())]
        return sorted(p for v in self._by_stem.values() for p in v)

    def image_ids(self) -> dict[int, MapRef]:
        """The maps whose name tells an image id: id -> map.

        Raises
        ------
        InputError
            Two maps name one id.
        """
        out: dict[int, MapRef] = {}
        for iid, entries in sorted(self._by_id.items()):
            if len(entries) > 1:
                names = ", ".join(os.path.basename(_label(r)) for r, _ in entries)
                raise InputError(f"several maps name image {iid}: {names}", self.location)
            out[iid] = entries[0][0]
        return out

    def by_name(self) -> dict[str, MapRef]:
        """The folder's maps by name (the stem, without what a map pattern adds), for ground truth.

        Raises
        ------
        InputError
            A results JSON (its maps have ids, not names), or two maps with one name.
        """
        if self.kind == "results-json":
            raise InputError("ground-truth maps must be a map folder; convert a results JSON with "
                             "`salanalysis saliency convert`", self.location)
        out: dict[str, MapRef] = {}
        for stem, refs in sorted(self._by_stem.items()):
            if len(refs) > 1:
                names = ", ".join(os.path.basename(_label(r)) for r in refs)
                raise InputError(f"two maps named {stem}: {names} (keep one per image)", self.location)
            out[stem] = refs[0]
        return out

    def find(self, image_id: int, file_name: str | None = None) -> Path | EncodedMap | None:
        """The map of an image (a Path, or a results-JSON entry), or ``None`` when it has none.

        Raises
        ------
        InputError
            More than one file matches the image.
        """
        found = self._find(image_id, file_name)
        return Path(found) if isinstance(found, str) else found

    def _find(self, image_id: int, file_name: str | None = None) -> MapRef | None:
        candidates: list[MapRef] = []
        prefix = None
        if file_name is not None:
            stem = _split_name(os.path.basename(file_name))[0]
            candidates = list(self._by_stem.get(stem, ()))
            parsed = parse_image_stem(stem)
            if parsed is not None and parsed.dataset is not None:
                prefix = (parsed.dataset, parsed.split, parsed.year)
        for ref, pre in self._by_id.get(int(image_id), ()):
            if ref in candidates or (prefix is not None and pre is not None and pre != prefix):
                continue
            candidates.append(ref)
        if len(candidates) > 1:
            names = ", ".join(sorted(os.path.basename(_label(p)) for p in candidates))
            raise InputError(f"several maps match image {image_id}: {names} (keep one per image)",
                             self.location)
        return candidates[0] if candidates else None

    def paths(self, images: pd.DataFrame) -> list[MapRef | None]:
        """The map (a path as a string, a results-JSON entry, or ``None``) of each row of an image table."""
        return [
            self._find(iid, fn)
            for iid, fn in zip(images["image_id"].tolist(), images["file_name"].tolist())
        ]

    def match(self, images: pd.DataFrame) -> pd.Series:
        """Map (a Path, a results-JSON entry, or ``None``) of each image of an image table, by image_id."""
        import pandas as pd

        paths = [Path(p) if isinstance(p, str) else p for p in self.paths(images)]
        return pd.Series(paths, index=pd.Index(images["image_id"], name="image_id"), name=self.name, dtype=object)

    def expected_names(self, image_id: int, file_name: str | None = None) -> str:
        """The names this source would take as the map of an image (for messages)."""
        iid = int(image_id)
        if self.kind == "results-json":
            return f"an entry with image_id {iid}"
        stem = None if file_name is None else _split_name(os.path.basename(file_name))[0]
        forms = [stem] if stem is not None else []
        forms += [f"{iid:012d}", str(iid)]
        if self.pattern is not None:
            field = "id" if "{id}" in self.pattern else "stem"
            text = _split_name(self.pattern)[0] if _split_name(self.pattern)[1].lower() in MAP_EXTENSIONS \
                else self.pattern
            forms = [text.replace("{" + field + "}", f) for f in (forms if field == "stem" else forms[-2:])]
        names = [f"{f}.png" for f in dict.fromkeys(forms)]
        return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]

    def no_match_error(self, images: pd.DataFrame) -> InputError:
        """The error for a source that matches none of ``images``: the names it expected and what it holds."""
        iid, fn = int(images["image_id"].iat[0]), str(images["file_name"].iat[0])
        held = ", ".join(os.path.basename(_label(r)) if self.kind == "folder" else str(i)
                         for i, r in zip(range(3), self.refs()))
        held_what = "image ids" if self.kind == "results-json" else "names"
        pattern = "" if self.pattern is None else f", map pattern {self.pattern!r}"
        return InputError(
            f"no saliency map of source '{self.name}' matches any of the {len(images)} images "
            f"(expected e.g. {self.expected_names(iid, fn)} for image {iid}{pattern}; "
            f"the source holds {held_what} like {held})",
            self.location,
        )

    def read(self, ref: MapRef, height: int | None = None, width: int | None = None) -> tuple[np.ndarray, int]:
        """:func:`read_map` of one of this source's maps with its normalisation and colour rule."""
        return read_map(ref, height, width, normalize=self.normalize, colour=self.colour)

    def load(self, image_id: int, height: int, width: int, file_name: str | None = None) -> np.ndarray:
        """The map of an image as float32 (height x width), normalised unless disabled.

        Raises
        ------
        InputError
            The image has no map, or the file cannot be read.
        """
        ref = self._find(image_id, file_name)
        if ref is None:
            raise InputError(f"no saliency map for image {image_id} in source '{self.name}'", self.location)
        return self.read(ref, height, width)[0]

    def __repr__(self) -> str:
        what = "entries" if self.kind == "results-json" else "files"
        return f"MapSource({self.name!r}, {str(self.location)!r}, {self.n_files} {what})"
