"""The one-page HTML report of ``salanalysis reproduce``, and table formatters.

:func:`render_report` builds a single self-contained HTML page (no external
files: figures are embedded as base64 PNG, styles inline) with

- what was run (configuration source, version, parameters) and every stage
  with its cache status;
- the inputs with their provenance (path or built-in, content digest) and counts;
- a plain statement of everything that could not be produced, and why;
- every figure with its caption, and every table.

All text that comes from the inputs (category names, model labels, paths,
messages) is HTML-escaped. :func:`table_markdown` and :func:`table_latex`
render any result table for the Markdown and LaTeX outputs.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FigureEntry",
    "TableEntry",
    "format_cell",
    "table_markdown",
    "table_latex",
    "table_html",
    "render_report",
    "write_report",
]


@dataclass
class FigureEntry:
    """A figure of the report: its PNG is embedded, the other files are listed."""

    key: str
    title: str
    caption: str
    png: Path
    files: list[Path] = field(default_factory=list)


@dataclass
class TableEntry:
    """A table of the report (``max_rows`` rows shown; the files hold all)."""

    key: str
    title: str
    caption: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    max_rows: int = 200
    html: str | None = None  # pre-rendered (already escaped) HTML, e.g. Table 1 in percent


def format_cell(v: Any) -> str:
    """A cell as text: integers as is, floats to 4 significant digits, NaN as ''."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return ""
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        if f == int(f) and abs(f) < 1e15:
            return str(int(f))
        a = abs(f)
        if a != 0 and (a < 1e-3 or a >= 1e6):
            return f"{f:.3e}"
        return f"{f:.4g}" if a >= 1 else f"{f:.4f}".rstrip("0").rstrip(".")
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)


def _md_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table_markdown(df: pd.DataFrame, caption: str = "") -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), caption below."""
    cols = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    lines = ["| " + " | ".join(_md_escape(c) for c in cols) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_md_escape(format_cell(v)) for v in row) + " |")
    text = "\n".join(lines) + "\n"
    return text + (f"\n{caption}\n" if caption else "")


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def table_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A LaTeX ``tabular`` (booktabs-free, plain ``\\hline``), caption as a comment."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    lines = []
    if caption:
        lines.append("% " + " ".join(caption.split()))
    lines.append(r"\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}")
    lines.append(r"\hline")
    lines.append(" & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\")
    lines.append(r"\hline")
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(format_cell(v)) for v in row) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def table_html(df: pd.DataFrame, max_rows: int | None = None) -> str:
    """An escaped HTML table (first ``max_rows`` rows and a note when cut)."""
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    out = ['<div class="tw"><table>', "<thead><tr>"]
    out += [f"<th>{html.escape(str(c))}</th>" for c in df.columns]
    out.append("</tr></thead><tbody>")
    for row in shown.itertuples(index=False):
        cells = [f'<td class="{"n" if n else "t"}">{html.escape(format_cell(v))}</td>'
                 for v, n in zip(row, numeric)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if len(shown) < len(df):
        out.append(f'<p class="note">First {len(shown)} of {len(df)} rows; the files hold all.</p>')
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em}table{border-collapse:collapse;font-size:.8em}th,td{padding:2px 6px;
border-bottom:1px solid #e3e3e3}th{background:#f4f4f4;text-align:left;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}.tw{max-height:480px;overflow:auto;
border:1px solid #ddd;margin:.5em 0}figure{margin:1em 0}figure img{max-width:100%;height:auto;
border:1px solid #eee}figcaption{font-size:.9em;color:#333}.note{font-size:.85em;color:#555}
.missing{background:#fff6e5;border-left:4px solid #E69F00;padding:.5em 1em}code{font-size:.9em}
nav a{margin-right:.8em}
"""


def _files_line(files: Sequence[Path], base: Path | None) -> str:
    if not files:
        return ""
    names = []
    for f in files:
        p = Path(f)
        try:
            rel = p.relative_to(base) if base is not None else p
        except ValueError:
            rel = p
        names.append(f"<code>{html.escape(str(rel))}</code>")
    return f'<p class="note">Files: {", ".join(names)}</p>'


def render_report(
    *,
    title: str,
    summary: Mapping[str, Any],
    inputs: pd.DataFrame,
    stages: pd.DataFrame,
    figures: Sequence[FigureEntry],
    tables: Sequence[TableEntry],
    not_produced: Sequence[tuple[str, str]],
    notes: Sequence[str] = (),
    base: str | os.PathLike | None = None,
) -> str:
    """The report as one self-contained HTML string.

    Parameters
    ----------
    title
        Page title.
    summary
        Key-value facts of the run (configuration, version, parameters).
    inputs
        Provenance and counts of the inputs (any columns).
    stages
        The stage log (stage, status, key, seconds, ...).
    figures, tables
        What to show, in order. Figure PNGs are read and embedded as base64.
    not_produced
        ``(what, why)`` for every output that could not be produced.
    notes
        Plain-text remarks shown under the summary.
    base
        Output folder: file paths are shown relative to it.

    Every string that comes from the inputs is escaped here.
    """
    base_p = Path(base) if base is not None else None
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    nav = ['<a href="#run">Run</a>', '<a href="#inputs">Inputs</a>',
           '<a href="#missing">Not produced</a>', '<a href="#figures">Figures</a>',
           '<a href="#tables">Tables</a>']
    parts.append("<nav>" + "".join(nav) + "</nav>")

    parts.append('<h2 id="run">Run</h2><table>')
    for k, v in summary.items():
        parts.append(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>")
    parts.append("</table>")
    for n in notes:
        parts.append(f'<p class="note">{e(n)}</p>')
    parts.append("<h3>Stages</h3>")
    parts.append('<p class="note">Each stage is keyed by the content of its inputs and its parameters; '
                 '"cached" means its results were reused from an earlier run (--force recomputes).</p>')
    parts.append(table_html(stages))

    parts.append('<h2 id="inputs">Inputs: provenance and counts</h2>')
    parts.append(table_html(inputs))

    parts.append('<h2 id="missing">What could not be produced</h2>')
    if not_produced:
        parts.append('<div class="missing"><ul>')
        for what, why in not_produced:
            parts.append(f"<li><b>{e(what)}</b>: {e(why)}</li>")
        parts.append("</ul></div>")
    else:
        parts.append("<p>Everything was produced.</p>")

    parts.append('<h2 id="figures">Figures</h2>')
    for fig in figures:
        data = base64.b64encode(Path(fig.png).read_bytes()).decode("ascii")
        parts.append(f'<figure id="fig-{e(fig.key)}"><h3>{e(fig.title)}</h3>'
                     f'<img alt="{e(fig.title)}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{e(fig.caption)}</figcaption></figure>")
        parts.append(_files_line(fig.files, base_p))

    parts.append('<h2 id="tables">Tables</h2>')
    for t in tables:
        parts.append(f'<section id="table-{e(t.key)}"><h3>{e(t.title)}</h3>')
        if t.caption:
            parts.append(f"<p>{e(t.caption)}</p>")
        parts.append(t.html if t.html is not None else table_html(t.table, t.max_rows))
        parts.append(_files_line(t.files, base_p))
        parts.append("</section>")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="note">Generated by salanalysis on {e(stamp)}.</p></body></html>')
    return "\n".join(parts) + "\n"


def write_report(path: str | os.PathLike, **kws: Any) -> Path:
    """Render (:func:`render_report`) and write the report atomically."""
    from salanalysis.io import write_text

    return write_text(path, render_report(**kws))
