"""Fig. 2: detected (tp) vs missed (fn) objects, means and distributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns
from salanalysis.formatting import format_p
from salanalysis.plotting.style import (
    MIN_FONT_PT,
    OUTCOME_COLORS,
    _ax,
    plain_text,
    variable_label,
)


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
        n, mean, sem, ...); ``group`` is ``'detected'`` or ``'missed'``. With a ``unit``
        column, only ``unit == "object"`` (the paper's) is drawn.
    variable
        The variable to draw (``area_frac``, ``center_dist``, ``sal_max_NAME``...).
    models
        Which models, in order (default: all in the table, in order of appearance).
    labels
        Display names of models and saliency sources.
    tests
        Optional :func:`salanalysis.stats.tpfn_tests` output: the row of ``test``
        for each model is written above its bars (statistic and p).
    test, p_column, stat_label
        Which test's row to annotate, which p-value column to show (``p_val`` or
        ``p_holm``) and how to name the statistic (e.g. ``"clustered t"``). A row outside
        the Holm family (``p_holm`` NaN, e.g. a control source) shows its unadjusted
        ``p_val``, labelled ``p(unadj.)``.

    Bars are means, error bars one standard error of the mean (as the paper);
    each tick says tp/fn and n. Returns ``ax``.
    """
    ax = _ax(ax)
    require_columns(descriptives, ["model", "variable", "group", "n", "mean", "sem"], "tp/fn descriptives")
    d = descriptives[descriptives["variable"] == variable]
    if "unit" in d.columns:
        d = d[d["unit"] == "object"]
    if d.empty:
        raise ValueError(f"no descriptives for variable {variable!r}")
    models = list(models) if models is not None else list(dict.fromkeys(d["model"]))
    labels = dict(labels or {})
    ticks, ticklabels = [], []
    x = 0.0
    for mi, model in enumerate(models):
        dm = d[d["model"] == model]
        center = []
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
            center.append(x)
            x += 1.0
        if len(models) > 1 or tests is not None:
            text = plain_text(labels.get(model, model)) if len(models) > 1 else ""
            if tests is not None and len(tests):
                require_columns(tests, ["model", "variable", "test", "statistic", p_column], "tp/fn tests")
                tr = tests[(tests["model"] == model) & (tests["variable"] == variable) & (tests["test"] == test)]
                if "unit" in tr.columns:
                    tr = tr[tr["unit"] == "object"]
                if len(tr):
                    stat = float(tr["statistic"].iloc[0])
                    pv = float(tr[p_column].iloc[0])
                    p = format_p(pv, spaced=True)
                    if p_column == "p_holm" and not np.isfinite(pv) and "p_val" in tr.columns:
                        # outside the Holm family (a control source, area_px): the unadjusted p, said so
                        p = format_p(float(tr["p_val"].iloc[0]), spaced=True).replace("p ", "p(unadj.) ", 1)
                    elif p_column == "p_holm":
                        p = p.replace("p ", "p(Holm) ", 1)
                    shown = "n/a" if not np.isfinite(stat) else f"{stat:.2f}"
                    sep = ", " if stat_label == "t" else "\n"
                    text = (text + "\n" if text else "") + f"{stat_label} = {shown}{sep}{p}"
            if text:
                ax.text(float(np.mean(center)), 1.0, text, transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=MIN_FONT_PT + 0.5)
        x += 0.5
    ax.set_xticks(ticks, ticklabels)
    ax.set_ylabel(plain_text(f"mean {variable_label(variable, labels)}"))
    ax.set_xlim(-0.7, x - 0.8)
    return ax


def plot_tpfn_distribution(
    objects: pd.DataFrame,
    variable: str,
    model: str,
    *,
    log: bool | None = None,
    labels: Mapping[str, str] | None = None,
    min_violin: int = 20,
    seed: int = 0,
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
    labels
        Display names of saliency sources (axis labels).
    min_violin
        A group with fewer objects is drawn as its individual points (jittered
        horizontally, seeded), not as a violin: a violin of a handful of points invents
        a shape.

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
    rng = np.random.default_rng(seed)
    for i, (group, short, v) in enumerate(groups):
        v = v[np.isfinite(v)]
        if log:
            v = v[v > 0]
        ticklabels.append(f"{short}\nn={len(v)}")
        if len(v) == 0:
            continue
        y = np.log10(v) if log else v
        if len(v) < min_violin:
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(y)), y, s=9, color=OUTCOME_COLORS[group],
                       edgecolors="black", linewidths=0.3, zorder=3)
            continue
        if np.ptp(y) > 0:
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
    label = variable_label(variable, labels)
    ax.set_ylabel(plain_text(f"log10 {label}" if log else label))
    return ax


