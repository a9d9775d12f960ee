"""Palette, the house style, figure sizes, saving, and axis labels (shared by every plot)."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

#: Fixed colours of the two outcomes of an object, in every figure.
OUTCOME_COLORS: dict[str, str] = {"detected": OKABE_ITO["blue"], "missed": OKABE_ITO["vermillion"]}

#: Neutral colour (differences within noise, reference lines).
NEUTRAL = "#999999"

#: Models take these colours in the order they are listed (never blue/vermillion,
#: which mean detected/missed).
_MODEL_CYCLE = ("orange", "bluish_green", "reddish_purple", "sky_blue", "black", "yellow")

#: Figure widths in inches: one column and the full text width of a CVPR paper.
COLUMN_WIDTH = 3.25
PAGE_WIDTH = 6.875

#: The smallest font size (points) any text of a figure may have at its printed width.
MIN_FONT_PT = 6.0

_STYLE: dict[str, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
    "savefig.bbox": "standard",  # saved at exactly its size: the size it is printed at
    "figure.dpi": 100,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "errorbar.capsize": 2.5,
    "axes.prop_cycle": None,  # filled in paper_style (needs cycler)
}


def plain_text(value: object) -> str:
    """Text from the data (a category, a model label) shown as written, never as markup.

    Matplotlib parses text between two ``$`` as mathtext: a category named
    ``$\\undefinedmacro$`` stops a figure from being drawn and ``"$5-$10"``
    renders as math. Every ``$`` is escaped (``\\$``), which mathtext shows as
    a plain dollar sign.
    """
    return str(value).replace("$", r"\$")


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """Fixed colour per model, by the order the models are listed.

    Parameters
    ----------
    models
        Model (score-set) names in the order of the configuration.

    Returns
    -------
    dict
        ``{name: hex colour}`` from the Okabe-Ito palette, never the outcome colours.
    """
    return {m: OKABE_ITO[_MODEL_CYCLE[i % len(_MODEL_CYCLE)]] for i, m in enumerate(models)}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Context in which figures are drawn and saved in the house style.

    Font sizes for print, Okabe-Ito colour cycle, TrueType fonts in PDF
    (``pdf.fonttype`` 42), 300-dpi raster output. Everything is restored on exit
    (``matplotlib.rc_context``); nothing is changed at import.
    """
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(_STYLE)
    rc["axes.prop_cycle"] = cycler(color=[OKABE_ITO[n] for n in _MODEL_CYCLE])
    with mpl.rc_context(rc):
        yield


#: A figure (or subfigure) that :func:`new_figure` draws into instead of making one (:func:`drawing_into`).
_TARGET: contextvars.ContextVar[Any] = contextvars.ContextVar("salanalysis_target_figure", default=None)


@contextlib.contextmanager
def drawing_into(target: Any) -> Iterator[None]:
    """Within the block, :func:`new_figure` puts its panels into ``target`` (a matplotlib
    ``Figure`` or ``SubFigure``) instead of a new figure: how
    :func:`salanalysis.figures.draw_figure` takes ``fig=``/``ax=``."""
    token = _TARGET.set(target)
    try:
        yield
    finally:
        _TARGET.reset(token)


def new_figure(width: str | float = "column", height: float | None = None, nrows: int = 1,
               ncols: int = 1, **kws: Any):
    """A figure of the paper's widths: ``"column"`` (3.25 in) or ``"page"`` (6.875 in).

    The figure uses matplotlib's constrained layout (``layout="constrained"`` unless
    given), so it can be saved at exactly this size (:func:`save_figure`) and its fonts
    keep their point sizes in print. Returns ``(fig, axes)`` as
    :func:`matplotlib.pyplot.subplots`.
    """
    target = _TARGET.get()
    if target is not None:  # draw_figure(fig=...) or (ax=...): the panels go into the caller's figure
        kws.pop("layout", None)
        return target, target.subplots(nrows, ncols, **kws)
    kws.setdefault("layout", "constrained")
    import matplotlib.pyplot as plt

    w = {"column": COLUMN_WIDTH, "page": PAGE_WIDTH}.get(width, width) if isinstance(width, str) else width
    if isinstance(w, str):
        raise ValueError(f"width must be 'column', 'page' or inches, got {width!r}")
    h = height if height is not None else 2.4 * nrows
    return plt.subplots(nrows, ncols, figsize=(float(w), float(h)), **kws)


def fit_titles(fig, *, min_size: float = MIN_FONT_PT, pad_pt: float = 2.0) -> None:
    """Shrink axes titles that run into a neighbouring panel, its title or past the figure's edge.

    Constrained layout leaves room for a title's height but not its width, so a title
    wider than its axes runs into the panel beside it or off the page (seen at the
    3.25-inch column width). Each title's font (left, center and right titles) goes down
    in 0.25-pt steps, never under ``min_size``, until it stays ``pad_pt`` clear of the
    axes on either side of it on its row (colorbars aside) and of the figure's edges;
    where titles of two panels still meet, the one reaching further outside its own
    panel shrinks. A title that does not fit at ``min_size`` is left there with a
    warning (shorten it).
    """
    import warnings

    fig.canvas.draw()  # runs the layout, so the axes are where they will be saved
    renderer = fig.canvas.get_renderer()
    pad = pad_pt * fig.dpi / 72
    boxes = [(ax, ax.get_window_extent(renderer)) for ax in fig.axes
             if ax.get_visible() and getattr(ax, "_colorbar", None) is None]

    def shrink(title, too_wide) -> None:
        while too_wide(title.get_window_extent(renderer)) and title.get_fontsize() - 0.25 >= min_size:
            title.set_fontsize(title.get_fontsize() - 0.25)
        if too_wide(title.get_window_extent(renderer)):
            warnings.warn(f"figure title {title.get_text()!r} is wider than its room even at {min_size:g} pt",
                          stacklevel=3)

    titles = []
    for ax, box in boxes:
        row = [b for other, b in boxes if other is not ax and b.y0 < box.y1 and b.y1 > box.y0]
        right = min([b.x0 for b in row if b.x0 > box.x0 + 1] + [fig.bbox.width]) - pad
        left = max([b.x1 for b in row if b.x1 < box.x1 - 1] + [0.0]) + pad
        for title in (ax.title, ax._left_title, ax._right_title):
            if title.get_text():
                shrink(title, lambda e, lo=left, hi=right: e.x0 < lo or e.x1 > hi)
                titles.append((box, title))
    for i, (box_a, a) in enumerate(titles):  # titles of two panels that meet in the gap between them
        for box_b, b in titles[i + 1:]:
            if box_a is box_b:
                continue
            ea, eb = a.get_window_extent(renderer), b.get_window_extent(renderer)
            if ea.y0 >= eb.y1 or eb.y0 >= ea.y1 or ea.x1 + pad <= eb.x0 or eb.x1 + pad <= ea.x0:
                continue
            out_a = max(box_a.x0 - ea.x0, ea.x1 - box_a.x1, 0.0)  # how far each reaches outside its panel
            out_b = max(box_b.x0 - eb.x0, eb.x1 - box_b.x1, 0.0)
            mover, other = (a, b) if out_a >= out_b else (b, a)
            shrink(mover, lambda e, o=other: not (e.x1 + pad <= o.get_window_extent(renderer).x0
                                                  or o.get_window_extent(renderer).x1 + pad <= e.x0))


def save_figure(fig, path: str | os.PathLike, *, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    """Write ``fig`` as PDF (TrueType fonts, ``pdf.fonttype`` 42) and 300-dpi PNG, at exactly its size.

    Parameters
    ----------
    fig
        A matplotlib figure.
    path
        Output path; its suffix (if any) is replaced by each format's.
    formats
        Which files to write (``pdf``, ``png``, ``svg``).

    Returns
    -------
    list of Path
        The files written, each moved into place atomically.
    """
    import matplotlib as mpl

    from salanalysis.io import atomic_path

    base = Path(path)
    if base.suffix.lower() in (".pdf", ".png", ".svg"):
        base = base.with_suffix("")
    out = []
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        for fmt in formats:
            fmt = fmt.lower()
            if fmt not in ("pdf", "png", "svg"):
                raise ValueError(f"unsupported figure format {fmt!r}")
            target = base.parent / f"{base.name}.{fmt}"
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=300, metadata={"CreationDate": None} if fmt == "pdf" else None)
            out.append(target)
    return out


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def variable_label(variable: str, labels: Mapping[str, str] | None = None) -> str:
    """Axis label of an object-table variable, with its unit (``labels``: display names of sources)."""
    fixed = {
        "area_frac": "size (fraction of the image area)",
        "area_px": "size (pixels)",
        "center_dist": "distance to center (fraction of half the diagonal; 0 = center)",
        "n_objects": "objects in the image",
    }
    if variable in fixed:
        return fixed[variable]
    for prefix, text in (("sal_max_", "max saliency"), ("sal_mean_", "mean saliency")):
        if variable.startswith(prefix):
            name = variable[len(prefix):]
            return f"{text}, {(labels or {}).get(name, name)} (0-1)"
    return variable


def group_label(label: str) -> str:
    """A clutter group's label for print: ``">=7"`` becomes ``"≥7"``."""
    return str(label).replace(">=", "\u2265")


