"""Text formatting shared by every output: numbers, p-values, percentages, LaTeX and Markdown escaping.

One implementation of each rule, used by the tables (``.md``/``.tex``), the
command-line summaries, the figures and the report, so a number is written the
same way wherever it appears. The number policy:

- **p-values** (columns ``p_val``, ``p_holm``, ``p_*``): two significant digits
  (``0.012``, ``0.37``, ``1.0``), below 1e-4 the bound ``< 1e-4`` (:func:`format_p_value`;
  :func:`format_p` adds the ``p =`` label);
- **other numbers** (:func:`format_number`): never in scientific notation;
  integers and whole floats as integers (``10743``); otherwise 1000 and above
  rounded to an integer, 1 to 1000 four significant digits (``12.35``), 0.001
  to 1 four decimals (``0.1235``), below 0.001 two significant digits
  (``0.00015``); below 1e-12 in absolute value ``0`` (float noise such as
  ``5.2e-18``, the difference of two equal sums added in another order: no
  quantity of these tables is that small without being 0);
- **Table 1**: percent with one decimal as the paper prints it (:func:`format_percent`).

:func:`format_value` applies the rule of a column to one value.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["format_fixed", "format_interval", "format_number", "format_p", "format_p_value", "format_percent",
           "format_value", "is_p_column", "latex_escape", "markdown_escape"]

#: Absolute values below this print as 0 (:func:`format_number`): float noise, not data.
NOISE = 1e-12

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


def format_p_value(p: Any) -> str:
    """A p-value with two significant digits (``0.012``, ``0.37``, ``1.0``), ``< 1e-4`` below 1e-4,
    ``n/a`` when missing or not finite."""
    if _missing(p) or not math.isfinite(float(p)):
        return "n/a"
    p = float(p)
    if p < 1e-4:
        return "< 1e-4"
    return f"{p:#.2g}"


def format_p(p: float | None, *, spaced: bool = False) -> str:
    """A labelled p-value (:func:`format_p_value`).

    ``spaced=False`` (command-line summaries): ``p=0.012``, ``p<1e-4``, ``p=n/a``;
    ``spaced=True`` (figures): ``p = 0.012``, ``p < 1e-4``, ``p = n/a``.
    """
    text = format_p_value(p)
    if text.startswith("<"):
        return "p < 1e-4" if spaced else "p<1e-4"
    return f"p = {text}" if spaced else f"p={text}"


def is_p_column(column: Any) -> bool:
    """Whether a column holds p-values: ``p_val``, ``p_holm`` or any ``p_*``."""
    return isinstance(column, str) and column.startswith("p_")


def format_number(v: Any) -> str:
    """A number as plain digits, never in scientific notation (the module's policy); ``''`` when missing.

    Booleans as ``true``/``false``; ``inf``/``-inf``; text as is.
    """
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if _missing(v):
        return ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    a = abs(f)
    if a < NOISE:
        return "0"
    if f == int(f) and a < 1e15:
        return str(int(f))
    if a >= 1000:
        return f"{f:.0f}"
    if a >= 1:
        return f"{f:.4g}"
    if a >= 1e-3:
        return f"{f:.4f}".rstrip("0").rstrip(".")
    return np.format_float_positional(f, precision=2, unique=False, fractional=False, trim="k")


def format_fixed(v: Any, decimals: int = 4, *, sign: bool = False) -> str:
    """``v`` with ``decimals`` decimals (``+`` sign with ``sign``), never ``-0.0000``: a value that rounds
    to zero prints as ``0.0000`` (``+0.0000``); ``nan`` when missing."""
    if _missing(v):
        return "nan"
    f = float(v)
    text = f"{f:+.{decimals}f}" if sign else f"{f:.{decimals}f}"
    if math.isfinite(f) and float(text) == 0:
        text = ("+" if sign else "") + text.lstrip("+-")
    return text


def format_interval(lo: Any, hi: Any, decimals: int = 4, *, sign: bool = True,
                    none: str = "no interval") -> str:
    """``[lo, hi]`` by :func:`format_fixed`, or ``none`` when either bound is missing (no bootstrap)."""
    if _missing(lo) or _missing(hi) or not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return none
    return f"[{format_fixed(lo, decimals, sign=sign)}, {format_fixed(hi, decimals, sign=sign)}]"


def format_value(v: Any, column: Any = None) -> str:
    """One value by the rule of its column: a p-value column (:func:`is_p_column`) with
    :func:`format_p_value` (missing: ``''``), anything else with :func:`format_number`."""
    if is_p_column(column) and not isinstance(v, (str, bool)):
        return "" if _missing(v) else format_p_value(v)
    return format_number(v)


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
    """Escape text for one cell of a Markdown table: backslash, pipe, HTML (a tag start ``<x``
    and an entity ``&x;``, which Markdown renderers pass through as markup, become ``&lt;x``
    and ``&amp;x;``), newlines become spaces, terminal
    controls and bidi overrides are shown escaped (:func:`salanalysis.errors.visible`)."""
    from salanalysis.errors import visible

    text = visible(str(s)).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    # what a Markdown renderer would pass through as HTML: a tag start (``<script``, ``</``,
    # ``<!--``) or an entity (``&amp;``); a lone ``<`` as in ``< 1e-4`` stays readable
    text = re.sub(r"&(?=#?\w+;)", "&amp;", text)
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)
