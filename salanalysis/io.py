"""Atomic file output and table I/O shared by every command.

Outputs are written to a temporary file in the destination folder and moved
into place with :func:`os.replace`, so an interrupted run never leaves a
partial file under the final name. Inside :func:`all_or_nothing` the files of
one output (a table and its Markdown, LaTeX and per-class siblings) move into
place together at the end of the block, or none does.

The operating system's refusals while writing (a read-only folder, a full
disk, a permission denied) become one :class:`~salanalysis.errors.InputError`
line naming the output and the cause (``cannot write: No space left on device
(ENOSPC)``), and the temporary files are removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from salanalysis.errors import InputError

__all__ = [
    "all_or_nothing",
    "write_error",
    "staged_dir",
    "file_stamp",
    "remove_leftovers",
    "fingerprint",
    "atomic_path",
    "write_text",
    "write_json",
    "jsonable",
    "write_table",
    "read_table",
    "read_json",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(exc: OSError, path: str | os.PathLike) -> InputError:
    """The one-line :class:`InputError` for an operating-system error while writing ``path``."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is not None and exc.strerror:
        cause = f"{cause} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return InputError(f"cannot write: {cause}", path)


# The files staged by the innermost all_or_nothing block (None outside one): (temporary, final).
_GROUP: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "salanalysis_output_group", default=None
)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Write several files as one: they move into place when the block ends, or none does.

    Every :func:`atomic_path` write inside the block (:func:`write_table`,
    :func:`write_text`, :func:`write_json`) completes its temporary file but
    leaves the final name alone; when the block ends without an exception all
    temporary files are moved onto their final names, otherwise all are
    removed and every final file keeps its earlier content. A nested block
    joins the outer one.
    """
    if _GROUP.get() is not None:
        yield
        return
    staged: list[tuple[Path, Path]] = []
    token = _GROUP.set(staged)
    done = False
    try:
        yield
        _GROUP.reset(token)
        token = None
        for tmp, final in staged:
            try:
                os.replace(tmp, final)
            except OSError as exc:
                raise write_error(exc, final) from exc
        done = True
    finally:
        if token is not None:
            _GROUP.reset(token)
        if not done:
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left as it was.
    Inside :func:`all_or_nothing` the move waits for the end of that block.
    An :class:`OSError` (read-only folder, full disk, permission denied) becomes
    an :class:`InputError` naming ``path`` and the cause.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(exc, path) from exc
    tmp_path = Path(tmp)
    group = _GROUP.get()
    keep = False
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_umask())
        if group is not None:
            group.append((tmp_path, path))
            keep = True
        else:
            os.replace(tmp_path, path)
    except OSError as exc:
        raise write_error(exc, path) from exc
    finally:
        if not keep and tmp_path.exists():
            with contextlib.suppress(OSError):
                tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def jsonable(v: Any) -> Any:
    """``v`` with numpy scalars and arrays and paths turned into plain JSON types (nested)."""
    import numpy as np

    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    return v


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


#: First characters that make a spreadsheet treat a CSV cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_text(col: pd.Series) -> bool:
    return col.dtype == object or pd.api.types.is_string_dtype(col)


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell and column name that starts like a formula
    (:data:`FORMULA_STARTS`: ``=``, ``+``, ``-``, ``@``, tab, carriage return) prefixed
    with an apostrophe, the usual rule that keeps a spreadsheet from running a CSV
    cell as a formula (``=HYPERLINK(...)`` in a category name). Numbers are left
    alone; :func:`spreadsheet_unescape` (applied by every CSV reader of this
    package) restores the text.
    """

    def esc(v):
        return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v

    text = [c for c in df.columns if _is_text(df[c])]
    named = any(isinstance(c, str) and c.startswith(FORMULA_STARTS) for c in df.columns)
    if not named and not any(df[c].map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).any()
                             for c in text):
        return df
    out = df.copy()
    for c in text:
        out[c] = out[c].map(esc)
    out.columns = [esc(c) for c in out.columns]
    return out


def spreadsheet_unescape(df: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`spreadsheet_safe`: drop the apostrophe before a formula-like start."""

    def unesc(v):
        return v[1:] if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1:].startswith(FORMULA_STARTS) else v

    names = [unesc(c) for c in df.columns]
    text = [c for c in df.columns if _is_text(df[c])]
    hits = [c for c in text if df[c].map(lambda v: unesc(v) is not v).any()]
    if names == list(df.columns) and not hits:
        return df
    out = df.copy()
    for c in hits:
        out[c] = out[c].map(unesc)
    out.columns = names
    return out


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame atomically as CSV or Parquet, chosen by the extension.

    CSV text cells that start like a formula get a leading apostrophe
    (:func:`spreadsheet_safe`); Parquet keeps the text as it is."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".csv", ".parquet", ".pq"):
        raise InputError("output must end in .csv or .parquet", path)
    with atomic_path(path) as tmp:
        if ext == ".csv":
            spreadsheet_safe(df).to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV, comma-separated or (as spreadsheets write it in many locales) semicolon-separated.

    A file whose header holds ``;`` and no ``,`` is read with ``sep=";"``; its
    numbers are read with a decimal comma when they are written so (``0,25``).
    Text escaped by :func:`spreadsheet_safe` is restored.
    """
    df = pd.read_csv(path)
    if df.shape[1] != 1 or ";" not in str(df.columns[0]):
        return spreadsheet_unescape(df)
    df = pd.read_csv(path, sep=";")
    text = df[[c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]]
    if text.shape[1] and text.apply(
        lambda c: c.dropna().astype(str).str.fullmatch(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?").any()
    ).any():
        df = pd.read_csv(path, sep=";", decimal=",")
    return spreadsheet_unescape(df)


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; InputError when it is missing, a folder or empty."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path)
    if path.is_dir():
        raise InputError(f"expected {what}, got a directory", path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", path)
    return path


def _check_parquet_size(path: Path) -> None:
    """Refuse a Parquet file whose metadata declares more cells than the ``cells`` limit (a few
    MB of compressed Parquet can expand to tens of GB), before reading any data."""
    import pyarrow.parquet as pq

    from salanalysis.limits import check_count

    meta = pq.ParquetFile(path).metadata
    check_count("cells", int(meta.num_rows) * max(1, int(meta.num_columns)),
                f"table of {meta.num_rows:,} rows x {meta.num_columns:,} columns: its cell count", path)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (comma- or semicolon-separated) or Parquet table with clear errors.

    A Parquet file is refused before reading when its metadata declares more
    cells than the ``cells`` limit (:mod:`salanalysis.limits`)."""
    path = _existing_file(path, "a .csv or .parquet file")
    ext = path.suffix.lower()
    try:
        if ext == ".csv":
            return _read_csv(path)
        if ext in (".parquet", ".pq"):
            _check_parquet_size(path)
            return pd.read_parquet(path)
    except InputError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types
        raise InputError(f"cannot read table: {type(exc).__name__}: {exc}", path) from exc
    raise InputError("expected a .csv or .parquet file", path)


def _json_int(text: str) -> int:
    # an int64 has at most 19 digits; a longer integer is no id, count or size this package reads
    # (and int() of a 100000-digit string is slow, or refused by Python's digit limit)
    if len(text.lstrip("-")) > 19:
        raise _JSONNumberError(f"integer of {len(text.lstrip('-'))} digits (out of range)")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e99999 parses as inf
        raise _JSONNumberError(f"number {text[:20]}{'...' if len(text) > 20 else ''} out of range")
    return value


class _JSONNumberError(ValueError):
    pass


def read_json(path: str | os.PathLike) -> Any:
    """Load JSON with a one-line error naming the file, line and column on failure.

    Numbers a JSON reader would turn into trouble are refused with one line: an
    integer of more than 19 digits (no int64 holds it) and a number that overflows
    a float (``1e99999``); so is nesting too deep for the parser (``[[[[...`` ten
    million deep). ``NaN`` and ``Infinity`` are read (the readers of each file say
    where they are not allowed).
    """
    path = _existing_file(path, "a JSON file")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_int=_json_int, parse_float=_json_float)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}", path
        ) from exc
    except _JSONNumberError as exc:
        raise InputError(f"malformed JSON: {exc}", path) from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply to read", path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc}", path) from exc


def file_stamp(path: str | os.PathLike) -> list:
    """``[resolved path, size, mtime_ns]`` of a file (``[path, None, None]`` if it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:  # whoever reads the file reports it
        return [os.fspath(path), None, None]
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def fingerprint(obj: Any) -> str:
    """A 16-hex-digit SHA-256 of a JSON-able description (keys of resumable runs)."""
    import hashlib

    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The file a resumable staging folder holds from its creation: a folder without it was not
#: made by this package (planted, or left by something else), and is neither reused nor deleted.
STAGING_MARKER = ".salanalysis-staging"


def _make_staging_folder(stage: Path) -> None:
    """Create ``stage`` and its marker without following a link: refuse one that is not ours."""
    if os.path.islink(stage):
        raise InputError("staging folder is a symbolic link: refusing to follow it (remove it to run)",
                         stage)
    if os.path.lexists(stage):
        if not stage.is_dir():
            raise InputError("staging folder exists and is not a folder (remove it to run)", stage)
        if not os.path.isfile(stage / STAGING_MARKER) or os.path.islink(stage / STAGING_MARKER):
            raise InputError("staging folder was not created by salanalysis: refusing to reuse or "
                             "delete it (remove it to run)", stage)
        return
    os.mkdir(stage)  # fails on anything (a link included) that appeared meanwhile
    fd = os.open(stage / STAGING_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    os.close(fd)


def remove_leftovers(folder: str | os.PathLike, pattern: str, keep: str | os.PathLike | None = None) -> None:
    """Delete what interrupted runs kept in ``folder`` (files or folders matching ``pattern``), but ``keep``.

    A link is removed itself, never followed; a folder only when it holds the
    :data:`STAGING_MARKER` of a staging folder this package made.
    """
    keep = None if keep is None else Path(keep)
    for p in Path(folder).glob(pattern):
        if keep is not None and p == keep:
            continue
        if p.is_dir() and not p.is_symlink():
            if os.path.isfile(p / STAGING_MARKER) and not os.path.islink(p / STAGING_MARKER):
                shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def staged_dir(
    out: str | os.PathLike,
    last: Sequence[str] = (),
    resume_key: str | None = None,
    *,
    prefix: str = ".staging-",
    suffix: str = "",
) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``out``; move its content into ``out`` on success.

    Files and sub-folders written into the staging folder appear under ``out``
    (replacing files of the same name) only when the block ends without an
    exception; otherwise the staging folder is deleted and ``out`` is unchanged
    (apart from being created). Files in sub-folders move first, then the
    top-level files, and the top-level names in ``last`` at the very end (in
    that order), so an index file listed there never points at a missing file.

    The staging folder is named ``<prefix><random><suffix>``, or, with a
    ``resume_key``, ``out/<prefix><resume_key><suffix>`` (``.staging-<key>``):
    it is kept when the block stops early (an interrupt, a crash; not an
    :class:`InputError`, after which the input must change anyway), and a later
    block with the same key gets it back with what it held (the caller decides
    what to reuse). When such a block succeeds, the staging folders that runs
    with other keys left in ``out`` are removed too (one command writes a folder
    at a time).

    A resumable staging folder is created without following links and marked
    with :data:`STAGING_MARKER`; an existing one that is a link, not a folder,
    or unmarked (planted by someone else: the key can be computed from the
    inputs) is refused with one line and left alone, so a run never reads from,
    moves out of or deletes in a folder outside ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if resume_key is None:
        stage = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=out))
    else:
        stage = out / f"{prefix}{resume_key}{suffix}"
        _make_staging_folder(stage)
    moved = bad_input = False
    try:
        yield stage
        files = [Path(r) / f for r, _d, fs in os.walk(stage) for f in fs]
        files = [p for p in files if p != stage / STAGING_MARKER]
        rank = {name: i for i, name in enumerate(last)}

        def key(p: Path) -> tuple:
            rel = p.relative_to(stage)
            top = len(rel.parts) == 1
            return (top, rank.get(str(rel), -1) if top else -1, str(rel))

        for p in sorted(files, key=key):
            dest = out / p.relative_to(stage)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
        moved = True
        if resume_key is not None:  # folders kept by interrupted runs with other inputs
            remove_leftovers(out, f"{prefix}*{suffix}", keep=stage)
    except InputError:
        bad_input = True  # the input must change anyway: keep nothing
        raise
    finally:
        if (moved or resume_key is None or bad_input) and not os.path.islink(stage):
            shutil.rmtree(stage, ignore_errors=True)
