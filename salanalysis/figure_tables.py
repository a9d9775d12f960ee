"""The result tables of a run, read back from the folders that wrote them (for ``salanalysis plot``),
and the flat CAM manifest table of Fig. 5.

:func:`read_tables`, :func:`cam_table`, :func:`cam_records` and :data:`CAM_COLUMNS` are re-exported
by :mod:`salanalysis.figures`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salanalysis.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_tables", "cam_table", "cam_records", "CAM_COLUMNS"]

#: Columns of the flat CAM manifest (one row per example and model), as ``salanalysis cam`` writes it.
CAM_COLUMNS = ("image", "category", "model", "role", "confidence", "cam")

#: Where each table is looked for under a folder given to :func:`read_tables`.
_TABLE_NAMES = ("tpfn_descriptives", "tpfn_tests", "classwise", "classwise_correlations", "clutter_map",
                "objects_histogram", "clutter_difference", "compare_categories", "compare_summary", "per_class")


def _find(folder: Path, stem: str) -> Path | None:
    for sub in ("", "tables", "gallery"):
        for ext in (".parquet", ".csv"):
            p = folder / sub / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def read_tables(folders: Sequence[str | os.PathLike], *, objects: str | os.PathLike | None = None) -> dict:
    """The result tables found in the folders that the analysis commands (or ``reproduce``) wrote.

    Looks in each folder (and its ``tables/`` subfolder) for ``NAME.parquet`` or
    ``NAME.csv`` of every table a figure can need, for the object table
    (``objects.parquet``/``.csv``, or ``objects`` given) and for a CAM output
    (``cam_manifest.csv``). The attributes a table had when written
    (``NAME.attrs.json`` beside it: bootstrap resamples, the clutter cut-off,
    the compared models) are restored. A later folder's table replaces an
    earlier one's.

    Raises
    ------
    InputError
        A folder does not exist, or a file cannot be read.
    """
    from salanalysis.io import read_table

    out: dict[str, Any] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise InputError("folder of result tables not found", folder)
        for stem in (*_TABLE_NAMES, "objects", "cam_manifest", "gallery"):
            p = _find(folder, stem)
            if p is None:
                continue
            df = read_table(p)
            meta = p.with_name(f"{stem}.attrs.json")
            if meta.is_file():
                df.attrs.update(json.loads(meta.read_text(encoding="utf-8")))
            out[stem] = df
            if stem == "cam_manifest":
                out["_cam_root"] = p.parent
            if stem == "gallery":
                out["_gallery_root"] = p.parent
    if objects is not None:
        out["objects"] = read_table(objects)
    return out


def cam_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The flat CAM table (one row per example and model) of ``cam_manifest.json`` records."""
    import pandas as pd

    rows = []
    for i, r in enumerate(records):
        for m in r["models"]:
            rows.append({"example": i, "image": str(r["image"]), "category": str(r.get("category", "")),
                         "threshold": r.get("threshold"), "model": str(m["model"]), "role": m.get("role", ""),
                         "confidence": float(m["confidence"]), "cam": str(m["cam"])})
    return pd.DataFrame(rows, columns=["example", "image", "category", "threshold", *CAM_COLUMNS[2:]])


def cam_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The examples of a flat CAM table (``cam_manifest.csv`` or :func:`cam_table`), in order."""
    import pandas as pd

    from salanalysis.errors import require_columns

    require_columns(table, CAM_COLUMNS, "CAM manifest")
    key = ["example"] if "example" in table.columns else ["image", "category"]
    records = []
    for _, g in table.groupby(key, sort=False):
        first = g.iloc[0]
        rec = {"image": first["image"], "category": first["category"],
               "models": [{"model": r["model"], "role": r["role"], "confidence": r["confidence"], "cam": r["cam"]}
                          for _, r in g.iterrows()]}
        if "threshold" in g.columns and pd.notna(first["threshold"]):
            rec["threshold"] = float(first["threshold"])
        records.append(rec)
    return records
