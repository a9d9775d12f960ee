"""Fig. 4: per-category AP differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.plotting.style import (
    NEUTRAL,
    _ax,
    model_colors,
    plain_text,
)


def plot_category_delta(
    compare: pd.DataFrame,
    *,
    label_a: str = "A",
    label_b: str = "B",
    color_a: str | None = None,
    color_b: str | None = None,
    horizontal: bool = False,
    legend: bool = True,
    few_positives: int = 5,
    ax=None,
):
    """Fig. 4: per-category AP difference (B - A), sorted, with 95% intervals.

    Parameters
    ----------
    compare
        :func:`salanalysis.compare.compare_categories` output (category, delta,
        ci95_low, ci95_high, verdict ...), or a slice of it. Drawn sorted by delta,
        descending (top to bottom when ``horizontal``).
    label_a, label_b
        Names of the two models (A is the reference).
    color_a, color_b
        Model colours: a bar takes B's colour when its ``verdict`` is "improved",
        A's when "worsened" (in :func:`~salanalysis.compare.compare_categories` the
        multiplicity-adjusted permutation test decides), grey otherwise; those bars
        are also hatched (readable without colour). Without a ``verdict`` column,
        the interval decides (excludes 0), and without intervals, every bar is grey.
    horizontal
        One row per category, labels on the left (readable with many categories).
    legend
        Draw the legend (off for a second panel).
    few_positives
        With an ``n_pos`` column, a category with fewer positive images than this is
        marked with a dagger after its name (its AP rests on a handful of images).

    A delta of exactly 0 is an open circle on the zero line, so that it is visible.
    Returns ``ax``.
    """
    from matplotlib.patches import Patch

    ax = _ax(ax)
    require_columns(compare, ["category", "delta"], "category comparison")
    d = compare[np.isfinite(compare["delta"].to_numpy(float))]
    d = d.sort_values("delta", ascending=False, kind="stable")
    ca, cb = color_a or model_colors(["a", "b"])["a"], color_b or model_colors(["a", "b"])["b"]
    if "verdict" in d.columns:
        verdict = d["verdict"].astype(str).to_numpy()
    elif {"ci95_low", "ci95_high"} <= set(d.columns):
        verdict = np.where(d["ci95_low"] > 0, "improved", np.where(d["ci95_high"] < 0, "worsened", "within noise"))
    else:  # no test, no interval: no bar is called better
        verdict = np.full(len(d), "within noise")
    cmap = {"improved": cb, "worsened": ca}
    colors = [cmap.get(v, NEUTRAL) for v in verdict]
    hatches = ["////" if v in cmap else "" for v in verdict]
    pos = np.arange(len(d))
    delta = d["delta"].to_numpy(float)
    bar = ax.barh if horizontal else ax.bar
    bars = bar(pos, delta, 0.8, color=colors, edgecolor="black", linewidth=0.3)
    for b, h in zip(bars, hatches):
        b.set_hatch(h)
    if {"ci95_low", "ci95_high"} <= set(d.columns):
        lo, hi = d["ci95_low"].to_numpy(float), d["ci95_high"].to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        mid, half = (lo[ok] + hi[ok]) / 2, (hi[ok] - lo[ok]) / 2
        import matplotlib.patheffects as pe

        # drawn over the bars with a white halo: a whisker inside a bar stays visible
        kw = dict(fmt="none", ecolor="black", elinewidth=0.7, capsize=1.5, zorder=3)
        eb = (ax.errorbar(mid, pos[ok], xerr=half, **kw) if horizontal else
              ax.errorbar(pos[ok], mid, yerr=half, **kw))
        halo = [pe.Stroke(linewidth=2.2, foreground="white"), pe.Normal()]
        for artist in (*eb.lines[1], *eb.lines[2]):
            artist.set_path_effects(halo)
        # where the unadjusted interval and the bar's (adjusted) verdict disagree, the whisker is grey and
        # dashed: the figure never shows a solid interval that contradicts its own colour
        excludes = (lo[ok] > 0) | (hi[ok] < 0)
        flagged = np.isin(verdict[ok], list(cmap))
        disagree = excludes != flagged
        if disagree.any():
            eb.lines[2][0].set_color([NEUTRAL if x else "black" for x in disagree])
            eb.lines[2][0].set_linestyles([(0, (2, 1.5)) if x else "solid" for x in disagree])
    zero = delta == 0
    if zero.any():  # an open circle centered on the zero line (a tick would vanish into the axis line)
        xy = (np.zeros(zero.sum()), pos[zero]) if horizontal else (pos[zero], np.zeros(zero.sum()))
        ax.plot(*xy, linestyle="none", marker="o", markersize=3.5, markerfacecolor="white",
                markeredgecolor="black", markeredgewidth=0.6, clip_on=False, zorder=3)
    few = (d["n_pos"].to_numpy(float) < few_positives) if "n_pos" in d.columns else np.zeros(len(d), bool)
    names = [plain_text(c) + (" \u2020" if f else "") for c, f in zip(d["category"], few)]
    if horizontal:
        ax.axvline(0.0, color="black", linewidth=0.6)
        ax.set_yticks(pos, names)
        ax.set_ylim(len(d) - 0.4, -0.6)
        ax.set_xlabel(plain_text(f"AP({label_b}) - AP({label_a})"))
    else:
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_xticks(pos, names, rotation=90)
        ax.set_xlim(-0.8, len(d) - 0.2)
        ax.set_ylabel("AP(B) - AP(A)")
    if legend:
        n_up, n_down = int((verdict == "improved").sum()), int((verdict == "worsened").sum())
        handles = [Patch(facecolor=cb, hatch="////", edgecolor="black", linewidth=0.3,
                         label=plain_text(f"B = {label_b} better ({n_up})")),
                   Patch(facecolor=ca, hatch="////", edgecolor="black", linewidth=0.3,
                         label=plain_text(f"A = {label_a} better ({n_down})")),
                   Patch(facecolor=NEUTRAL, edgecolor="black", linewidth=0.3,
                         label=f"within noise ({len(d) - n_up - n_down})")]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                  title="error bars: bootstrap 95% CI (unadjusted)" if "ci95_low" in d.columns else None)
    return ax


