"""Types of the fields of a COCO-format file: ids and image sizes, read as what they spell or refused.

Converters do not all write what pycocotools writes. Ids written as strings of
digits (``"id": "18"``, ``"category_id": "18"``) are read as the integers they
spell, so such a file gives exactly the numbers the integer file gives (sorting
them as strings would put ``"18"`` before ``"2"`` and shift every column after
it). Anything else is an :class:`~salanalysis.errors.InputError` of one line
that names the type: an id that is not an integer (``18.5``, ``"abc"``,
``null``, ``true``), a reference whose type differs from the table it refers to
(``category_id '18' is a string; the categories use integers``), or an image
width or height that is not a whole number of pixels (``"427.0"``, ``427.9``,
``null``).
"""

from __future__ import annotations

import re
from pathlib import Path

from salanalysis.errors import InputError

__all__ = ["normalize_ids", "pixels"]

_INT_TEXT = re.compile(r"-?[0-9]+")
_PLURAL = {"integer": "integers", "string": "strings of digits"}
_ARTICLE = {"integer": "an integer", "string": "a string"}


def _kind(value: object) -> str:
    """'integer', 'string' (of digits), or what the value is instead."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string" if _INT_TEXT.fullmatch(value) else "a string that is not an integer"
    if value is None:
        return "null"
    if isinstance(value, float):
        return "a float"
    return f"a JSON {type(value).__name__}"


def _shown(value: object) -> str:
    return "null" if value is None else f"'{value}'" if isinstance(value, str) else repr(value)


def _one_kind(values: list, what: str, path: Path) -> str | None:
    """The kind ('integer' or 'string') shared by all ``values``; InputError on any other or a mix."""
    kinds = set()
    for v in values:
        k = _kind(v)
        if k not in _PLURAL:
            raise InputError(f"{what} {_shown(v)} is not an integer id ({k})", path)
        kinds.add(k)
    if len(kinds) > 1:
        s = next(v for v in values if isinstance(v, str))
        raise InputError(f"{what} '{s}' is a string while other {what}s are integers "
                         "(ids must be all integers or all strings of digits)", path)
    return kinds.pop() if kinds else None


def _check_ref(value: object, table_kind: str | None, where: str, key: str, table: str, path: Path) -> None:
    k = _kind(value)
    if k not in _PLURAL:
        raise InputError(f"{where}: {key} {_shown(value)} is not an integer id ({k})", path)
    if table_kind is not None and k != table_kind:
        raise InputError(f"{where}: {key} {_shown(value)} is {_ARTICLE[k]}; the {table} use {_PLURAL[table_kind]}",
                         path)


def normalize_ids(data: dict, path: Path, federated_keys: tuple[str, ...] = ()) -> dict:
    """``data`` with every id (image, category, annotation) as the integer it spells.

    ``data`` has passed the structural checks (lists of dicts with their id keys).
    Image ids, category ids and annotation ids are each all integers or all
    strings of digits; every reference (``image_id``, ``category_id``, the
    ``federated_keys`` lists of an image) has its table's type. Returns ``data``
    itself when every id is an integer already (nothing copied), else a copy
    with the strings converted (the caller's dict is not modified).
    """
    images, cats, anns = data["images"], data["categories"], data["annotations"]
    img_kind = _one_kind([im["id"] for im in images], "image id", path)
    cat_kind = _one_kind([c["id"] for c in cats], "category id", path)
    ann_kind = _one_kind([a["id"] for a in anns], "annotation id", path)
    for a in anns:
        where = f"annotation {a['id']}"
        _check_ref(a["image_id"], img_kind, where, "image_id", "images", path)
        _check_ref(a["category_id"], cat_kind, where, "category_id", "categories", path)
    for im in images:
        for key in federated_keys:
            ids = im.get(key)
            if isinstance(ids, list):  # anything else: the federated check names it
                for c in ids:
                    if _kind(c) in _PLURAL:
                        _check_ref(c, cat_kind, f"image {im['id']}", f"'{key}' entry", "categories", path)
    if "string" not in (img_kind, cat_kind, ann_kind):
        return data

    def num(v):
        return int(v) if isinstance(v, str) and _INT_TEXT.fullmatch(v) else v

    out = dict(data)
    out["images"] = [
        {**im, "id": num(im["id"]),
         **{k: [num(c) for c in im[k]] for k in federated_keys if isinstance(im.get(k), list)}}
        for im in images
    ]
    out["categories"] = [{**c, "id": num(c["id"])} for c in cats]
    out["annotations"] = [
        {**a, "id": num(a["id"]), "image_id": num(a["image_id"]), "category_id": num(a["category_id"])}
        for a in anns
    ]
    return out


def pixels(value: object, key: str, image_id: object, path: Path) -> int:
    """An image's ``width`` or ``height`` as an int: a JSON number that is a whole number of pixels.

    ``427`` and ``427.0`` give 427; a string (``"427.0"``), ``null``, a boolean or a
    fraction (``427.9``, which would otherwise be truncated to 427) is an InputError.
    """
    where = f"image {image_id}: {key}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "null" if value is None else "a string" if isinstance(value, str) else _kind(value)
        raise InputError(f"{where} {_shown(value)} is {kind}, not a number of pixels", path)
    if isinstance(value, float) and not value.is_integer():
        raise InputError(f"{where} {value!r} is not a whole number of pixels", path)
    return int(value)
