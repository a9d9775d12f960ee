"""Sec. 3.2: class means against class AP."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.formatting import format_p
from salanalysis.plotting.style import (
    MIN_FONT_PT,
    OKABE_ITO,
    _ax,
    plain_text,
    variable_label,
)


def _fit_band(x: np.ndarray, y: np.ndarray, grid: np.ndarray, level: float = 0.95):
    """Least-squares line and the pointwise confidence band of its mean on ``grid``."""
    from scipy import stats

    n = len(x)
    slope, intercept = np.polyfit(x, y, 1)
    fit = intercept + slope * grid
    resid = y - (intercept + slope * x)
    s2 = float(resid @ resid) / max(n - 2, 1)
    sxx = float(((x - x.mean()) ** 2).sum())
    half = stats.t.ppf((1 + level) / 2, max(n - 2, 1)) * np.sqrt(s2 * (1 / n + (grid - x.mean()) ** 2 / sxx))
    return fit, fit - half, fit + half


def plot_classwise_scatter(
    classwise: pd.DataFrame,
    variable: str,
    *,
    y: str = "AP",
    correlations: pd.DataFrame | None = None,
    method: str = "pearson",
    annotate: int = 0,
    color: str | None = None,
    labels: Mapping[str, str] | None = None,
    log_x: bool | None = None,
    title: str | None = None,
    few_positives: int = 5,
    min_fit_points: int = 5,
    ax=None,
):
    """Class-wise correlation (Sec. 3.2): one point per category, the fit with its 95% band, r and p.

    Parameters
    ----------
    classwise
        :func:`salanalysis.stats.classwise_table` output (category, ``variable``, ``y``).
    variable
        x: a class mean (``area_frac``, ``center_dist``, ``sal_max_NAME``).
    y
        y: the class's AP (default).
    correlations
        :func:`salanalysis.stats.classwise_correlations` output; the row for
        (``variable``, ``method``, target ``y``) gives r, p and n. Without it, r and
        p come from :func:`scipy.stats.pearsonr` on the plotted points. They are
        written above the axes, where they hide no point.
    annotate
        Label the ``annotate`` categories farthest from the line by name.
    labels
        Display names of saliency sources (axis label).
    log_x
        Log-scale x (default: on for sizes).
    title
        A title above the statistics line (both above the axes, left-aligned); with a
        title the x label is just "class mean" (the title names the variable).
    few_positives
        With an ``n_pos`` column (positive images per class), points are sized by it (area
        proportional) and classes with fewer positives than this are drawn hollow.
    min_fit_points
        No fitted line or band with fewer points than this (a line through 4 points says little).

    The line is the least-squares fit of y on x with the 95% confidence band of its mean
    (t interval). Points are semi-transparent and not clipped, so classes at AP = 1 stay
    visible. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(classwise, [variable, y], "class-wise table")
    d = classwise[[variable, y] + [c for c in ("category", "n_pos") if c in classwise.columns]]
    d = d[np.isfinite(d[variable].to_numpy(float)) & np.isfinite(d[y].to_numpy(float))]
    if log_x is None:
        log_x = variable in ("area_frac", "area_px")
    if log_x:
        d = d[d[variable] > 0]
    xs, ys = d[variable].to_numpy(float), d[y].to_numpy(float)
    fx = np.log10(xs) if log_x else xs  # the fit is linear in what the axis shows
    color = color or OKABE_ITO["black"]
    if "n_pos" in d.columns:
        npos = d["n_pos"].to_numpy(float)
        sizes = 4 + 60 * npos / max(float(np.nanmax(npos)), 1.0) if len(npos) else npos
        few = npos < few_positives
        ax.scatter(xs[~few], ys[~few], s=sizes[~few], color=color, alpha=0.6, linewidths=0, clip_on=False,
                   zorder=3, label="class (area: positive images)")
        ax.scatter(xs[few], ys[few], s=np.maximum(sizes[few], 9), facecolors="none", edgecolors=color,
                   alpha=0.8, linewidths=0.6, clip_on=False, zorder=3,
                   label=f"class with < {few_positives} positive images")
    else:
        ax.scatter(xs, ys, s=10, color=color, alpha=0.6, linewidths=0, clip_on=False, zorder=3)
    r = p = np.nan
    n = len(xs)
    if correlations is not None and "target" in correlations.columns:
        correlations = correlations[correlations["target"] == y]
    if correlations is not None and len(correlations):
        require_columns(correlations, ["variable", "method", "r", "p_val"], "class-wise correlations")
        row = correlations[(correlations["variable"] == variable) & (correlations["method"] == method)]
        if len(row):
            r, p = float(row["r"].iloc[0]), float(row["p_val"].iloc[0])
            n = int(row["n"].iloc[0]) if "n" in row.columns else n
    elif n > 2 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
        from scipy import stats

        res = stats.pearsonr(xs, ys)
        r, p = float(res.statistic), float(res.pvalue)
    sym = "r" if method == "pearson" else ("rho" if method == "spearman" else "partial r")
    stats_line = f"{sym} = {r:.2f}, {format_p(p, spaced=True)}, n = {n}"
    ax.set_title(f"{plain_text(title)}\n{stats_line}" if title else stats_line, loc="left",
                 fontsize=MIN_FONT_PT + 1)
    if len(fx) >= max(min_fit_points, 3) and np.ptp(fx) > 0:
        grid = np.linspace(fx.min(), fx.max(), 50)
        fit, lo, hi = _fit_band(fx, ys, grid)
        gx = 10**grid if log_x else grid
        ax.fill_between(gx, lo, hi, color=color, alpha=0.15, linewidth=0, label="95% band of the fit")
        ax.plot(gx, fit, color=color, linewidth=1.0, label="least-squares fit")
        if annotate and "category" in d.columns:
            slope, intercept = np.polyfit(fx, ys, 1)
            resid = np.abs(ys - (intercept + slope * fx))
            for i in np.argsort(-resid)[:annotate]:
                ax.annotate(str(d["category"].iloc[i]), (xs[i], ys[i]), fontsize=MIN_FONT_PT,
                            xytext=(2, 2), textcoords="offset points")
    if log_x:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        from salanalysis.formatting import format_number

        ax.set_xscale("log")
        # plain numbers (0.001, 0.01), as every table prints them: no 10^-3 whose exponent is under 6 pt
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(("class mean" + (" (log axis)" if log_x else "")) if title else
                  f"class mean {variable_label(variable, labels)}")
    ax.set_ylabel("class AP" if y == "AP" else y)
    return ax


