"""The one-page HTML report of ``salanalysis reproduce``, and table formatters.

:func:`render_report` builds a single self-contained HTML page (no external
files: figures and object thumbnails are embedded as base64 PNG/JPEG, styles inline; one small
inline script, :data:`~salanalysis.report_sections.SORT_SCRIPT`, sorts the class table and holds
no data) with, in order,

- a table of contents with an anchor per section, figure and table;
- the **findings**: each claim of the paper beside this run's value, interval
  and verdict (computed elsewhere and passed in; the verdict is shown by colour
  *and* a marker and its words), and every warning of the diagnostics once;
- the **objects**: a gallery of detected and missed objects (thumbnails with the
  mask outlined and the saliency overlaid, their values), filterable by class without a
  script, or a plain statement of why there are none (:mod:`salanalysis.report_sections`);
- the **classes**: one table per class (AP and interval, positives, prevalence, chance
  AP, mean size/distance/saliency, Fig. 4 delta and verdict, a link to its gallery
  objects), sortable by any column; classes with few positives marked;
- what was run (configuration, version, parameters) and every stage with its key;
- the inputs, each listed once with its provenance and counts;
- a plain statement of everything that could not be produced, and why;
- every figure with its caption, and every table, each with the diagnostics
  that concern it just above it and its files as relative links.

Tables are shown whole (no box of fixed height): pairs of interval columns
(``ci95_low``/``ci95_high``) become one ``[low, high]`` column, columns with
one value in every row are stated once above the table, explanatory text that
repeats (``meaning``, ``note``, ``formula``) becomes numbered notes below it,
and a table too wide for the page scrolls sideways with its first column kept
in view (a narrower one keeps its header row in view instead). On a narrow screen
(phone width) every table scrolls sideways in its own box with its first column in view,
and a figure with a column-width drawing shows that one (``<picture>``). A print
stylesheet keeps the paper size the reader chose (no page of another size), prints every
row of every table within the page width, keeps a heading with what follows it and a
caption with its table, and fits figures to the page.
Numbers follow the one policy of :mod:`salanalysis.formatting`.

The page is deterministic: the same arguments give the same bytes. It carries
no time of day unless the environment sets ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention), whose date it then prints.

All text that comes from the inputs (category names, model labels, paths,
messages, findings and diagnostics) is HTML-escaped. :func:`table_markdown` and
:func:`table_latex` render any result table for the Markdown and LaTeX outputs.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from salanalysis.errors import visible
from salanalysis.formatting import format_number, format_value, markdown_escape
from salanalysis.report_sections import (
    SORT_SCRIPT,
    GallerySection,
    classes_html,
    gallery_css,
    gallery_html,
)
from salanalysis.report_style import CSS as _CSS

__all__ = [
    "FigureEntry",
    "TableEntry",
    "VERDICTS",
    "FINDINGS_COLUMNS",
    "DIAGNOSTICS_COLUMNS",
    "format_cell",
    "table_markdown",
    "table_latex",
    "table_html",
    "render_report",
    "write_report",
]

#: Columns of the ``findings`` table :func:`render_report` shows.
FINDINGS_COLUMNS = ("section", "claim", "paper", "this_run", "interval", "verdict", "detail", "anchor")
#: Columns of the ``diagnostics`` table.
DIAGNOSTICS_COLUMNS = ("anchor", "severity", "text")
#: Verdict -> (CSS class, marker). Colours are Okabe-Ito (colour-blind safe); the marker and
#: the words carry the verdict without colour. An unknown verdict is shown with ``?``.
VERDICTS: dict[str, tuple[str, str]] = {
    "same direction, significant": ("v-same", "\u2713"),      # check mark
    "same direction, not significant": ("v-weak", "\u25cb"),  # white circle
    "opposite": ("v-opp", "\u2717"),                          # ballot x
    "inconclusive": ("v-inc", "?"),
    "explained by prevalence": ("v-inc", "\u2248"),          # almost equal: the rise is prevalence's
    "not available": ("v-na", "\u2013"),                      # en dash
    "not comparable": ("v-nc", "\u2260"),                     # not equal: not the paper's comparison
}
#: Columns whose text explains a row (shown as numbered notes when their text repeats).
EXPLAIN_COLUMNS = ("meaning", "note", "formula")


@dataclass
class FigureEntry:
    """A figure of the report: its PNG is embedded (and ``png_column``, the column-width
    drawing, for narrow screens), the other files are linked."""

    key: str
    title: str
    caption: str
    png: Path
    files: list[Path] = field(default_factory=list)
    png_column: Path | None = None


@dataclass
class TableEntry:
    """A table of the report (``max_rows`` rows shown; the files hold all).

    ``notes`` are plain-text remarks shown above the table (e.g. rows left out and why).
    """

    key: str
    title: str
    caption: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    max_rows: int = 500
    notes: list[str] = field(default_factory=list)


def format_cell(v: Any, column: Any = None) -> str:
    """A cell as text by the number policy of :mod:`salanalysis.formatting`
    (p-value columns ``p_*`` with two significant digits or ``< 1e-4``; other numbers in plain
    digits, never scientific notation; NaN as ``''``)."""
    return format_value(v, column)


def _md_escape(s: str) -> str:
    return markdown_escape(s)


def _escape(s: object, quote: bool = True) -> str:
    """HTML-escaped text with terminal controls and bidi overrides shown (``\\u202e``)."""
    return html.escape(visible(s), quote)


def _numeric(df: pd.DataFrame) -> list[bool]:
    return [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]


def table_markdown(df: pd.DataFrame, caption: str = "") -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), caption below."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(_md_escape(c) for c in cols) + " |",
             "| " + " | ".join("---:" if n else "---" for n in _numeric(df)) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_md_escape(format_cell(v, c)) for v, c in zip(row, df.columns)) + " |")
    text = "\n".join(lines) + "\n"
    return text + (f"\n{caption}\n" if caption else "")


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def table_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A LaTeX ``tabular`` (booktabs-free, plain ``\\hline``), caption as a comment."""
    lines = []
    if caption:
        lines.append("% " + " ".join(caption.split()))
    lines.append(r"\begin{tabular}{" + "".join("r" if n else "l" for n in _numeric(df)) + "}")
    lines.append(r"\hline")
    lines.append(" & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\")
    lines.append(r"\hline")
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(format_cell(v, c)) for v, c in zip(row, df.columns)) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ HTML tables
_LOW = re.compile(r"(^|_)low(_|$)")
#: Tables wider than this (estimated pixels; the page is 1100 px wide) scroll sideways.
_WIDE_PX = 1080


def _interval_pairs(cols: list[str]) -> dict[str, str]:
    """``{low column: high column}`` for every ``*low*``/``*high*`` pair (``ci95_low``/``ci95_high``)."""
    out = {}
    for c in cols:
        if isinstance(c, str) and _LOW.search(c):
            hi = _LOW.sub(lambda m: f"{m.group(1)}high{m.group(2)}", c, count=1)
            if hi in cols and hi != c:
                out[c] = hi
    return out


def _header_html(name: str) -> str:
    """An escaped header that may wrap after its underscores."""
    return "_<wbr>".join(_escape(p) for p in name.split("_"))


@dataclass
class _Column:
    name: str
    cells: list[str]
    numeric: bool
    long: bool = False


def _columns(df: pd.DataFrame) -> list[_Column]:
    """Display columns: formatted cells, interval pairs merged into ``[low, high]``."""
    names = [str(c) for c in df.columns]
    pairs = _interval_pairs(names)
    highs = set(pairs.values())
    numeric = dict(zip(names, _numeric(df)))
    out = []
    for c, orig in zip(names, df.columns):
        if c in highs:
            continue
        if c in pairs:
            lo, hi = df[orig].tolist(), df[df.columns[names.index(pairs[c])]].tolist()
            cells = ["" if format_number(a) == "" and format_number(b) == ""
                     else f"[{format_number(a)}, {format_number(b)}]" for a, b in zip(lo, hi)]
            label = _LOW.sub(lambda m: "_" if m.group(1) and m.group(2) else "", c, count=1) or "interval"
            out.append(_Column(f"{label} [low, high]", cells, True))
            continue
        out.append(_Column(c, [format_cell(v, orig) for v in df[orig].tolist()], numeric[c]))
    return out


_NUMBER_TEXT = re.compile(r"^(-|n/a|< 1e-4|[-+]?\d[\d.]*( \[[-+]?[\d.]+, [-+]?[\d.]+\])?)$")
#: Long tables that scroll sideways repeat their header row this often.
_REPEAT_HEADER = 25


def _lift_constant(cols: list[_Column]) -> tuple[list[_Column], list[tuple[str, str]]]:
    constant = [c for c in cols if len(set(c.cells)) == 1]
    if not constant or len(constant) == len(cols):
        return cols, []
    lifted = {id(c) for c in constant}
    return [c for c in cols if id(c) not in lifted], [(c.name, c.cells[0]) for c in constant]


def table_html(df: pd.DataFrame, max_rows: int | None = None, *, key: str | None = None,
               explain: Sequence[str] = EXPLAIN_COLUMNS) -> str:
    """An escaped HTML table, whole: first ``max_rows`` rows (and a note when cut).

    Interval pairs become one ``[low, high]`` column; with three rows or more, columns
    holding one value in every row are stated once above the table; text of an
    ``explain`` column that repeats from row to row becomes numbered notes below the
    table, referenced from one ``notes`` column (linked when ``key``, the table's id,
    is given); other long text wraps in a column of readable width. Text columns of
    numbers (e.g. Table 1 in percent) are aligned as numbers. A table too wide for
    the page scrolls sideways, keeps its first column in view and, when long,
    repeats its header row every few rows.
    """
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    cols = _columns(shown)
    n = len(shown)
    same: list[tuple[str, str]] = []
    if n >= 3 and len(shown) == len(df):
        cols, same = _lift_constant(cols)
    notes: list[str] = []
    marks: list[list[str]] = [[] for _ in range(n)]
    kept = []
    for c in cols:
        texts = [t for t in c.cells if t]
        if not c.numeric and texts and all(_NUMBER_TEXT.match(t) for t in texts):
            c.numeric = True
        longest = max((len(t) for t in texts), default=0)
        if c.numeric or longest <= 30:
            kept.append(c)
            continue
        if c.name in explain and len(set(texts)) < len(texts):
            for i, t in enumerate(c.cells):
                if t:
                    label = f"{c.name}: {t}"
                    if label not in notes:
                        notes.append(label)
                    marks[i].append(str(notes.index(label) + 1))
            continue
        c.long = True
        kept.append(c)
    cols = kept
    widths = []  # estimated natural width in pixels at the page's table font (12.8 px)
    for c in cols:
        head = 8.2 * max(len(p) for p in re.split(r"[_ ]", c.name))  # bold
        body = (6.6 if c.numeric else 7.2) * min(28 if c.long else 10**6, max((len(t) for t in c.cells), default=0))
        widths.append(max(head, body) + 13)
    if notes:
        widths.append(7.2 * max(5, 4 * max(len(m) for m in marks)) + 13)
    wide = sum(widths) > _WIDE_PX
    prefix = _escape(key) if key else None

    def mark(m: str) -> str:
        return f'<a href="#{prefix}-note-{m}">[{m}]</a>' if prefix else f"[{m}]"

    head = "".join(f'<th class="{"n" if c.numeric else "t"}">{_header_html(c.name)}</th>' for c in cols)
    head += '<th class="t">notes</th>' if notes else ""
    out = []
    if same:
        items = "; ".join(f"<code>{_escape(k)}</code> = {_escape(v) if v else '(empty)'}"
                          for k, v in same)
        out.append(f'<p class="same">In every row: {items}.</p>')
    out.append(f'<div class="tw{" wide" if wide else ""}"><table>')
    out.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for i in range(n):
        if wide and i and i % _REPEAT_HEADER == 0 and n - i > 5:
            out.append(f'<tr class="rh" aria-hidden="true">{head}</tr>')
        cells = [f'<td class="{"n" if c.numeric else ("t long" if c.long else "t")}">{_escape(c.cells[i])}</td>'
                 for c in cols]
        if notes:
            cells.append(f'<td class="t mark">{" ".join(mark(m) for m in marks[i])}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if notes:
        ids = [f' id="{prefix}-note-{j}"' if prefix else "" for j in range(1, len(notes) + 1)]
        out.append('<ol class="tnotes">' + "".join(f"<li{i}>{_escape(t)}</li>" for i, t in zip(ids, notes))
                   + "</ol>")
    if len(shown) < len(df):
        out.append(f'<p class="note">First {len(shown)} of {len(df)} rows; the files hold all.</p>')
    return "".join(out)


# ------------------------------------------------------------------ the page


def _href(f: Path, base: Path | None) -> str | None:
    """A relative link to ``f`` under ``base`` (None when outside it)."""
    if base is None:
        return None
    try:
        rel = Path(f).relative_to(base)
    except ValueError:
        return None
    return urllib.parse.quote(rel.as_posix())


def _file_link(f: Path, base: Path | None) -> str:
    href = _href(f, base)
    if href is None:
        return f"<code>{_escape(str(f))}</code>"
    return f'<a href="{_escape(href)}">{_escape(urllib.parse.unquote(href))}</a>'


def _files_line(files: Sequence[Path], base: Path | None) -> str:
    if not files:
        return ""
    return f'<p class="files">Files: {", ".join(_file_link(f, base) for f in files)}</p>'


def _check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}")


def _text(v: Any) -> str:
    """A cell of a text column: missing values (None, NaN, pd.NA) as ''."""
    try:
        if v is None or pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)


def _verdict_html(verdict: str) -> str:
    cls, mark = VERDICTS.get(verdict, ("v-na", "?"))
    return f'<span class="verdict {cls}">{_escape(mark)} {_escape(verdict)}</span>'


def _diag_html(row: Mapping[str, Any], ids: Mapping[str, str], link: bool = False) -> str:
    sev = "warning" if _text(row["severity"]) == "warning" else "note"
    where = ""
    anchor = _text(row["anchor"])
    if link and anchor in ids:
        where = f' (see <a href="#{_escape(anchor)}">{_escape(ids[anchor])}</a>)'
    label = "\u26a0 Warning:" if sev == "warning" else "Note:"
    return f'<div class="diag {sev}"><b>{label}</b>{_escape(_text(row["text"]))}{where}</div>'


def _see(row: Mapping[str, Any], ids: Mapping[str, str]) -> str:
    """Links to the further figures and tables a finding refers to (its optional ``see`` column)."""
    targets = [a for a in _text(row.get("see", "")).split(";") if a in ids]
    if not targets:
        return ""
    short = {a: re.split(r":| \(", ids[a], maxsplit=1)[0] for a in targets}  # "Fig. 2 tests", not its whole title
    return " See: " + ", ".join(f'<a href="#{_escape(a)}">{_escape(short[a])}</a>' for a in targets) + "."


def _findings_html(findings: pd.DataFrame | None, diagnostics: pd.DataFrame | None,
                   ids: Mapping[str, str], reading: Sequence[str] = ()) -> str:
    e = _escape
    parts = ['<section id="findings"><h2>Findings: this run beside the paper</h2>']
    if reading:
        parts.append('<div class="reading" id="reading"><h3>Reading this run</h3><ul>'
                     + "".join(f"<li>{e(t)}</li>" for t in reading) + "</ul></div>")
    if findings is not None:
        parts.append('<p class="note">Each claim of the paper, this run\'s value and interval, and a verdict '
                     'computed from the data: the same direction as the paper and significant, the same '
                     'direction but not significant, the opposite direction, inconclusive, not available '
                     '(this run cannot measure it), or not comparable (this run compares other things than the '
                     'paper; the row says why). The first column links to the figure or table the claim '
                     'rests on.</p>')
        counts = findings["verdict"].map(_text).value_counts()
        order = [v for v in VERDICTS if v in counts.index] + sorted(set(counts.index) - set(VERDICTS))
        parts.append('<ul class="verdicts">' + "".join(
            f"<li>{_verdict_html(v)} &times; {int(counts[v])}</li>" for v in order) + "</ul>")
        parts.append('<div class="tw"><table class="findings"><thead><tr><th>where</th><th>claim</th>'
                     '<th>verdict</th><th>paper</th><th>this run</th><th>interval</th><th>how</th></tr></thead><tbody>')
        for _, r in findings.iterrows():
            anchor, section = _text(r["anchor"]), e(_text(r["section"]))
            where = f'<a href="#{e(anchor)}">{section}</a>' if anchor in ids else section
            parts.append(f'<tr><td class="t">{where}</td><td class="t claim">{e(_text(r["claim"]))}</td>'
                         f'<td class="t">{_verdict_html(_text(r["verdict"]))}</td>'
                         f'<td class="t v">{e(_text(r["paper"]))}</td><td class="t v">{e(_text(r["this_run"]))}</td>'
                         f'<td class="t v">{e(_text(r["interval"]))}</td>'
                         f'<td class="t detail">{e(_text(r["detail"]))}{_see(r, ids)}</td></tr>')
        parts.append("</tbody></table></div>")
    if diagnostics is not None and len(diagnostics):
        warn = [r for _, r in diagnostics.iterrows() if _text(r["severity"]) == "warning"]
        loose = [r for _, r in diagnostics.iterrows()
                 if _text(r["severity"]) != "warning" and _text(r["anchor"]) not in ids]
        if warn:
            parts.append(f"<h3>Warnings ({len(warn)})</h3>")
            parts += [_diag_html(r, ids, link=True) for r in warn]
        if loose:
            parts.append("<h3>Notes</h3>")
            parts += [_diag_html(r, ids) for r in loose]
    parts.append("</section>")
    return "\n".join(parts)


def _generated_line() -> str:
    from salanalysis import __version__

    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde.isdigit():
        stamp = _dt.datetime.fromtimestamp(int(sde), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"Generated by salanalysis {__version__} on {stamp} (SOURCE_DATE_EPOCH)."
    return f"Generated by salanalysis {__version__}."


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
    findings: pd.DataFrame | None = None,
    diagnostics: pd.DataFrame | None = None,
    inputs_files: Sequence[Path] = (),
    gallery: GallerySection | None = None,
    classes: pd.DataFrame | None = None,
    classes_files: Sequence[Path] = (),
    reading: Sequence[str] = (),
) -> str:
    """The report as one self-contained HTML string (deterministic: see the module docstring).

    Parameters
    ----------
    title
        Page title.
    summary
        Key-value facts of the run (configuration, version, parameters); a
        :class:`~pathlib.Path` value under ``base`` is shown as a link.
    inputs
        The inputs, one row each, with provenance and counts (any columns).
    stages
        The stage log (stage, key, note, ...).
    figures, tables
        What to show, in order. Figure PNGs are read and embedded as base64.
        Figures get the id ``fig-KEY``, tables ``table-KEY``.
    not_produced
        ``(what, why)`` for every output that could not be produced.
    notes
        Plain-text remarks shown under the summary.
    base
        Output folder: files under it are linked by relative paths.
    findings
        One row per claim of the paper, columns :data:`FINDINGS_COLUMNS`
        (``section``, ``claim``, ``paper``, ``this_run``, ``interval``, ``verdict`` of
        :data:`VERDICTS`, ``detail``, ``anchor``: the id of a figure or table, or '').
        Shown first; ``None``: no findings table.
    diagnostics
        One row per diagnostic, columns :data:`DIAGNOSTICS_COLUMNS` (``anchor``,
        ``severity``: ``"warning"`` or ``"note"``, ``text``). Each is shown just above
        the figure or table its anchor names; every warning is also listed in the
        findings section, and so is a note whose anchor is not in the report.
        ``None``: none.
    inputs_files
        The files of the inputs table (linked under it).
    gallery
        The gallery of objects (section ``gallery``): its table and thumbnails, or
        ``table=None`` and the reason there is none. ``None``: no such section.
    classes
        The per-class table (:func:`salanalysis.report_sections.class_drilldown`), shown
        sortable (section ``classes``); ``None``: no such section.
    classes_files
        The files of the per-class table (linked under it).
    reading
        Plain-text points of a "Reading this run" box above the findings (what the score
        sets are, how detected/missed is defined, which rows are not the paper's comparison).

    Raises
    ------
    ValueError
        ``findings`` or ``diagnostics`` lacks a column.

    Every string that comes from the inputs is escaped here.
    """
    if findings is not None:
        _check_columns(findings, FINDINGS_COLUMNS, "findings")
    if diagnostics is not None:
        _check_columns(diagnostics, DIAGNOSTICS_COLUMNS, "diagnostics")
    base_p = Path(base) if base is not None else None
    e = _escape
    ids = {f"fig-{f.key}": f.title for f in figures} | {f"table-{t.key}": t.title for t in tables}
    ids["table-inputs"] = "Inputs"
    if gallery is not None:
        ids["gallery"] = "Objects: detected and missed"
    if classes is not None:
        ids["classes"] = "Classes"
    by_anchor: dict[str, list[Mapping[str, Any]]] = {}
    if diagnostics is not None:
        for _, r in diagnostics.iterrows():
            by_anchor.setdefault(_text(r["anchor"]), []).append(r)
    show_findings = findings is not None or (diagnostics is not None and any(
        _text(r["severity"]) == "warning" or _text(r["anchor"]) not in ids for _, r in diagnostics.iterrows()))

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}{gallery_css(gallery)}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    toc = ([("findings", "Findings: this run beside the paper")] if show_findings else []) + [
        (a, ids[a]) for a in ("gallery", "classes") if a in ids] + [
        ("run", "Run"), ("inputs", "Inputs"), ("missing", "What could not be produced")]
    items = [f'<li><a href="#{a}">{e(t)}</a></li>' for a, t in toc]
    if figures:
        items.append('<li><a href="#figures">Figures</a><ol>' + "".join(
            f'<li><a href="#fig-{e(f.key)}">{e(f.title)}</a></li>' for f in figures) + "</ol></li>")
    else:
        items.append('<li><a href="#figures">Figures</a></li>')
    if tables:
        items.append('<li><a href="#tables">Tables</a><ol>' + "".join(
            f'<li><a href="#table-{e(t.key)}">{e(t.title)}</a></li>' for t in tables) + "</ol></li>")
    else:
        items.append('<li><a href="#tables">Tables</a></li>')
    parts.append('<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>' + "".join(items) + "</ol></nav>")

    if show_findings:
        parts.append(_findings_html(findings, diagnostics, ids, reading))
    few = [] if classes is None else classes.loc[classes["few_positives"], "category"].astype(str).tolist()
    if gallery is not None:
        parts.append(f'<section id="gallery"><h2>{e(ids["gallery"])}</h2>')
        parts += [_diag_html(r, ids) for r in by_anchor.get("gallery", [])]
        parts.append(gallery_html(gallery, few=few) + _files_line(gallery.files, base_p) + "</section>")
    if classes is not None:
        parts.append('<section id="classes"><h2>Classes: one row per class, sortable</h2>')
        parts += [_diag_html(r, ids) for r in by_anchor.get("classes", [])]
        parts.append(classes_html(classes, gallery_ids=gallery.class_ids() if gallery is not None else {},
                                  files_html=_files_line(classes_files, base_p)) + "</section>")

    parts.append('<h2 id="run">Run</h2><table class="kv">')
    for k, v in summary.items():
        cell = _file_link(v, base_p) if isinstance(v, Path) else e(_text(v))
        parts.append(f'<tr><th scope="row">{e(str(k))}</th><td>{cell}</td></tr>')
    parts.append("</table>")
    for n in notes:
        parts.append(f'<p class="note">{e(n)}</p>')
    parts.append("<h3>Stages</h3>")
    parts.append('<p class="note">Each stage is keyed by the content of its inputs, its parameters and its '
                 "code; an unchanged key reuses the stage's cached results (--force recomputes).</p>")
    parts.append(table_html(stages))

    parts.append('<h2 id="inputs">Inputs: provenance and counts</h2>')
    parts.append(f'<div id="table-inputs">{table_html(inputs, key="table-inputs")}'
                 f"{_files_line(inputs_files, base_p)}</div>")

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
        parts.append(f'<figure id="fig-{e(fig.key)}"><h3>{e(fig.title)}</h3>')
        parts += [_diag_html(r, ids) for r in by_anchor.get(f"fig-{fig.key}", [])]
        img = f'<img alt="{e(fig.title)}" src="data:image/png;base64,{data}">'
        if fig.png_column is not None and Path(fig.png_column).is_file():
            col = base64.b64encode(Path(fig.png_column).read_bytes()).decode("ascii")
            img = (f'<picture><source media="screen and (max-width: 700px)" '
                   f'srcset="data:image/png;base64,{col}">{img}</picture>')
        parts.append(f"{img}<figcaption>{e(fig.caption)}</figcaption></figure>")
        parts.append(_files_line(fig.files, base_p))

    parts.append('<h2 id="tables">Tables</h2>')
    for t in tables:
        parts.append(f'<section id="table-{e(t.key)}"><h3>{e(t.title)}</h3>')
        parts += [_diag_html(r, ids) for r in by_anchor.get(f"table-{t.key}", [])]
        if t.caption:
            parts.append(f"<p>{e(t.caption)}</p>")
        parts += [f'<p class="note">{e(n)}</p>' for n in t.notes]
        parts.append(table_html(t.table, t.max_rows, key=f"table-{t.key}"))
        parts.append(_files_line(t.files, base_p))
        parts.append("</section>")
    parts.append(f'<p class="note">{e(_generated_line())}</p>')
    if classes is not None:
        parts.append(f"<script>{SORT_SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(path: str | os.PathLike, **kws: Any) -> Path:
    """Render (:func:`render_report`) and write the report atomically."""
    from salanalysis.io import write_text

    return write_text(path, render_report(**kws))
