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
import re
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["InputError", "InputWarning", "warn_input", "require_columns", "visible"]

#: Characters that change a terminal or the direction of text instead of showing: C0/C1 controls
#: (ESC starts terminal sequences), DEL, and the bidirectional overrides and marks (U+202E...).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """``text`` with terminal control characters and bidi overrides shown as escapes
    (``\\x1b``, ``\\u202e``), so a name read from a file cannot rewrite a terminal
    line or reverse the text around it in a message or a report."""

    def esc(m: re.Match) -> str:
        o = ord(m.group())
        return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"

    return _INVISIBLE.sub(esc, str(text))


class InputError(ValueError):
    """Bad user input: a one-line message naming the file and the problem."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        message = " ".join(visible(message).split())  # always one line, nothing invisible
        if path is not None:
            message = f"{visible(os.fspath(path))}: {message}"
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class InputWarning(UserWarning):
    """Input read by a documented rule the user may not expect: one line naming the file."""


def warn_input(message: str, path: str | os.PathLike | None = None, stacklevel: int = 2) -> None:
    """Issue an :class:`InputWarning` (one line, prefixed with ``path`` like :class:`InputError`)."""
    message = " ".join(visible(message).split())
    if path is not None:
        message = f"{visible(os.fspath(path))}: {message}"
    warnings.warn(InputWarning(message), stacklevel=stacklevel + 1)


def require_columns(table: Any, columns: Sequence[str], what: str = "object table",
                    path: str | os.PathLike | None = None) -> None:
    """Raise :class:`InputError` naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}", path)
