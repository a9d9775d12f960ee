"""The one shape of an analysis result: named tidy tables, a summary text, and a way to write them.

:class:`AnalysisResult` is what :func:`salanalysis.metrics.run_metrics`,
:func:`salanalysis.stats.run_stats`, :func:`salanalysis.clutter.run_clutter` and
:func:`salanalysis.compare.run_compare` return (each a subclass):

- ``result.tables``: ``{name: DataFrame}``, every table the analysis computed
  (``result["name"]`` is the same);
- ``result.summary()``: the plain text the command line prints;
- ``result.write(out)``: writes every table atomically (nothing is written
  before everything is computed; all files appear together or, when the disk
  refuses one, none does), removes the files that an earlier run of the same
  analysis left in ``out`` and this run did not write again, and returns the
  paths (also kept in ``result.paths``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from salanalysis.errors import InputError

__all__ = ["AnalysisResult", "table_property", "remove_files"]


def table_property(name: str, doc: str = "") -> property:
    """A read-only attribute naming one of a result's tables (``result.map`` for ``tables["clutter_map"]``)."""
    return property(lambda self: self.tables.get(name), doc=doc or f"``tables[{name!r}]``")


@dataclass
class AnalysisResult:
    """Tables of one analysis, their summary and their files (see the module docstring).

    Subclasses set :attr:`FILES` (table name -> file name under the output
    folder) and implement :meth:`summary`.
    """

    tables: dict[str, pd.DataFrame]
    paths: list[Path] = field(default_factory=list)

    #: table name -> file name written by :meth:`write` (in this order).
    FILES: ClassVar[Mapping[str, str]] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def summary(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _output_folder(self, out: str | os.PathLike) -> Path:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise InputError("output path exists and is not a folder", out)
        return out

    def write(self, out: str | os.PathLike) -> list[Path]:
        """Write each table as ``out/FILES[name]``; remove stale files of earlier runs.

        A table with attributes (``DataFrame.attrs``: the bootstrap size, the
        clutter cut-off, the compared models, ...) also gets ``NAME.attrs.json``
        beside it, which :func:`salanalysis.figures.read_tables` restores.

        Returns
        -------
        list of Path
            The files written, in the order of :attr:`FILES`.
        """
        from salanalysis.io import all_or_nothing, jsonable, write_json, write_table

        out = self._output_folder(out)
        paths: list[Path] = []
        stale: list[Path] = []
        with all_or_nothing():  # every file of this result, or none (a full disk, a read-only folder)
            for name, file in self.FILES.items():
                target = out / file
                meta = target.with_name(f"{Path(file).stem}.attrs.json")
                if name not in self.tables:
                    stale += [target, meta]
                    continue
                df = self.tables[name]
                paths.append(write_table(df, target))
                if df.attrs:
                    paths.append(write_json(meta, jsonable(dict(df.attrs))))
                else:
                    stale.append(meta)
        remove_files(stale)
        self.paths = paths
        return paths


def remove_files(paths: list[Path]) -> None:
    """Remove files an earlier run left (missing ones are fine; a refusal is an InputError)."""
    from salanalysis.io import write_error

    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            raise write_error(exc, p) from exc
