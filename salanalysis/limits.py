"""Size limits on what an input file may ask for, checked before anything is allocated.

A small file can ask for gigabytes: a PNG header declaring 30000 x 30000 pixels
(under 1 MB on disk), an annotation file declaring 60000 x 60000 images, a
Parquet score file of a billion cells, a checkpoint with 300,000 classes. Each
is refused with one line naming the file, the size asked for and the limit,
before decoding or allocating. The limits sit far above any real dataset the
package reads (COCO, LVIS, SALICON images are under 1 megapixel):

============== =========== ==================================================
name           default     what it bounds
============== =========== ==================================================
``pixels``     100000000   pixels of one image or map (header, annotations,
                           fixation files, results JSON)
``bootstrap``  100000      bootstrap resamples (``--bootstrap``, ``n_boot``)
``jobs``       256         worker processes or threads (``--jobs``, ``jobs``)
``input_size`` 4096        one side of a network input (``--input-size``)
``classes``    100000      classes of a checkpoint or a score file
``cells``      500000000   rows x columns of a score file
============== =========== ==================================================

Raise one for a run with the environment variable ``SALANALYSIS_MAX_<NAME>``
(``SALANALYSIS_MAX_PIXELS=400000000``), the command-line option
``salanalysis --limit pixels=400000000 COMMAND ...`` (before the command), a
``[limits]`` table in a ``reproduce`` TOML file (``pixels = 400000000``), or from
Python with :func:`set_limits` (``set_limits(pixels=4e8)``) or the
:func:`limits` context manager. The environment variable is read when a limit
is checked; :func:`set_limits` overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from salanalysis.errors import InputError

__all__ = ["DEFAULT_LIMITS", "get_limit", "set_limits", "limits", "parse_limit", "as_limit", "check_pixels",
           "check_count", "LimitError"]

#: The built-in limits (see the module docstring).
DEFAULT_LIMITS: dict[str, int] = {
    "pixels": 100_000_000,
    "bootstrap": 100_000,
    "jobs": 256,
    "input_size": 4096,
    "classes": 100_000,
    "cells": 500_000_000,
}

_set: dict[str, int] = {}


class LimitError(InputError):
    """An input asks for more than a limit of :mod:`salanalysis.limits` allows."""


def _env_name(name: str) -> str:
    return f"SALANALYSIS_MAX_{name.upper()}"


def as_limit(name: str, value: object, where: str) -> int:
    if name not in DEFAULT_LIMITS:
        raise ValueError(f"{where}: unknown limit {name!r} (known: {', '.join(DEFAULT_LIMITS)})")
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise TypeError
        if number != number or number in (float("inf"), float("-inf")) or number != int(number):
            raise ValueError
        out = int(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: limit {name} must be a whole number, got {value!r}") from None
    if out < 1:
        raise ValueError(f"{where}: limit {name} must be at least 1, got {out}")
    return out


def get_limit(name: str) -> int:
    """The limit in force: :func:`set_limits`, else ``SALANALYSIS_MAX_<NAME>``, else the default."""
    if name in _set:
        return _set[name]
    if name not in DEFAULT_LIMITS:
        raise ValueError(f"unknown limit {name!r} (known: {', '.join(DEFAULT_LIMITS)})")
    env = os.environ.get(_env_name(name))
    if env is not None and env.strip():
        return as_limit(name, env.strip(), f"environment variable {_env_name(name)}")
    return DEFAULT_LIMITS[name]


def set_limits(values: Mapping[str, object] | None = None, **kw: object) -> dict[str, int]:
    """Set limits for this process (``set_limits(pixels=4e8)``); returns the previous overrides.

    ``None`` as a value removes an override (back to the environment or the default).
    Forked worker processes inherit it; spawned ones see only the environment
    (:func:`limits` writes it there too).
    """
    previous = dict(_set)
    merged = {**(values or {}), **kw}
    checked = {k: None if v is None else as_limit(k, v, "set_limits") for k, v in merged.items()}
    for name, value in checked.items():
        if value is None:
            _set.pop(name, None)
        else:
            _set[name] = value
    return previous


@contextmanager
def limits(values: Mapping[str, object] | None = None, **kw: object) -> Iterator[None]:
    """Raise (or lower) limits inside a ``with`` block: ``with limits(pixels=4e8): ...``."""
    saved_env = {n: os.environ.get(_env_name(n)) for n in DEFAULT_LIMITS}
    previous = set_limits(values, **kw)
    for name, value in _set.items():
        os.environ[_env_name(name)] = str(value)  # for worker processes
    try:
        yield
    finally:
        _set.clear()
        _set.update(previous)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(_env_name(name), None)
            else:
                os.environ[_env_name(name)] = value


def parse_limit(text: str) -> tuple[str, int]:
    """``NAME=VALUE`` of ``--limit`` -> ``(name, value)``; ValueError with one line otherwise."""
    name, sep, value = str(text).partition("=")
    if not sep:
        raise ValueError(f"--limit takes NAME=VALUE (names: {', '.join(DEFAULT_LIMITS)}), got {text!r}")
    name = name.strip().replace("-", "_")
    return name, as_limit(name, value.strip(), "--limit")


def _how_to_raise(name: str) -> str:
    return f"raise it with --limit {name}=N or {_env_name(name)}"


def check_count(name: str, value: int, what: str, path: str | os.PathLike | None = None) -> None:
    """Refuse ``value`` over limit ``name`` with one line: ``what`` says what was counted."""
    limit = get_limit(name)
    if value > limit:
        raise LimitError(f"{what} is {_count(value)}, over the limit of {limit:,} ({_how_to_raise(name)})",
                         path)


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"{float(n):.3g}"


def check_pixels(width: int, height: int, what: str, path: str | os.PathLike | None = None) -> None:
    """Refuse an image or map of ``width x height`` over the ``pixels`` limit (one line)."""
    width, height = int(width), int(height)
    limit = get_limit("pixels")
    if width * height > limit:
        raise LimitError(
            f"{what} {_count(width)} x {_count(height)} = {_count(width * height)} pixels, over the limit of "
            f"{limit:,} ({_how_to_raise('pixels')})",
            path,
        )
