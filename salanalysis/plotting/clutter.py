"""Fig. 3: mAP and the prevalence-free mean ROC AUC per number of objects in the image, and the histogram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.plotting.style import (
    NEUTRAL,
    OKABE_ITO,
    _ax,
    group_label,
    model_colors,
    plain_text,
)

#: Line style and marker per model, in the order models are listed: two models stay apart in grayscale
#: (the chance line is dashed grey, the random-ranking line dotted grey).
MODEL_STYLES: tuple[tuple[Any, str], ...] = (("-", "o"), ("-.", "s"), ((0, (1, 1)), "^"),
                                             ((0, (4, 1, 1, 1, 1, 1)), "D"))


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
        table has them, else of the per-group mAP (``ci95_low``/``ci95_high``). A
        value of the line outside its own band is marked with an open circle.
    chance
        Draw ``chance_mAP`` (the expected mAP of a random ranking of each group's
        images, the same for every model) as a dashed grey line: where mAP follows it,
        its rise is prevalence, not ranking.

    x ticks are the groups' labels (the last may be a tail group ``≥K``). The legend
    says what the lines, points and bands are. Returns ``ax``.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax = _ax(ax)
    require_columns(clutter, ["model", "group", "n_objects", "mAP"], "clutter table")
    models = list(models) if models is not None else list(dict.fromkeys(clutter["model"]))
    colors = dict(colors or model_colors(models))
    labels = dict(labels or {})
    order = clutter.drop_duplicates("n_objects").sort_values("n_objects")
    pos = {int(k): i for i, k in enumerate(order["n_objects"])}
    handles = []
    any_outside = False
    for j, model in enumerate(models):
        d = clutter[clutter["model"] == model].sort_values("n_objects")
        if d.empty:
            continue
        xs = np.array([pos[int(k)] for k in d["n_objects"]], dtype=float)
        c = colors.get(model, OKABE_ITO["black"])
        ls, mk = MODEL_STYLES[j % len(MODEL_STYLES)]
        lo_col, hi_col = "ci95_low", "ci95_high"
        if smoothed and {"ci95_low_smoothed", "ci95_high_smoothed"} <= set(d.columns):
            lo_col, hi_col = "ci95_low_smoothed", "ci95_high_smoothed"
        ycol = "mAP_smoothed" if smoothed and "mAP_smoothed" in d.columns else "mAP"
        yv = d[ycol].to_numpy(float)
        if bands and {lo_col, hi_col} <= set(d.columns):
            lo, hi = d[lo_col].to_numpy(float), d[hi_col].to_numpy(float)
            ax.fill_between(xs, lo, hi, color=c, alpha=0.2, linewidth=0)
            out = np.isfinite(lo) & np.isfinite(hi) & ((yv < lo - 1e-12) | (yv > hi + 1e-12))
            if out.any():
                any_outside = True
                ax.plot(xs[out], yv[out], linestyle="none", marker="o", markersize=6, markerfacecolor="none",
                        markeredgecolor="black", markeredgewidth=0.8, zorder=4)
        ax.plot(xs, yv, color=c, linestyle=ls, marker=None if smoothed else mk, markersize=3)
        if smoothed:
            ax.plot(xs, d["mAP"].to_numpy(float), linestyle="none", marker=mk, markersize=2.5, color=c, alpha=0.7)
        handles.append(Line2D([], [], color=c, linestyle=ls, marker=mk, markersize=2.5,
                              label=plain_text(labels.get(model, model))))
    if smoothed:
        handles.append(Line2D([], [], color="black", linestyle="none", marker="o", markersize=2.5,
                              label="dots: mAP per group; lines: smoothed"))
    if bands:
        handles.append(Patch(color=NEUTRAL, alpha=0.35, label="band: bootstrap 95% interval"))
    if any_outside:
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="black",
                              label="outside its own band"))
    if chance and "chance_mAP" in clutter.columns and order["chance_mAP"].notna().any():
        ax.plot(np.arange(len(order)), order["chance_mAP"].to_numpy(float), color=NEUTRAL, linestyle="--",
                linewidth=0.9, label="chance (random ranking)")
        handles.append(Line2D([], [], color=NEUTRAL, linestyle="--", label="chance (random ranking)"))
    ax.set_xticks(range(len(order)), [group_label(g) for g in order["group"]])
    ax.set_xlabel("objects in the image")
    ax.set_ylabel("mAP")
    ax.legend(handles=handles, loc="best")
    return ax


def plot_clutter_auc(
    clutter: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    bands: bool = True,
    ax=None,
):
    """Fig. 3c: the prevalence-free mean ROC AUC per group, beside Fig. 3a's mAP.

    Parameters
    ----------
    clutter
        :func:`salanalysis.clutter.clutter_map` output with ``mAUC`` (and, for the bands,
        ``mAUC_ci95_low``/``mAUC_ci95_high``).
    bands
        Shade the bootstrap 95% interval of each group's mean ROC AUC.

    One line with points per model, in the model's colour; a dotted grey line at 0.5 (any
    random ranking, whatever the prevalence). Where mAP rises and this line stays flat,
    the rise of mAP is prevalence, not ranking quality. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(clutter, ["model", "group", "n_objects", "mAUC"], "clutter table")
    models = list(models) if models is not None else list(dict.fromkeys(clutter["model"]))
    colors = dict(colors or model_colors(models))
    labels = dict(labels or {})
    order = clutter.drop_duplicates("n_objects").sort_values("n_objects")
    pos = {int(k): i for i, k in enumerate(order["n_objects"])}
    for j, model in enumerate(models):
        d = clutter[clutter["model"] == model].sort_values("n_objects")
        if d.empty:
            continue
        xs = np.array([pos[int(k)] for k in d["n_objects"]], dtype=float)
        c = colors.get(model, OKABE_ITO["black"])
        ls, mk = MODEL_STYLES[j % len(MODEL_STYLES)]
        if bands and {"mAUC_ci95_low", "mAUC_ci95_high"} <= set(d.columns):
            ax.fill_between(xs, d["mAUC_ci95_low"].to_numpy(float), d["mAUC_ci95_high"].to_numpy(float), color=c,
                            alpha=0.2, linewidth=0)
        ax.plot(xs, d["mAUC"].to_numpy(float), color=c, linestyle=ls, marker=mk, markersize=3,
                label=labels.get(model, model))
    ax.axhline(0.5, color=NEUTRAL, linestyle=":", linewidth=0.9, label="random ranking (0.5)")
    ax.set_xticks(range(len(order)), [group_label(g) for g in order["group"]])
    ax.set_xlabel("objects in the image")
    ax.set_ylabel("mean ROC AUC (prevalence-free)")
    return ax


def plot_objects_histogram(hist: pd.DataFrame, *, ax=None, color: str | None = None):
    """Fig. 3b: histogram of the number of (non-crowd) objects per image (integer axes).

    Parameters
    ----------
    hist
        :func:`salanalysis.clutter.objects_histogram` output (n_objects, n_images).

    Returns ``ax``.
    """
    from matplotlib.ticker import MaxNLocator

    ax = _ax(ax)
    require_columns(hist, ["n_objects", "n_images"], "objects histogram")
    ax.bar(hist["n_objects"].to_numpy(), hist["n_images"].to_numpy(), width=0.9,
           color=color or OKABE_ITO["sky_blue"])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("objects in the image")
    ax.set_ylabel(f"images (total {int(hist['n_images'].sum())})")
    return ax


