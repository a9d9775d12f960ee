"""The content-keyed stage cache of :func:`salanalysis.reproduce.reproduce` (private).

A stage's entry is a folder ``.cache/<stage>/<key[:24]>/`` holding its tables
(Parquet, with their ``attrs`` in ``manifest.json``), the files it made, and its
metadata; it is written to a temporary folder and renamed into place, so an
entry is complete or absent. A damaged entry is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from salanalysis import __version__
from salanalysis.io import jsonable

__all__ = ["StageData", "StageCache", "file_digest", "dir_digest", "stage_key", "code_digest"]


# ------------------------------------------------------------------ digests
def file_digest(path: Path, memo: dict[str, str]) -> str:
    k = str(path)
    if k not in memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        memo[k] = h.hexdigest()
    return memo[k]


def dir_digest(path: Path, memo: dict[str, str]) -> str:
    from salanalysis.maps import MAP_EXTENSIONS

    k = "dir:" + str(path)
    if k not in memo:
        h = hashlib.sha256()
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.is_file() and Path(entry.name).suffix.lower() in MAP_EXTENSIONS:
                h.update(entry.name.encode())
                h.update(file_digest(Path(entry.path), memo).encode())
        memo[k] = h.hexdigest()
    return memo[k]


def stage_key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class StageData:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # name -> file inside the entry


class StageCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:24]

    def load(self, stage: str, key: str) -> StageData | None:
        d = self.entry(stage, key)
        manifest = d / "manifest.json"
        if not manifest.is_file():
            return None
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            if m.get("key") != key:
                return None
            tables = {}
            for name, attrs in m["tables"].items():
                df = pd.read_parquet(d / f"{name}.parquet")
                df.attrs = attrs
                tables[name] = df
            files = {name: d / rel for name, rel in m["files"].items()}
            if not all(p.exists() for p in files.values()):
                return None
            return StageData(tables, m["meta"], files)
        except Exception:  # a damaged entry is recomputed, never trusted
            return None

    def store(self, stage: str, key: str, data: StageData, workdir: Path | None = None) -> StageData:
        final = self.entry(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            return self._store(stage, key, data, final, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _store(self, stage: str, key: str, data: StageData, final: Path, tmp: Path) -> StageData:
        tables_meta = {}
        for name, df in data.tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
            tables_meta[name] = jsonable(dict(df.attrs))
        files = {}
        for name, p in data.files.items():
            p = Path(p)
            rel = p.relative_to(tmp) if p.is_relative_to(tmp) else None
            if rel is None:
                rel = Path("files") / p.name
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, tmp / rel)
            files[name] = str(rel)
        manifest = {"stage": stage, "key": key, "version": __version__, "tables": tables_meta,
                    "files": files, "meta": jsonable(data.meta)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return StageData(data.tables, data.meta, {n: final / r for n, r in files.items()})

    def workdir(self, stage: str) -> Path:
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))

    def prune(self, keep: dict[str, str]) -> None:
        for stage, key in keep.items():
            parent = self.root / stage
            if not parent.is_dir():
                continue
            for d in parent.iterdir():
                if d.is_dir() and d.name != key[:24]:
                    shutil.rmtree(d, ignore_errors=True)




def code_digest(modules: tuple[str, ...], memo: dict[str, str]) -> list[str]:
    """Digests of the source of the modules a stage calls (every file of a package)."""
    import importlib.util

    out = []
    for mod in modules:
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) if spec is not None else None
        if not origin or not Path(origin).is_file():
            out.append(f"{mod}:unavailable")
            continue
        files = [Path(origin)]
        if Path(origin).name == "__init__.py":  # a package: all of its modules
            files = sorted(Path(origin).parent.rglob("*.py"))
        out.extend(file_digest(f, memo) for f in files)
    return out
