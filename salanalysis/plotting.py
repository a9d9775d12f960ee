"""Figures of the paper, drawn from the tidy tables of the analysis modules.

Every plot function takes a table (in the documented shape of the module that
computes it) and an optional ``ax``, draws on it and returns it: nothing is
computed beyond what drawing needs (means, intervals and tests come from
:mod:`salanalysis.stats`, :mod:`salanalysis.clutter`, :mod:`salanalysis.compare`),
nothing is saved, and no global state changes at import.

Styling comes from one explicit context, :func:`paper_style`; saving from one
function, :func:`save_figure`, which writes a PDF with TrueType fonts embedded
(``pdf.fonttype`` 42) and a 300-dpi PNG, each atomically.

Colours come from the colour-blind-safe Okabe-Ito palette: outcomes always use
:data:`OUTCOME_COLORS` (detected = blue, missed = vermillion) and models get a
fixed colour from :func:`model_colors` in the order they are listed (the same
order in every figure of a run).

=================================  =========================================
paper figure                       function (input table)
=================================  =========================================
Fig. 2a-c (tp vs fn, SEM bars)     :func:`plot_tpfn_means` (``stats.tpfn_descriptives``)
Fig. 2, distribution beside        :func:`plot_tpfn_distribution` (object table)
Sec. 3.2 class-wise correlations   :func:`plot_classwise_scatter` (``stats.classwise_table``)
Fig. 3a (mAP vs objects)           :func:`plot_clutter` (``clutter.clutter_map``)
Fig. 3b (histogram)                :func:`plot_objects_histogram` (``clutter.objects_histogram``)
Fig. 4 (per-category AP delta)     :func:`plot_category_delta` (``compare.compare_categories``)
Fig. 5 (CAMs and confidences)      :func:`plot_cam_example`, :func:`cam_figure` (CAM manifest)
=================================  =========================================
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.formatting import format_p

__all__ = [
    "OKABE_ITO",
    "OUTCOME_COLORS",
    "COLUMN_WIDTH",
    "PAGE_WIDTH",
    "model_colors",
    "paper_style",
    "new_figure",
    "save_figure",
    "variable_label",
    "plot_tpfn_means",
    "plot_tpfn_distribution",
    "plot_classwise_scatter",
    "plot_clutter",
    "plot_objects_histogram",
    "plot_category_delta",
    "plot_cam_example",
    "cam_figure",
]

#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008), by name.
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

#: Figure widths in inches: one column and a full page of a two-column paper.
COLUMN_WIDTH = 3.3
PAGE_WIDTH = 6.9

_STYLE: dict[str, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
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


def new_figure(width: str | float = "column", height: float | None = None, nrows: int = 1,
               ncols: int = 1, **kws: Any):
    """A figure of the paper's widths: ``"column"`` (3.3 in) or ``"page"`` (6.9 in).

    Returns ``(fig, axes)`` as :func:`matplotlib.pyplot.subplots`.
    """
    import matplotlib.pyplot as plt

    w = {"column": COLUMN_WIDTH, "page": PAGE_WIDTH}.get(width, width) if isinstance(width, str) else width
    if isinstance(w, str):
        raise ValueError(f"width must be 'column', 'page' or inches, got {width!r}")
    h = height if height is not None else 2.4 * nrows
    return plt.subplots(nrows, ncols, figsize=(float(w), float(h)), **kws)


def save_figure(fig, path: str | os.PathLike, *, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    """Write ``fig`` as PDF (TrueType fonts, ``pdf.fonttype`` 42) and 300-dpi PNG.

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
                fig.savefig(tmp, format=fmt, dpi=300, bbox_inches="tight", pad_inches=0.02,
                            metadata={"CreationDate": None} if fmt == "pdf" else None)
            out.append(target)
    return out


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def variable_label(variable: str) -> str:
    """Short axis label of an object-table variable."""
    fixed = {
        "area_frac": "size (image fraction)",
        "area_px": "size (pixels)",
        "center_dist": "distance to centre",
        "n_objects": "objects in the image",
    }
    if variable in fixed:
        return fixed[variable]
    for prefix, text in (("sal_max_", "max saliency"), ("sal_mean_", "mean saliency")):
        if variable.startswith(prefix):
            return f"{text} ({variable[len(prefix):]})"
    return variable


# ------------------------------------------------------------------ Fig. 2
def plot_tpfn_means(
    descriptives: pd.DataFrame,
    variable: str,
    *,
    models: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    tests: pd.DataFrame | None = None,
    test: str = "student_t",
    p_column: str = "p_val",
    stat_label: str = "t",
    ax=None,
):
    """Fig. 2a-c: mean of a variable for detected (tp) and missed (fn) objects.

    Parameters
    ----------
    descriptives
        :func:`salanalysis.stats.tpfn_descriptives` output (model, variable, group,
        n, mean, sem, ...); ``group`` is ``'detected'`` or ``'missed'``.
    variable
        The variable to draw (``area_frac``, ``center_dist``, ``sal_max_NAME``...).
    models
        Which models, in order (default: all in the table, in order of appearance).
    labels
        Display names of models.
    tests
        Optional :func:`salanalysis.stats.tpfn_tests` output: the row of ``test``
        for each model is written above its bars (statistic and p).
    test, p_column, stat_label
        Which test's row to annotate, which p-value column to show (``p_val`` or
        ``p_holm``) and how to name the statistic (e.g. ``"clustered t"``).

    Bars are means, error bars one standard error of the mean (as the paper);
    each tick says tp/fn and n. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(descriptives, ["model", "variable", "group", "n", "mean", "sem"], "tp/fn descriptives")
    d = descriptives[descriptives["variable"] == variable]
    if d.empty:
        raise ValueError(f"no descriptives for variable {variable!r}")
    models = list(models) if models is not None else list(dict.fromkeys(d["model"]))
    labels = dict(labels or {})
    ticks, ticklabels = [], []
    x = 0.0
    for mi, model in enumerate(models):
        dm = d[d["model"] == model]
        centre = []
        for group, short in (("detected", "tp"), ("missed", "fn")):
            row = dm[dm["group"] == group]
            n = int(row["n"].iloc[0]) if len(row) else 0
            mean = float(row["mean"].iloc[0]) if len(row) and n > 0 else np.nan
            sem = float(row["sem"].iloc[0]) if len(row) and n > 1 else np.nan
            ax.bar(x, 0.0 if np.isnan(mean) else mean, width=0.8, color=OUTCOME_COLORS[group],
                   label=f"{group} ({short})" if mi == 0 else None)
            if np.isfinite(mean) and np.isfinite(sem):
                ax.errorbar(x, mean, yerr=sem, fmt="none", ecolor="black", elinewidth=0.8)
            ticks.append(x)
            ticklabels.append(f"{short}\nn={n}")
            centre.append(x)
            x += 1.0
        if len(models) > 1 or tests is not None:
            text = labels.get(model, model) if len(models) > 1 else ""
            if tests is not None and len(tests):
                require_columns(tests, ["model", "variable", "test", "statistic", "p_val"], "tp/fn tests")
                tr = tests[(tests["model"] == model) & (tests["variable"] == variable)
                           & (tests["test"] == test)]
                if len(tr):
                    stat = float(tr["statistic"].iloc[0])
                    p = format_p(float(tr[p_column].iloc[0]), spaced=True)
                    if p_column == "p_holm":
                        p = p.replace("p ", "p(Holm) ", 1)
                    sep = ", " if stat_label == "t" else "\n"
                    text = (text + "\n" if text else "") + f"{stat_label} = {stat:.2f}{sep}{p}"
            if text:
                ax.text(float(np.mean(centre)), 1.0, text, transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize="small")
        x += 0.5
    ax.set_xticks(ticks, ticklabels)
    ax.set_ylabel(f"mean {variable_label(variable)}")
    ax.set_xlim(-0.7, x - 0.8)
    return ax


def plot_tpfn_distribution(
    objects: pd.DataFrame,
    variable: str,
    model: str,
    *,
    log: bool | None = None,
    ax=None,
):
    """Distribution of a variable for detected and missed objects (beside Fig. 2).

    Parameters
    ----------
    objects
        The object table (needs ``variable`` and ``detected_<model>``).
    variable, model
        Column to draw and the score set whose outcome splits the objects.
    log
        Log-scale axis (default: on for ``area_frac`` and ``area_px``).

    Draws a violin and a box (median, quartiles) per outcome; NaN values (for
    instance objects without a saliency map) are left out and the tick's n says
    how many objects are drawn. Returns ``ax``.
    """
    ax = _ax(ax)
    col = f"detected_{model}"
    require_columns(objects, [variable, col], "object table")
    if log is None:
        log = variable in ("area_frac", "area_px")
    det = objects[col].astype(bool).to_numpy()
    vals = objects[variable].to_numpy(dtype=float)
    groups = [("detected", "tp", vals[det]), ("missed", "fn", vals[~det])]
    ticklabels = []
    for i, (group, short, v) in enumerate(groups):
        v = v[np.isfinite(v)]
        if log:
            v = v[v > 0]
        ticklabels.append(f"{short}\nn={len(v)}")
        if len(v) == 0:
            continue
        y = np.log10(v) if log else v
        if len(v) > 1 and np.ptp(y) > 0:
            parts = ax.violinplot([y], positions=[i], widths=0.8, showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(OUTCOME_COLORS[group])
                body.set_edgecolor(OUTCOME_COLORS[group])
                body.set_alpha(0.45)
        ax.boxplot([y], positions=[i], widths=0.18, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": OUTCOME_COLORS[group], "edgecolor": "black", "linewidth": 0.6},
                   medianprops={"color": "white", "linewidth": 1.0},
                   whiskerprops={"linewidth": 0.6}, capprops={"linewidth": 0.6})
    ax.set_xticks([0, 1], ticklabels)
    ax.set_xlim(-0.6, 1.6)
    label = variable_label(variable)
    ax.set_ylabel(f"log10 {label}" if log else label)
    return ax


# ------------------------------------------------------- class-wise scatter
def plot_classwise_scatter(
    classwise: pd.DataFrame,
    variable: str,
    *,
    y: str = "AP",
    correlations: pd.DataFrame | None = None,
    method: str = "pearson",
    annotate: int = 0,
    color: str | None = None,
    ax=None,
):
    """Class-wise correlation (Sec. 3.2): one point per category, fitted line, r and p.

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
        (``variable``, ``method``) gives r, p and n in the legend. Without it, r and
        p come from :func:`scipy.stats.pearsonr` on the plotted points. They are
        written in the lower-left corner.
    annotate
        Label the ``annotate`` categories farthest from the line by name.

    The line is the least-squares fit of y on x. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(classwise, [variable, y], "class-wise table")
    d = classwise[[variable, y] + (["category"] if "category" in classwise.columns else [])]
    d = d[np.isfinite(d[variable].to_numpy(float)) & np.isfinite(d[y].to_numpy(float))]
    xs, ys = d[variable].to_numpy(float), d[y].to_numpy(float)
    color = color or OKABE_ITO["black"]
    ax.scatter(xs, ys, s=10, color=color, alpha=0.8, linewidths=0)
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
    if n > 1 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        sym = "r" if method == "pearson" else ("rho" if method == "spearman" else "partial r")
        ax.plot(grid, intercept + slope * grid, color=color, linewidth=1.0, label="least-squares fit")
        ax.text(0.03, 0.03, f"{sym} = {r:.3f}\n{format_p(p, spaced=True)}\nn = {n}", transform=ax.transAxes,
                ha="left", va="bottom", fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0})
        if annotate and "category" in d.columns:
            resid = np.abs(ys - (intercept + slope * xs))
            for i in np.argsort(-resid)[:annotate]:
                ax.annotate(str(d["category"].iloc[i]), (xs[i], ys[i]), fontsize=5,
                            xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(f"class mean {variable_label(variable)}" if len(variable_label(variable)) < 18
                  else variable_label(variable))
    ax.set_ylabel("class AP" if y == "AP" else y)
    return ax


# ------------------------------------------------------------------ Fig. 3
def plot_clutter(
    clutter: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    smoothed: bool = True,
    bands: bool = True,
    chance: bool = True,
    ax=None,
):
    """Fig. 3a: mAP against the number of objects in the image, one line per model.

    Parameters
    ----------
    clutter
        :func:`salanalysis.clutter.clutter_map` output (model, group, n_objects,
        is_tail, n_images, mAP, mAP_smoothed, ci95_low, ci95_high).
    smoothed
        Draw ``mAP_smoothed`` (the paper's [1/3, 1/3, 1/3] moving average with
        boundary padding) as the line and the raw ``mAP`` as points.
    bands
        Shade the bootstrap 95% band: of the smoothed curve
        (``ci95_low_smoothed``/``ci95_high_smoothed``) when ``smoothed`` and the
        table has them, else of the per-group mAP (``ci95_low``/``ci95_high``).
    chance
        Draw ``chance_mAP`` (the expected mAP of a random ranking of each group's
        images, the same for every model) as a dashed grey line: where mAP follows it,
        its rise is prevalence, not ranking.

    x ticks are the groups' labels (the last may be a tail group ``>=K``).
    Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(clutter, ["model", "group", "n_objects", "mAP"], "clutter table")
    models = list(models) if models is not None else list(dict.fromkeys(clutter["model"]))
    colors = dict(colors or model_colors(models))
    labels = dict(labels or {})
    order = clutter.drop_duplicates("n_objects").sort_values("n_objects")
    pos = {int(k): i for i, k in enumerate(order["n_objects"])}
    for model in models:
        d = clutter[clutter["model"] == model].sort_values("n_objects")
        if d.empty:
            continue
        xs = np.array([pos[int(k)] for k in d["n_objects"]], dtype=float)
        c = colors.get(model, OKABE_ITO["black"])
        lo_col, hi_col = "ci95_low", "ci95_high"
        if smoothed and {"ci95_low_smoothed", "ci95_high_smoothed"} <= set(d.columns):
            lo_col, hi_col = "ci95_low_smoothed", "ci95_high_smoothed"
        if bands and {lo_col, hi_col} <= set(d.columns):
            ax.fill_between(xs, d[lo_col].to_numpy(float), d[hi_col].to_numpy(float),
                            color=c, alpha=0.2, linewidth=0)
        ycol = "mAP_smoothed" if smoothed and "mAP_smoothed" in d.columns else "mAP"
        ax.plot(xs, d[ycol].to_numpy(float), color=c, marker=None if smoothed else "o", markersize=3,
                label=labels.get(model, model))
        if smoothed:
            ax.plot(xs, d["mAP"].to_numpy(float), linestyle="none", marker="o", markersize=2.5,
                    color=c, alpha=0.7)
    if chance and "chance_mAP" in clutter.columns and order["chance_mAP"].notna().any():
        ax.plot(np.arange(len(order)), order["chance_mAP"].to_numpy(float), color=NEUTRAL, linestyle="--",
                linewidth=0.9, label="chance (random ranking)")
    ax.set_xticks(range(len(order)), [str(g) for g in order["group"]])
    ax.set_xlabel("objects in the image")
    ax.set_ylabel("mAP")
    ax.legend(loc="best")
    return ax


def plot_objects_histogram(hist: pd.DataFrame, *, ax=None, color: str | None = None):
    """Fig. 3b: histogram of the number of (non-crowd) objects per image.

    Parameters
    ----------
    hist
        :func:`salanalysis.clutter.objects_histogram` output (n_objects, n_images).

    Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(hist, ["n_objects", "n_images"], "objects histogram")
    ax.bar(hist["n_objects"].to_numpy(), hist["n_images"].to_numpy(), width=0.9,
           color=color or OKABE_ITO["sky_blue"])
    ax.set_xlabel("objects in the image")
    ax.set_ylabel(f"images (total {int(hist['n_images'].sum())})")
    return ax


# ------------------------------------------------------------------ Fig. 4
def plot_category_delta(
    compare: pd.DataFrame,
    *,
    label_a: str = "A",
    label_b: str = "B",
    color_a: str | None = None,
    color_b: str | None = None,
    ax=None,
):
    """Fig. 4: per-category AP difference (B - A), sorted, with 95% intervals.

    Parameters
    ----------
    compare
        :func:`salanalysis.compare.compare_categories` output (category, delta,
        ci95_low, ci95_high, verdict ...). Drawn sorted by delta, descending.
    label_a, label_b
        Names of the two models (A is the reference).
    color_a, color_b
        Model colours: a bar takes B's colour when B is better beyond noise, A's
        when worse beyond noise, grey within noise.

    Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(compare, ["category", "delta"], "category comparison")
    d = compare[np.isfinite(compare["delta"].to_numpy(float))]
    d = d.sort_values("delta", ascending=False, kind="stable")
    ca, cb = color_a or model_colors(["a", "b"])["a"], color_b or model_colors(["a", "b"])["b"]
    if "verdict" in d.columns:
        verdict = d["verdict"].astype(str).to_numpy()
    else:
        verdict = np.where(d["delta"] > 0, "improved", np.where(d["delta"] < 0, "worsened", "within noise"))
    cmap = {"improved": cb, "worsened": ca}
    colors = [cmap.get(v, NEUTRAL) for v in verdict]
    xs = np.arange(len(d))
    ax.bar(xs, d["delta"].to_numpy(float), width=0.8, color=colors)
    if {"ci95_low", "ci95_high"} <= set(d.columns):
        # drawn as the interval itself: a percentile interval need not contain the estimate
        lo, hi = d["ci95_low"].to_numpy(float), d["ci95_high"].to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(xs[ok], (lo[ok] + hi[ok]) / 2, yerr=(hi[ok] - lo[ok]) / 2, fmt="none",
                    ecolor="black", elinewidth=0.5, capsize=1.0)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(xs, [str(c) for c in d["category"]], rotation=90, fontsize=5)
    ax.set_xlim(-0.8, len(d) - 0.2)
    n_up, n_down = int((verdict == "improved").sum()), int((verdict == "worsened").sum())
    ax.set_ylabel("AP(B) - AP(A)")
    from matplotlib.patches import Patch

    handles = [Patch(color=cb, label=f"B = {label_b} better ({n_up})"),
               Patch(color=ca, label=f"A = {label_a} better ({n_down})"),
               Patch(color=NEUTRAL, label=f"within noise ({len(d) - n_up - n_down})")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
              title="error bars: 95% CI" if "ci95_low" in d.columns else None)
    return ax


# ------------------------------------------------------------------ Fig. 5
def _read_cam(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A CAM (``.npy`` array or grayscale image) resized to ``shape`` and min-max normalised."""
    from salanalysis.errors import InputError
    from salanalysis.maps import load_map

    try:
        return load_map(path, shape[0], shape[1])
    except InputError as exc:  # the map reader's words, for a CAM
        raise InputError(str(exc).replace("saliency map", "CAM")) from exc


def plot_cam_example(
    example: Mapping[str, Any],
    *,
    axes: Sequence | None = None,
    root: str | os.PathLike | None = None,
    labels: Mapping[str, str] | None = None,
    alpha: float = 0.5,
):
    """Fig. 5, one example: the image, then each model's CAM over it with its confidence.

    Parameters
    ----------
    example
        One record of the CAM manifest: ``image`` (image file), ``category``
        (the class), and ``models``: a list of ``{"model", "cam", "confidence"}``
        (``cam`` a ``.npy`` array or a grayscale image, any size; it is resized to
        the image and min-max normalised for display).
    axes
        ``1 + len(models)`` axes (default: a new row of axes in the current figure).
    root
        Folder that relative paths in the record are relative to.
    labels
        Display names of models.

    Returns
    -------
    list of Axes
    """
    import matplotlib.pyplot as plt

    models = list(example["models"])
    if axes is None:
        fig = plt.gcf()
        axes = fig.subplots(1, 1 + len(models))
    axes = list(np.ravel(axes))
    if len(axes) != 1 + len(models):
        raise ValueError(f"need {1 + len(models)} axes, got {len(axes)}")
    labels = dict(labels or {})
    base = Path(root) if root is not None else Path(".")

    def resolve(p):
        p = Path(p)
        return p if p.is_absolute() else base / p

    from salanalysis.images import read_image

    img = read_image(resolve(example["image"]), order="rgb")
    cat = str(example.get("category", ""))
    axes[0].imshow(img)
    axes[0].set_title(cat)
    for ax, m in zip(axes[1:], models):
        cam = _read_cam(resolve(m["cam"]), img.shape[:2])
        ax.imshow(img)
        ax.imshow(cam, cmap="viridis", alpha=alpha, vmin=0.0, vmax=1.0)
        name = labels.get(str(m["model"]), str(m["model"]))
        ax.set_title(f"{name}: {float(m['confidence']):.4f}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return axes


def cam_figure(manifest: Sequence[Mapping[str, Any]], *, root: str | os.PathLike | None = None,
               labels: Mapping[str, str] | None = None, max_examples: int = 4):
    """Fig. 5 layout: one row per example (image, CAM of each model with confidence).

    Parameters
    ----------
    manifest
        CAM manifest records (see :func:`plot_cam_example`), in display order.
    max_examples
        At most this many rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(manifest)[:max_examples]
    if not rows:
        raise ValueError("the CAM manifest holds no examples")
    ncols = 1 + max(len(r["models"]) for r in rows)
    fig, axes = new_figure("page", height=PAGE_WIDTH / ncols * 0.8 * len(rows), nrows=len(rows),
                           ncols=ncols, squeeze=False)
    for r, row_axes in zip(rows, axes):
        k = 1 + len(r["models"])
        plot_cam_example(r, axes=row_axes[:k], root=root, labels=labels)
        for ax in row_axes[k:]:
            ax.set_axis_off()
    return fig
