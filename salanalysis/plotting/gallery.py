"""The gallery of detected and missed objects (:mod:`salanalysis.gallery`), on matplotlib axes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.plotting.style import COLUMN_WIDTH, OUTCOME_COLORS, PAGE_WIDTH, new_figure


def _label(row: Mapping[str, Any]) -> str:
    sal = "" if pd.isna(row.get("sal_max", np.nan)) else f" sal {row['sal_max']:.2f}"
    return (f"{row['category']} ({row['rule']})\n"
            f"size {100 * row['area_frac']:.1f}% dist {row['center_dist']:.2f}{sal}\n"
            f"score {row['score']:.2f}, {int(row['n_objects_image'])} obj.")


def plot_gallery_object(row: Mapping[str, Any], root: str | os.PathLike, ax=None):
    """One thumbnail of the gallery table (a ``crop`` or ``overlay:NAME`` row) with its values; returns ``ax``.

    ``root``: the folder the row's ``file`` is relative to (where ``gallery.csv`` lies).
    An empty ``file`` (the image was absent) draws a plain "image not available".
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    ax.set_xticks([])
    ax.set_yticks([])
    colour = OUTCOME_COLORS.get(str(row["outcome"]), "0.3")
    for side in ax.spines.values():
        side.set_edgecolor(colour)
        side.set_linewidth(1.5)
    file = row.get("file")
    if isinstance(file, str) and file:  # read back from CSV, an empty cell is NaN
        img = plt.imread(Path(root) / file)
        ax.imshow(img)
    else:
        ax.text(0.5, 0.5, "image not\navailable", ha="center", va="center", transform=ax.transAxes,
                fontsize=6, color="0.4")
    ax.set_title(_label(row), fontsize=6, loc="left")
    return ax


def gallery_figure(table: pd.DataFrame, root: str | os.PathLike, *, width: str = "page",
                   pictures: Sequence[str] = ("crop",), max_per_outcome: int = 8):
    """The gallery: one row per outcome (detected, missed), the chosen objects side by side.

    ``pictures``: which pictures of each object (``"crop"``, ``"overlay:NAME"``).
    Returns the figure.
    """
    t = table[table["picture"].isin(list(pictures))]
    outcomes = [o for o in ("detected", "missed") if (t["outcome"] == o).any()]
    per_row = 4 if width == "page" else 2
    blocks = []
    for o in outcomes:
        g = t[t["outcome"] == o].head(max_per_outcome)
        blocks.append((o, g))
    nrows = sum(-(-len(g) // per_row) for _, g in blocks) or 1
    w = PAGE_WIDTH if width == "page" else COLUMN_WIDTH
    fig, axes = new_figure(width=width, height=nrows * (w / per_row) * 1.45, nrows=nrows, ncols=per_row,
                           squeeze=False)
    r = 0
    for outcome, g in blocks:
        rows = g.to_dict("records")
        for k in range(-(-len(rows) // per_row)):
            for j in range(per_row):
                ax = axes[r, j]
                i = k * per_row + j
                if i < len(rows):
                    plot_gallery_object(rows[i], root, ax=ax)
                else:
                    ax.set_axis_off()
            axes[r, 0].set_ylabel(outcome, fontsize=7, color=OUTCOME_COLORS.get(outcome, "0.3"))
            r += 1
    if not blocks:
        axes[0, 0].text(0.5, 0.5, "no objects in the gallery", ha="center", va="center")
        for ax in axes.ravel():
            ax.set_axis_off()
    return fig
