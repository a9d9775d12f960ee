"""The one exception type for bad input.

Every problem with a user's input (a malformed file, unknown ids, NaN scores, a
missing map directory, ...) is raised as :class:`InputError` with a one-line
message that names the file and the problem. The command line prints that line
and exits with status 2; nothing is written as if it were complete.

Input that is read, but where the reading involves a rule the user may not
expect (a map stretched to another aspect ratio, a constant map, an ignored
alpha channel, the same folder given twice), is reported with
:func:`warn_input`: one :class:`InputWarning` line per kind and source, which
the command line prints as ``salanalysis: warning: ...``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["InputError", "InputWarning", "warn_input", "require_columns"]


class InputError(ValueError):
    """Bad user input: a one-line message naming the file and the problem."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        message = " ".join(str(message).split())  # always one line
        if path is not None:
            message = f"{os.fspath(path)}: {message}"
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class InputWarning(UserWarning):
    """Input read by a documented rule the user may not expect: one line naming the file."""


def warn_input(message: str, path: str | os.PathLike | None = None, stacklevel: int = 2) -> None:
    """Issue an :class:`InputWarning` (one line, prefixed with ``path`` like :class:`InputError`)."""
    message = " ".join(str(message).split())
    if path is not None:
        message = f"{os.fspath(path)}: {message}"
    warnings.warn(InputWarning(message), stacklevel=stacklevel + 1)


def require_columns(table: Any, columns: Sequence[str], what: str = "object table",
                    path: str | os.PathLike | None = None) -> None:
    """Raise :class:`InputError` naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}", path)
