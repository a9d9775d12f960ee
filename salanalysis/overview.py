"""What a new user runs first: an overview of their inputs and how they overlap.

For each saliency source it says what would be used and what is skipped: the
maps (by the map pattern), the files of a map type that are not maps by the
pattern (e.g. the photos a released folder holds beside its maps), files of
other types, maps that match no image, and whether the maps used are colour
images (which the analyses refuse as maps unless the colour rule is
``luminance``). For each score set it counts the images scored and, by the
rule the analyses apply, the images without scores (an error unless
``--missing zero``) or, for a detection-results JSON, the images without any
detection (scored 0 for every class, as the analyses do).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.maps import EncodedMap, MapSource, decode_map
from salanalysis.maps.results_json import encoded_bytes
from salanalysis.scores import read_scores

__all__ = ["inspect_inputs", "format_overview", "COLOUR_CHECKS"]

#: Maps with colour channels decoded by :func:`inspect_inputs` to tell gray from colour (at most).
COLOUR_CHECKS = 20
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _header_mode(ref) -> str | None:
    """The Pillow mode of a map image from its header (None for ``.npy`` or an unreadable header)."""
    import io

    from PIL import Image

    try:
        if isinstance(ref, EncodedMap):
            with Image.open(io.BytesIO(encoded_bytes(ref))) as im:
                return im.mode
        if str(ref).lower().endswith(".npy"):
            return None
        with Image.open(ref) as im:
            return im.mode
    except (OSError, InputError, ValueError):
        return None  # the analyses report an unreadable map when they read it


def _name(ref) -> str:
    return ref.label if isinstance(ref, EncodedMap) else os.path.basename(str(ref))


def _saliency_rows(name: str, src: MapSource, a: Annotations) -> list[tuple]:
    inst = a.instances
    refs = src.paths(a.images)
    used = [r for r in refs if r is not None]
    have = len(used)
    ids_with = a.images["image_id"][[r is not None for r in refs]]
    rows = [
        ("map_files", src.n_files, ""),
        ("files_skipped", len(src.skipped), ", ".join(src.skipped[:2])),
        ("files_other_type", len(src.other_files), ", ".join(src.other_files[:2])),
        ("broken_links", len(src.broken_links), ", ".join(src.broken_links[:2])),
        ("images_with_map", have, ""),
        ("images_without_map", len(a.images) - have, ""),
        ("objects_with_map", int(inst.loc[~inst["iscrowd"], "image_id"].isin(ids_with).sum()), ""),
    ]
    used_set = {r.label if isinstance(r, EncodedMap) else r for r in used}
    unused = [r for r in src.refs() if (r.label if isinstance(r, EncodedMap) else r) not in used_set]
    rows.append(("maps_matching_no_image", len(unused), ", ".join(_name(r) for r in unused[:2])))
    coloured = [r for r in used if _header_mode(r) not in _GRAY_MODES | {None}]
    rows.append(("maps_with_colour_channels", len(coloured), ", ".join(_name(r) for r in coloured[:2])))
    checked = coloured[:COLOUR_CHECKS]
    colour = []
    for r in checked:
        try:
            decode_map(r, "refuse")
        except InputError as exc:
            if "colour image" not in str(exc):
                raise
            colour.append(r)
    item = "colour_maps_refused" if src.colour == "refuse" else "colour_maps_converted"
    note = f"{len(checked)} of {len(coloured)} checked" if len(checked) < len(coloured) else ""
    example = ", ".join(_name(r) for r in colour[:2])
    rows.append((item, len(colour), "; ".join(t for t in (example, note) if t)))
    return rows


def inspect_inputs(
    annotations: Annotations,
    saliency: Mapping[str, MapSource | str | os.PathLike] | None = None,
    scores: Mapping[str, str | os.PathLike] | None = None,
    *,
    logits: bool = False,
) -> pd.DataFrame:
    """Count what the inputs hold, what would be used and what is missing or skipped.

    Parameters
    ----------
    annotations
        The COCO instances file.
    saliency
        Saliency sources by name: a :class:`~salanalysis.maps.MapSource` (with
        its map pattern and colour rule), a map folder or a SALICON results JSON.
    scores
        Score files by name.
    logits
        The score files hold logits.

    Returns
    -------
    pandas.DataFrame
        One row per fact, columns ``section`` (annotations / saliency / scores),
        ``source`` (file or source name), ``item``, ``value`` (int) and
        ``example`` (names of files or images, "" when none), e.g.
        ``("saliency", "salicon", "images_with_map", 2, "")``. Saliency items:
        ``map_files``, ``files_skipped`` (not maps by the map pattern, or
        hidden), ``files_other_type``, ``broken_links`` (symbolic links whose
        target is missing), ``images_with_map``,
        ``images_without_map``, ``objects_with_map``,
        ``maps_matching_no_image``, ``maps_with_colour_channels`` (by the file
        header) and ``colour_maps_refused`` (or ``_converted`` with the
        ``luminance`` rule; at most :data:`COLOUR_CHECKS` of them decoded).
        Score items: ``images_with_scores`` and ``images_without_scores`` (an
        error in the analyses unless ``--missing zero``), or for a
        detection-results JSON ``images_with_detections`` and
        ``images_without_detections`` (scored 0, as the analyses do); then
        ``categories``.
    """
    rows: list[tuple[str, str, str, int, str]] = []
    a = annotations
    inst = a.instances
    n_crowd = int(inst["iscrowd"].sum())
    present = inst["category_id"].nunique()
    n_obj = a.n_objects()
    for item, value in [
        ("images", len(a.images)),
        ("images_with_annotations", int(inst["image_id"].nunique())),
        ("images_without_annotations", int(len(a.images) - inst["image_id"].nunique())),
        ("instances", len(inst)),
        ("instances_non_crowd", len(inst) - n_crowd),
        ("instances_crowd", n_crowd),
        ("categories_listed", len(a.categories)),
        ("categories_present", int(present)),
        ("max_objects_per_image", int(n_obj.max()) if len(n_obj) else 0),
    ]:
        rows.append(("annotations", str(a.path), item, value, ""))
    for name, src in (saliency or {}).items():
        if not isinstance(src, MapSource):
            src = MapSource(src, name=name)
        for item, value, example in _saliency_rows(name, src, a):
            rows.append(("saliency", name, item, int(value), example))
    for name, path in (scores or {}).items():
        s = read_scores(path, a, name=name, logits=logits, missing="zero")
        noun = "detections" if s.meta.get("layout") == "detections" else "scores"
        rows.append(("scores", name, f"images_with_{noun}", len(a.images) - s.n_filled, ""))
        rows.append(("scores", name, f"images_without_{noun}", s.n_filled, ""))
        rows.append(("scores", name, "categories", len(s.categories), ""))
    return pd.DataFrame(rows, columns=["section", "source", "item", "value", "example"])


_NOTES = {
    "images_without_detections": "(scored 0 for every class, as the analyses do)",
    "images_without_scores": "(an error in the analyses unless --missing zero)",
    "files_skipped": "(not maps by the map pattern, or hidden)",
    "files_other_type": "(ignored)",
    "broken_links": "(symbolic links whose target is missing: their images count as without a map)",
    "colour_maps_refused": "(colour images, photos? refused: --map-pattern or --colour-maps luminance)",
    "colour_maps_converted": "(converted to gray by luminance)",
}


def format_overview(table: pd.DataFrame) -> str:
    """Plain-text rendering of :func:`inspect_inputs` (value, then what it means and an example)."""
    lines = []
    examples = table["example"] if "example" in table.columns else pd.Series([""] * len(table))
    for (section, source), grp in table.groupby(["section", "source"], sort=False):
        lines.append(f"[{section}] {source}")
        for item, value, ex in zip(grp["item"], grp["value"], examples[grp.index]):
            line = f"  {item.replace('_', ' '):<28} {value}"
            if value and item in _NOTES:
                line += f"  {_NOTES[item]}"
            if value and ex:
                line += f"  e.g. {ex}"
            lines.append(line)
    return "\n".join(lines)
