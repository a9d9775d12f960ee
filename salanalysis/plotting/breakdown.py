"""Beside Fig. 2: the detection rate against object size, one line per clutter group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.plotting.style import OKABE_ITO, _ax

#: Line styles and markers by clutter group: the groups stay apart in grayscale.
_STYLES = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))
_COLORS = ("sky_blue", "orange", "reddish_purple", "black")


def plot_detection_breakdown(table: pd.DataFrame, *, sizes: Sequence[str] = ("small", "medium", "large"),
                             legend_columns: int = 1, ax=None):
    """Detection rate (y) per COCO size range (x), one line per clutter group with its 95% interval.

    ``table``: :func:`salanalysis.stats.breakdown.detection_by_size_and_clutter`. Each group has
    its own colour, marker and line style; lines are offset sideways a little so the intervals do
    not cover each other; the legend sits above the axes (``legend_columns`` wide), where it
    hides no point. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(table, ["clutter_group", "size", "rate", "ci95_low", "ci95_high", "n"], "breakdown table")
    groups = list(dict.fromkeys(table["clutter_group"]))
    pos = {s: i for i, s in enumerate(sizes)}
    for j, g in enumerate(groups):
        d = table[table["clutter_group"] == g]
        d = d[d["size"].isin(pos)]
        x = d["size"].map(pos).to_numpy(float) + (j - (len(groups) - 1) / 2) * 0.08
        y = d["rate"].to_numpy(float)
        err = np.vstack([y - d["ci95_low"].to_numpy(float), d["ci95_high"].to_numpy(float) - y])
        marker, ls = _STYLES[j % len(_STYLES)]
        n_img = int(d["n_images"].iloc[0]) if "n_images" in d.columns and len(d) else None
        ax.errorbar(x, y, yerr=err, marker=marker, linestyle=ls, markersize=4, linewidth=1.0,
                    color=OKABE_ITO[_COLORS[j % len(_COLORS)]],
                    label=f"{g}" + (f" ({n_img} images)" if n_img is not None else ""))
    ax.set_xticks(range(len(sizes)), [f"{s}" for s in sizes])
    ax.set_xlim(-0.4, len(sizes) - 0.6)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("object size (COCO: < 32\u00b2, < 96\u00b2, \u2265 96\u00b2 px)")
    ax.set_ylabel("share of objects detected")
    ax.legend(title="objects per image", loc="lower left", bbox_to_anchor=(0, 1.01), ncol=legend_columns,
              fontsize=6, title_fontsize=6, alignment="left")
    return ax


def _model(tables, ctx) -> str:
    from salanalysis.errors import InputError

    if getattr(ctx, "primary", None):
        return str(ctx.primary)
    cols = [c[len("detected_"):] for c in tables["objects"].columns if c.startswith("detected_")]
    if not cols:
        raise InputError("the object table has no detected_MODEL column")
    return cols[-1]


def draw_breakdown(tables, ctx):
    """The figure registry's ``fig2_clutter``: :func:`plot_detection_breakdown` of the primary model."""
    from salanalysis.plotting.style import new_figure
    from salanalysis.stats.breakdown import detection_by_size_and_clutter

    table = detection_by_size_and_clutter(tables["objects"], _model(tables, ctx))
    page = getattr(ctx, "width", "column") == "page"
    fig, ax = new_figure(getattr(ctx, "width", "column"), height=2.6 if page else 3.0)
    plot_detection_breakdown(table, ax=ax, legend_columns=3 if page else 1)
    return fig


def caption_breakdown(tables, ctx) -> str:
    from salanalysis.stats.breakdown import detection_by_size_and_clutter

    m = _model(tables, ctx)
    label = ctx.label(m) if hasattr(ctx, "label") else m
    table = detection_by_size_and_clutter(tables["objects"], m)
    groups = ", ".join(dict.fromkeys(table["clutter_group"]))
    return (f"Beside Fig. 2: the share of objects detected by '{label}' per COCO size range, one line per group of "
            f"images by their number of objects ({groups}; split at the tertiles of objects per image). If larger "
            "objects are detected more often within each group too, the size effect of Fig. 2 is not only a "
            "clutter effect; if the lines are flat and apart, clutter carries it. Bars: Wilson 95% intervals of "
            "each share, treating objects as independent (objects of one image share its scores, so they are "
            "too narrow where images hold many objects of a class); n per cell in the object table.")
