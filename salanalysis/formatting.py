"""Text formatting shared by every output: p-values, percentages, LaTeX and Markdown escaping.

One implementation of each rule, used by the tables (``.md``/``.tex``), the
command-line summaries, the figures and the report, so a number is written the
same way wherever it appears.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["format_p", "format_percent", "latex_escape", "markdown_escape"]

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def format_p(p: float | None, *, spaced: bool = False) -> str:
    """A p-value with four decimals, or below 1e-4 as a bound.

    ``spaced=False`` (command-line summaries): ``p=0.0123``, ``p<1e-4``, ``p=n/a``;
    ``spaced=True`` (figures): ``p = 0.0123``, ``p < 0.0001``, ``p = n/a``.
    """
    sp = " " if spaced else ""
    if p is None or not math.isfinite(float(p)):
        return f"p{sp}={sp}n/a"
    if p < 1e-4:
        return f"p{sp}<{sp}" + ("0.0001" if spaced else "1e-4")
    return f"p{sp}={sp}{p:.4f}"


def format_percent(v: Any, lo: Any = None, hi: Any = None) -> str:
    """A fraction as percent with one decimal (``71.5``), with ``[low, high]`` when both are given;
    ``-`` when the value is missing (the paper's '-')."""
    if _missing(v):
        return "-"
    s = f"{100 * float(v):.1f}"
    if not _missing(lo) and not _missing(hi):
        s += f" [{100 * float(lo):.1f}, {100 * float(hi):.1f}]"
    return s


def latex_escape(s: str) -> str:
    """Escape every LaTeX special character of plain text (``&``, ``%``, ``_``, ``\\``, ...)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))


def markdown_escape(s: str) -> str:
    """Escape text for one cell of a Markdown table (backslash, pipe; newlines become spaces)."""
    return str(s).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
