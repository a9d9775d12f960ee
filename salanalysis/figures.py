"""The paper's figures as whole figures, from result tables: one registry entry per figure.

Each entry of :data:`FIGURES` is a :class:`FigureSpec`: the figure's file name,
its title, the tables it needs, a function ``tables, context -> matplotlib
Figure`` and a function ``tables, context -> caption``. The tables are the ones
that ``salanalysis metrics``, ``stats``, ``clutter``, ``compare``, ``objects``
and ``cam`` write (and ``reproduce`` keeps); the :class:`FigureContext` says who
is who (labels, colours, the model of Fig. 2, the two compared models).

Below this module, :mod:`salanalysis.plotting` holds the axes-level functions
(``ax`` in, ``ax`` out), as seaborn splits figure-level from axes-level plots;
above it, :func:`salanalysis.reproduce.reproduce` and ``salanalysis plot`` loop
over the registry. Adding a figure is one drawing function, one caption
function and one entry in :data:`FIGURES`.

=========================  ==============================================================
figure                     tables it needs
=========================  ==============================================================
``fig2_tpfn``              ``objects``, ``tpfn_descriptives``, ``tpfn_tests``
``fig2_clutter``           ``objects`` (detection rate by size per clutter group)
``fig_classwise``          ``classwise``, ``classwise_correlations`` (``per_class``: sizes)
``fig3_clutter``           ``clutter_map``, ``objects_histogram``
``fig4_category_delta``    ``compare_categories``
``fig5_cam``               ``cam_manifest`` (with ``context.cam_root``)
``fig_gallery``            ``gallery`` (``gallery.csv`` of ``salanalysis gallery``, with ``context.gallery_root``)
=========================  ==============================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salanalysis.errors import InputError
from salanalysis.figure_tables import cam_records, cam_table, read_tables

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = [
    "FigureContext",
    "FigureSpec",
    "FIGURES",
    "FigureRun",
    "draw_figure",
    "render_figures",
    "read_tables",
    "cam_table",
    "cam_records",
]

Tables = Mapping[str, "pd.DataFrame"]


class _Plotting:
    """:mod:`salanalysis.plotting`, imported on first use (``salanalysis --help`` stays light)."""

    def __getattr__(self, name: str) -> Any:
        from salanalysis import plotting

        return getattr(plotting, name)


P = _Plotting()


@dataclass
class FigureContext:
    """Who is who in the figures.

    Attributes
    ----------
    labels
        Display label of each score set and saliency source, by name.
    models
        Score-set names in the order that fixes their colours (:func:`~salanalysis.plotting.model_colors`).
    primary
        The score set of Fig. 2 and the class-wise scatter (default: the first in the tables).
    compare
        ``(A, B)``: the reference and the assessed score set of Fig. 3 and 4.
    variables
        The object variables of Fig. 2 and the class-wise scatter (default:
        ``area_frac``, ``center_dist`` and every ``sal_max_NAME`` of the tables).
    threshold
        The detection threshold (captions).
    n_boot
        Bootstrap resamples (captions), when the tables do not say.
    cam_root
        The folder that the CAM manifest's relative paths start from.
    gallery_root
        The folder of ``gallery.csv`` (its thumbnails' paths start there).
    width
        ``"page"`` (6.875 in, the default) or ``"column"`` (3.25 in): the layout is made
        for that printed width, with no text under 6 pt.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    models: Sequence[str] = ()
    primary: str | None = None
    compare: tuple[str, str] | None = None
    variables: Sequence[str] | None = None
    threshold: float = 0.5
    n_boot: int | None = None
    cam_root: Path | None = None
    gallery_root: Path | None = None
    width: str = "page"

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def colors(self) -> dict[str, str]:
        return P.model_colors(list(self.models))


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the registry (see the module docstring)."""

    name: str
    title: str
    needs: tuple[str, ...]
    draw: Callable[[Tables, FigureContext], Any]
    caption: Callable[[Tables, FigureContext], str]

    def missing(self, tables: Tables) -> list[str]:
        """The tables this figure needs that ``tables`` lacks."""
        return [t for t in self.needs if t not in tables]


# ------------------------------------------------------------------ helpers
_PANEL = "abcdefghijklmnopqrstuvwxyz"


def _panel_title(var: str, labels: Mapping[str, str]) -> str:
    """A panel's title: the variable and its unit (the axis then says mean or value)."""
    if var.startswith("sal_max_"):
        return f"max saliency (0-1)\n{labels.get(var[8:], var[8:])}"
    return {"area_frac": "size\n(fraction of image area)",
            "center_dist": "distance to center\n(0 center, 1 corner)"}.get(var, var)


def _primary(tables: Tables, ctx: FigureContext, table: str) -> str:
    if ctx.primary:
        return ctx.primary
    t = tables[table]
    if "model" not in t.columns or t.empty:
        raise InputError(f"table {table} names no model: give the model (--model)")
    return str(t["model"].iloc[0])


def _variables(tables: Tables, ctx: FigureContext) -> list[str]:
    if ctx.variables is not None:
        return list(ctx.variables)
    if "tpfn_descriptives" in tables:
        found = list(dict.fromkeys(tables["tpfn_descriptives"]["variable"].astype(str)))
    else:
        found = [str(c) for c in tables["classwise"].columns]
    return [v for v in ("area_frac", "center_dist") if v in found] + [v for v in found if v.startswith("sal_max_")]


def _object_unit(t: pd.DataFrame) -> pd.DataFrame:
    """The paper's unit (every object) of a tp/fn table with a ``unit`` column."""
    return t[t["unit"] == "object"] if "unit" in t.columns else t


def _compared(tables: Tables, ctx: FigureContext) -> tuple[str, str]:
    if ctx.compare is not None:
        return ctx.compare
    attrs = tables["compare_categories"].attrs if "compare_categories" in tables else {}
    if "model_a" in attrs and "model_b" in attrs:
        return str(attrs["model_a"]), str(attrs["model_b"])
    if "clutter_difference" in tables and len(tables["clutter_difference"]):
        d = tables["clutter_difference"].iloc[0]
        return str(d["model_a"]), str(d["model_b"])
    return "A", "B"


def _color(colors: Mapping[str, str], name: str, position: int) -> str:
    return colors.get(name) or P.model_colors(["a", "b"])["ab"[position]]


# ------------------------------------------------------------------ Fig. 2
def _grid(n: int, width: str) -> tuple[int, int]:
    """Panels per row and rows for ``n`` panels at a width (2 per row in a column)."""
    per_row = n if width == "page" else min(n, 2)
    return per_row, -(-n // per_row)


def draw_fig2(tables: Tables, ctx: FigureContext):
    """Fig. 2: means (SEM bars) and distributions of detected vs missed objects, per variable."""
    m = _primary(tables, ctx, "tpfn_descriptives")
    desc, tests = _object_unit(tables["tpfn_descriptives"]), _object_unit(tables["tpfn_tests"])
    objects = tables["objects"]
    variables = _variables(tables, ctx)
    vt = _verdict_test(tests)
    verdict = vt is not None
    per_row, rows = _grid(len(variables), ctx.width)
    fig, axes = P.new_figure(ctx.width, height=(4.4 if ctx.width == "page" else 3.9) * rows, nrows=2 * rows,
                             ncols=per_row, squeeze=False)
    for j, var in enumerate(variables):
        top, bottom = axes[2 * (j // per_row), j % per_row], axes[2 * (j // per_row) + 1, j % per_row]
        P.plot_tpfn_means(desc, var, models=[m], tests=tests, labels=ctx.labels, ax=top,
                          **({"test": vt, "p_column": "p_holm", "stat_label": _VERDICT_LABELS.get(str(vt), str(vt))}
                             if verdict else {}))
        P.plot_tpfn_distribution(objects, var, m, labels=ctx.labels, ax=bottom)
        top.set_title(P.plain_text(f"({_PANEL[j]}) {_panel_title(var, ctx.labels)}"), loc="left",
                      pad=22 if verdict else 12)
        first = j % per_row == 0
        top.set_ylabel("mean (error bar: SEM)" if first else "")
        log = var in ("area_frac", "area_px")  # the log label only beside a log panel
        bottom.set_ylabel("log10 size" if log else ("value" if first else ""))
    for k in range(len(variables), per_row * rows):
        axes[2 * (k // per_row), k % per_row].set_axis_off()
        axes[2 * (k // per_row) + 1, k % per_row].set_axis_off()
    return fig


#: How Fig. 2 names each verdict test above its bars.
_VERDICT_LABELS = {"cluster2_ols": "clustered t", "within_category": "within-class t",
                   "cluster_ols": "clustered t"}

_VERDICT_CAPTIONS = {
    "cluster2_ols": "OLS of the variable on detection with standard errors clustered two-way by image and by "
                    "category (Cameron-Gelbach-Miller): objects of one image share its outcome, objects of one "
                    "class its typical value and detection rate",
    "within_category": "OLS of the variable on detection within categories (category fixed effects), standard "
                       "errors clustered by image",
    "cluster_ols": "OLS of the variable on detection with standard errors clustered by image: objects of one "
                   "image share its outcome",
}


def _verdict_test(tests: pd.DataFrame) -> str | None:
    """The test marked ``role = verdict`` in the object unit (or the image-clustered t of an older table)."""
    t = _object_unit(tests)
    if "role" in t.columns and (t["role"] == "verdict").any():
        return str(t.loc[t["role"] == "verdict", "test"].iloc[0])
    return "cluster_ols" if "cluster_ols" in set(t["test"]) else None


def caption_fig2(tables: Tables, ctx: FigureContext) -> str:
    m = _primary(tables, ctx, "tpfn_descriptives")
    desc = _object_unit(tables["tpfn_descriptives"])
    vt = _verdict_test(tables["tpfn_tests"])
    verdict = vt is not None
    n_ex = {v: int(desc[(desc.model == m) & (desc.variable == v)]["n_excluded_nan"].iloc[0])
            for v in _variables(tables, ctx)}
    ex = "; ".join(f"{v}: {k} objects without a value left out" for v, k in n_ex.items() if k)
    return (f"Detected (true positive, tp) and missed (false negative, fn) objects of '{ctx.label(m)}' at score >= "
            f"{ctx.threshold}. Top: means with error bars of one standard error of the mean (as the paper); "
            f"ticks give n; above: " + (
                f"the verdict, the {_VERDICT_LABELS.get(str(vt), str(vt))} ({_VERDICT_CAPTIONS.get(str(vt), str(vt))}) and its p, "
                "Holm-adjusted over one family: size, center distance and the human saliency sources of this model "
                "(a control map such as the center bias is outside it and shows its unadjusted p); the "
                "difference's interval in the tests table is an unadjusted 95% interval (the paper's object-level "
                "Student t, anti-conservative under such clustering, is in the tests table too)"
                if verdict else "Student's unpaired t (detected minus missed) and p") +
            ". Bottom: the "
            "distributions (violin; box = quartiles, white line = median); the size panel shows log10 of the "
            "size (labelled so), the others their values. "
            "Size: mask area / image area; distance to center: from the image "
            "center to the mask's centroid as a fraction of half the image diagonal (0 at the center, 1 at a "
            "corner); saliency: maximum of the map (normalised to [0, 1]) inside the object's mask; a group of "
            "fewer than 20 objects is drawn as its points. "
            + (ex + "." if ex else ""))


# ------------------------------------------------------- class-wise scatter
def draw_classwise(tables: Tables, ctx: FigureContext):
    """Sec. 3.2: class means against class AP, one panel per variable (shared AP axis), fit, band, the
    paper's r and the verdict (partial r controlling prevalence, Holm)."""
    import numpy as np

    from salanalysis.formatting import format_p

    m = _primary(tables, ctx, "classwise")
    cw, corr = tables["classwise"], tables["classwise_correlations"]
    if "model" in cw.columns:
        cw = cw[cw["model"] == m]
        corr = corr[corr["model"] == m]
    pc = tables.get("per_class")
    if pc is not None and "n_pos" in pc.columns and "n_pos" not in cw.columns:  # points sized by positives
        pc = pc[pc["model"] == m] if "model" in pc.columns else pc
        cw = cw.assign(n_pos=cw["category"].map(pc.drop_duplicates("category").set_index("category")["n_pos"]))
    variables = _variables(tables, ctx)
    color = ctx.colors().get(m, P.OKABE_ITO["black"])
    per_row, rows = _grid(len(variables), ctx.width)
    fig, axes = P.new_figure(ctx.width, height=2.3 * rows, nrows=rows, ncols=per_row, squeeze=False,
                             sharey=True)
    for j, var in enumerate(variables):
        ax = axes[j // per_row, j % per_row]
        P.plot_classwise_scatter(cw, var, correlations=corr, ax=ax, color=color, labels=ctx.labels,
                                 title=f"({_PANEL[j]}) {_panel_title(var, ctx.labels)}", annotate=3)
        v = corr[(corr["variable"] == var) & (corr["role"] == "verdict")] if "role" in corr.columns else corr.iloc[:0]
        if len(v) and np.isfinite(v["r"].iloc[0]):
            ph = v["p_holm"].iloc[0]
            # outside the Holm family (a control source): its unadjusted p
            p = (format_p(ph, spaced=True).replace("p ", "p* ", 1) if np.isfinite(ph)
                 else format_p(v["p_val"].iloc[0], spaced=True))
            ax.set_title(f"{ax.get_title(loc='left')}\npartial r = {v['r'].iloc[0]:.2f}, {p}", loc="left",
                         fontsize=P.MIN_FONT_PT + 1)
        ax.set_ylim(-0.03, 1.03)
        if j % per_row:
            ax.set_ylabel("")
    for k in range(len(variables), per_row * rows):
        axes[k // per_row, k % per_row].set_axis_off()
    return fig


def caption_classwise(tables: Tables, ctx: FigureContext) -> str:
    m = _primary(tables, ctx, "classwise")
    return (f"Per category: the mean over its objects (x) against the category's AP for '{ctx.label(m)}' (y, "
            f"shared by the panels); line: least-squares fit with the 95% confidence band of its mean (size on a "
            f"log axis, fitted in log size); above each panel: the paper's Pearson r, its p and the number of "
            f"categories (Sec. 3.2), and below it the verdict: the partial r with AP controlling prevalence and a "
            f"cubic in log prevalence (a class's AP rises with its prevalence: raw r is 'significant' for any "
            f"variable that follows prevalence) with p*, its p Holm-adjusted over size, center distance and the "
            f"human saliency sources (a control map shows its unadjusted p); its sensitivity check (ROC "
            f"AUC as the target) is in the correlations table and the findings. "
            + ("Point area: the category's positive images; hollow: fewer than 5 positives (its AP rests on a "
               "handful of images). " if "per_class" in tables else "")
            + "The 3 categories farthest from the line are named; a panel with fewer than 5 categories draws "
            "no line. Categories without a value (e.g. no object with a saliency map) are left out.")


# ------------------------------------------------------------------ Fig. 3
def draw_fig3(tables: Tables, ctx: FigureContext):
    """Fig. 3: (a) mAP per number of objects in the image, (b) the histogram of objects per image,
    (c) the prevalence-free mean ROC AUC per group (when the table has ``mAUC``)."""
    cm = tables["clutter_map"]
    models = list(ctx.compare) if ctx.compare else (list(ctx.models) or list(dict.fromkeys(cm["model"])))
    page = ctx.width == "page"
    auc = "mAUC" in cm.columns and cm["mAUC"].notna().any()
    n = 3 if auc else 2
    fig, axes = P.new_figure(ctx.width, height=3.0 if page else 2.8 * n, nrows=1 if page else n,
                             ncols=n if page else 1)
    axes = axes.ravel()
    P.plot_clutter(cm, models=models, labels=dict(ctx.labels), colors=ctx.colors() or None, ax=axes[0])
    # The legend goes above the panels: inside (a) it covers curves or the chance line wherever they are.
    inside = axes[0].get_legend()
    fig.legend(inside.legend_handles, [t.get_text() for t in inside.get_texts()], loc="outside upper center",
               ncol=3 if page else 1)
    inside.remove()
    P.plot_objects_histogram(tables["objects_histogram"], ax=axes[1])
    axes[0].set_title("(a)", loc="left")
    axes[1].set_title("(b)", loc="left")
    if auc:
        P.plot_clutter_auc(cm, models=models, labels=dict(ctx.labels), colors=ctx.colors() or None, ax=axes[2])
        axes[2].set_title("(c)", loc="left")
    return fig


def _tail_k(cm: pd.DataFrame) -> Any:
    if "k" in cm.attrs:
        return cm.attrs["k"]
    if "is_tail" in cm.columns and cm["is_tail"].astype(bool).any():
        return int(cm.loc[cm["is_tail"].astype(bool), "n_objects"].iloc[0])
    return "?"


def _resamples(n_boot: Any, what: str, before: str = "", after: str = "") -> str:
    """``"{before}{n_boot} {what}{after}"``, or nothing when the number of resamples is unknown."""
    return f"{before}{int(n_boot)} {what}{after}" if n_boot is not None else ""


def caption_fig3(tables: Tables, ctx: FigureContext) -> str:
    cm = tables["clutter_map"]
    n_boot = cm.attrs.get("n_boot", ctx.n_boot)
    chance = (" Dashed grey: chance mAP, the expected mAP of a random ranking of the group's images (AP's chance "
              "level is the class's prevalence, which rises with the number of objects). A score set that ties "
              "every image of a class (the class prior) lies below it: the AP of tied scores equals the "
              "prevalence, while the expected AP of a random ranking is higher than the prevalence at small n."
              if "chance_mAP" in cm.columns else "")
    chance += " Each model has its own colour, line style and marker (apart in grayscale too)."
    bands = (f"{'bias-corrected (BC) ' if 'ci_method' in cm.columns else ''}bootstrap 95% interval of the smoothed "
             f"curve ({_resamples(n_boot, 'resamples per group; ')}centered percentile where BC is degenerate)"
             if n_boot != 0 else "none (no bootstrap)")
    return (f"(a) mAP of the images with a given number of (non-crowd) objects; lines: the paper's "
            f"moving average [1/3, 1/3, 1/3] with boundary padding; points: unsmoothed mAP; bands: {bands}. "
            f"The last group holds every image with ≥{_tail_k(cm)} objects.{chance}"
            + (" Federated (LVIS) evaluation: each class's AP on the group's images where it is verified."
               if cm.attrs.get("federated") == "on" else "")
            + " (b) Images per number of objects."
            + (" (c) Mean per-class ROC AUC of each group (prevalence-free: 0.5 for any random ranking, dotted); "
               + (f"bands: bootstrap 95% interval{_resamples(n_boot, 'resamples per group', ' (', ')')}. "
                  if n_boot != 0 else "no bands (no bootstrap). ") + "Where (a) "
               "rises and (c) stays flat, the rise of mAP is explained by prevalence, not by ranking quality."
               if "mAUC" in cm.columns and cm["mAUC"].notna().any() else ""))


# ------------------------------------------------------------------ Fig. 4
#: Fig. 4 shows every category up to this many, else the most improved and most worsened ones.
FIG4_ALL = {"page": 80, "column": 30}
FIG4_EACH_END = {"page": 20, "column": 12}


def _fig4_parts(table: pd.DataFrame, width: str) -> tuple[list[pd.DataFrame], int]:
    """The panels of Fig. 4 (sorted by delta) and how many categories are not shown."""
    d = table[table["delta"].notna()].sort_values("delta", ascending=False, kind="stable")
    if len(d) <= FIG4_ALL[width]:
        if width == "page" and len(d) > 40:  # two side-by-side panels of horizontal bars
            half = -(-len(d) // 2)
            return [d.iloc[:half], d.iloc[half:]], 0
        return [d], 0
    k = FIG4_EACH_END[width]
    return [d.iloc[:k], d.iloc[-k:]], len(d) - 2 * k


def _one_comparison(tables: Tables, ctx: FigureContext) -> Tables:
    """``tables`` with ``compare_categories`` of one comparison: ``ctx.compare`` (else the first) where
    ``run_compare`` stacked several (a reference and several others, ``model_a``/``model_b`` columns)."""
    t = tables["compare_categories"]
    if "model_b" not in t.columns:
        return tables
    a, b = ctx.compare or (str(t.attrs.get("model_a", t["model_a"].iloc[0])), str(t["model_b"].iloc[0]))
    part = t[(t["model_a"] == a) & (t["model_b"] == b)]
    if part.empty:
        have = ", ".join(dict.fromkeys(f"{x} vs {y}" for x, y in zip(t["model_a"], t["model_b"])))
        raise InputError(f"compare_categories holds no comparison of {b} with {a} (have: {have})")
    part = part.drop(columns=["model_a", "model_b"]).reset_index(drop=True)
    part.attrs = {**t.attrs, "model_a": a, "model_b": b}
    return {**tables, "compare_categories": part}


def draw_fig4(tables: Tables, ctx: FigureContext):
    """Fig. 4: AP(B) - AP(A) per category, sorted, with paired bootstrap intervals (horizontal bars)."""
    tables = _one_comparison(tables, ctx)
    a, b = _compared(tables, ctx)
    colors = ctx.colors()
    parts, hidden = _fig4_parts(tables["compare_categories"], ctx.width)
    rows = max(len(p) for p in parts)
    side = len(parts) == 2 and (ctx.width == "page" or not hidden)
    # The x label (and the note on hidden categories) are figure-level texts that the constrained
    # layout makes room for; at column width a long label goes on two lines, the legend on three.
    xlabel = f"AP({ctx.label(b)}) - AP({ctx.label(a)})"
    if ctx.width != "page" and len(xlabel) > 40:
        xlabel = f"AP({ctx.label(b)})\n- AP({ctx.label(a)})"
    if hidden:
        xlabel += f"\n({hidden} categories in between not shown)"
    extra = 0.14 * xlabel.count("\n") + (0 if ctx.width == "page" else 0.25)
    fig, axes = P.new_figure(ctx.width, height=min(9.0, extra + 0.9 + 0.105 * rows * (1 if side else len(parts))),
                             nrows=1 if side else len(parts), ncols=len(parts) if side else 1, squeeze=False,
                             sharex=True)
    axes = axes.ravel()
    for i, (part, ax) in enumerate(zip(parts, axes)):
        P.plot_category_delta(part, label_a=ctx.label(a), label_b=ctx.label(b), color_a=_color(colors, a, 0),
                              color_b=_color(colors, b, 1), horizontal=True, legend=False, ax=ax)
        ax.tick_params(axis="y", labelsize=P.MIN_FONT_PT)
        ax.set_xlabel("")
        if hidden:  # titled by what the panel holds: its deltas' signs
            dl = part["delta"].to_numpy(float)
            top, low = ("most improved", "least improved") if (dl > 0).all() else (
                ("least worsened", "most worsened") if (dl < 0).all() else ("highest delta", "lowest delta"))
            ax.set_title(top if i == 0 else low, loc="left")
    _fig4_legend(fig, tables["compare_categories"], ctx.label(a), ctx.label(b), _color(colors, a, 0),
                 _color(colors, b, 1), ncol=3 if ctx.width == "page" else 1)
    fig.supxlabel(P.plain_text(xlabel), fontsize=8)
    return fig


def _fig4_legend(fig, table: pd.DataFrame, label_a: str, label_b: str, ca: str, cb: str, ncol: int) -> None:
    from matplotlib.patches import Patch

    verdict = table["verdict"].astype(str) if "verdict" in table.columns else pd.Series(dtype=str)
    n_up, n_down = int((verdict == "improved").sum()), int((verdict == "worsened").sum())
    label_a, label_b = P.plain_text(label_a), P.plain_text(label_b)
    handles = [Patch(facecolor=cb, hatch="////", edgecolor="black", linewidth=0.3, label=f"{label_b} better ({n_up})"),
               Patch(facecolor=ca, hatch="////", edgecolor="black", linewidth=0.3, label=f"{label_a} better ({n_down})"),
               Patch(facecolor=P.NEUTRAL, edgecolor="black", linewidth=0.3,
                     label=f"within noise ({len(table) - n_up - n_down})")]
    fig.legend(handles=handles, loc="outside upper center", ncol=ncol,
               title="bars: AP difference; lines: bootstrap 95% CI (unadjusted)")


def caption_fig4(tables: Tables, ctx: FigureContext) -> str:
    tables = _one_comparison(tables, ctx)
    a, b = _compared(tables, ctx)
    n_boot = tables["compare_categories"].attrs.get("n_boot", ctx.n_boot)
    table = tables["compare_categories"]
    bca = "BCa " if "ci_method" in table.columns else ""
    if "q_val" in table.columns and table.attrs.get("n_perm", 1):
        adj = {"holm": "Holm (family-wise error 5%)"}.get(str(table.attrs.get("p_adjust", "")),
                                                          "Benjamini-Hochberg (false discovery rate 5%)")
        n_perm = table.attrs.get("n_perm")
        rule = (f"a bar is coloured by the better model (and hatched) only when the paired permutation test "
                f"(the two models' scores swapped within images{f', {n_perm} permutations' if n_perm else ''}) "
                f"is significant after {adj} adjustment over the {len(table)} categories, grey otherwise; "
                "the intervals are not adjusted and do not decide")
    else:
        rule = "a bar is coloured by the better model (and hatched) only when its interval excludes 0, grey otherwise"
    return (f"AP('{ctx.label(b)}') - AP('{ctx.label(a)}') per category, sorted; error bars: paired "
            f"{bca}bootstrap 95% interval{_resamples(n_boot, 'image resamples', ' (', ')')}; {rule}; "
            "a delta of exactly 0 is an open circle on the zero line"
            + ("; \u2020 after a name: fewer than 5 positive images" if "n_pos" in table.columns else "")
            + ("; a grey dashed whisker: its unadjusted interval and the adjusted test disagree (the colour "
               "follows the test)" if "q_val" in table.columns else "") + "."
            + (" Federated (LVIS) evaluation: each class's AP on the images where it is verified."
               if tables["compare_categories"].attrs.get("federated") == "on" else "")
            + (f" Shown: the {FIG4_EACH_END[ctx.width]} categories with the highest and the {FIG4_EACH_END[ctx.width]} "
               f"with the lowest delta of {len(tables['compare_categories'])}; each panel's title says what it "
               "holds." if _fig4_parts(tables['compare_categories'],
                                                                                   ctx.width)[1] else ""))


# ------------------------------------------------------------------ Fig. 5
def draw_fig5(tables: Tables, ctx: FigureContext):
    """Fig. 5: the image and each model's CAM with its confidence, one row per example."""
    return P.cam_figure(cam_records(tables["cam_manifest"]), root=ctx.cam_root, labels=dict(ctx.labels),
                        width=ctx.width)


def caption_fig5(tables: Tables, ctx: FigureContext) -> str:
    records = cam_records(tables["cam_manifest"])
    roles = {m.get("role", ""): ctx.label(str(m["model"])) for m in records[0]["models"]}
    thr = records[0].get("threshold", ctx.threshold)
    who = (f"A = '{roles['A']}' misses (confidence < {thr}) and B = '{roles['B']}' detects"
           if {"A", "B"} <= set(roles) else "one model misses and the other detects")
    return (f"Class activation maps (Zhou et al. 2016) over images where {who} a ground-truth class (the "
            f"paper's Fig. 5 rule); first column: the image and the class; then each model's CAM (min-max "
            f"normalised, viridis) with its confidence for the class. First {min(len(records), 4)} of "
            f"{len(records)} selected examples.")


def draw_gallery(tables: Tables, ctx: FigureContext):
    """The gallery: detected and missed objects, chosen by the rules of :mod:`salanalysis.gallery`."""
    return P.gallery_figure(tables["gallery"], ctx.gallery_root or Path("."), width=ctx.width)


def caption_gallery(tables: Tables, ctx: FigureContext) -> str:
    t = tables["gallery"]
    model = ctx.label(str(t["model"].iloc[0])) if len(t) else "the model"
    source = str(t["source"].iloc[0]) if len(t) and t["source"].iloc[0] else ""
    rules = "the largest, " + ("the most salient, " if source else "") + "the most typical and the most surprising"
    missing = int(t.loc[t["file"].fillna("") == "", "ann_id"].nunique()) if len(t) else 0
    text = (f"Objects that '{model}' detected (blue frame) and missed (vermillion frame), per outcome {rules} "
            f"(salanalysis.gallery states each rule); the mask outlined in white. Under each: class and rule, "
            f"size (% of the image), center distance, maximum saliency"
            f"{' (' + ctx.label(source) + ')' if source else ''}, the model's score and the objects in the image.")
    if missing:
        text += f" {missing} object(s) without their image in the images folder are marked as such."
    return text


def _breakdown(name: str) -> Callable:
    """A function of :mod:`salanalysis.plotting.breakdown`, imported on first use."""
    return lambda tables, ctx: getattr(__import__("salanalysis.plotting.breakdown", fromlist=[name]), name)(tables, ctx)


# ---------------------------------------------------------------- registry
#: Every figure, in the order of the paper (the key is the file name).
FIGURES: dict[str, FigureSpec] = {f.name: f for f in (
    FigureSpec("fig2_tpfn", "Fig. 2: detected (tp) vs missed (fn) objects",
               ("objects", "tpfn_descriptives", "tpfn_tests"), draw_fig2, caption_fig2),
    FigureSpec("fig2_clutter", "Beside Fig. 2: detection rate vs object size per clutter group", ("objects",),
               _breakdown("draw_breakdown"), _breakdown("caption_breakdown")),
    FigureSpec("fig_classwise", "Sec. 3.2: class means vs class AP",
               ("classwise", "classwise_correlations"), draw_classwise, caption_classwise),
    FigureSpec("fig3_clutter", "Fig. 3: mAP vs objects per image, and the histogram",
               ("clutter_map", "objects_histogram"), draw_fig3, caption_fig3),
    FigureSpec("fig4_category_delta", "Fig. 4: per-category AP difference",
               ("compare_categories",), draw_fig4, caption_fig4),
    FigureSpec("fig5_cam", "Fig. 5: class activation maps", ("cam_manifest",), draw_fig5, caption_fig5),
    FigureSpec("fig_gallery", "Gallery: detected and missed objects", ("gallery",), draw_gallery,
               caption_gallery),
)}


def draw_figure(name: str, tables: Tables, context: FigureContext | None = None, *,
                fig: Figure | SubFigure | None = None, ax: Axes | None = None) -> tuple[Figure, str]:
    """``(figure, caption)`` of one registered figure, drawn in :func:`~salanalysis.plotting.paper_style`.

    For a notebook: ``fig, caption = draw_figure("fig3_clutter", tables)``. The
    figure stays open (close it with ``plt.close(fig)``).

    Like seaborn's figure-level functions (``so.Plot(...).on(target)``), the panels can go
    into the caller's figure: ``fig=`` a matplotlib ``Figure`` or ``SubFigure`` (its panels
    are added to it; the caller's size is kept), or ``ax=`` an ``Axes`` whose place the
    panels take (a subfigure in the axes' grid cell; the axes is removed). The figure
    returned is then the caller's figure.

    Raises
    ------
    KeyError
        ``name`` is not a registered figure.
    InputError
        A table the figure needs is missing.
    """
    spec = FIGURES[name]
    ctx = context or FigureContext()
    missing = spec.missing(tables)
    if missing:
        raise InputError(f"{name} needs table(s) {', '.join(missing)}")
    if fig is not None and ax is not None:
        raise ValueError("give fig= or ax=, not both")
    if ax is not None:
        spec_cell = ax.get_subplotspec()
        if spec_cell is None:
            raise ValueError("ax= must be an axes of a grid (plt.subplots, add_subplot)")
        target: Any = ax.figure.add_subfigure(spec_cell)
        ax.remove()
    else:
        target = fig
    with P.paper_style():
        if target is None:
            drawn = _draw(spec, tables, ctx)
        else:
            with P.drawing_into(target):
                spec.draw(tables, ctx)
            drawn = target.figure if hasattr(target, "figure") and target.figure is not None else target
    return drawn, spec.caption(tables, ctx)


def _draw(spec: FigureSpec, tables: Tables, ctx: FigureContext):
    """The figure of ``spec`` with its titles fitted to the width (call inside ``paper_style``)."""
    fig = spec.draw(tables, ctx)
    P.fit_titles(fig)
    return fig


#: The printed widths every figure is drawn for, and the suffix of their file names.
WIDTHS = {"page": "", "column": "_column"}


@dataclass
class FigureRun:
    """What :func:`render_figures` did: ``captions`` and ``files`` of the figures drawn,
    ``failed`` (name -> error) and ``skipped`` (name -> the tables it lacked)."""

    captions: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def render_figures(tables: Tables, context: FigureContext, out: str | os.PathLike,
                   names: Sequence[str] | None = None) -> FigureRun:
    """Draw and save every registered figure (or ``names``) whose tables are there.

    Each figure is drawn for both printed widths (:data:`WIDTHS`) and written as
    ``out/NAME.pdf`` and ``out/NAME.png`` (page width, 6.875 in) and
    ``out/NAME_column.pdf`` / ``.png`` (column width, 3.25 in): PDF with TrueType fonts,
    PNG at 300 dpi, each at exactly its size and atomically. The caption is the page
    version's. A figure whose tables are missing is skipped; one whose drawing fails on
    its data (``ValueError``, :class:`InputError`) is recorded in ``failed`` and the others
    are still drawn.
    """
    import dataclasses

    import matplotlib.pyplot as plt

    run = FigureRun()
    for name in names if names is not None else list(FIGURES):
        spec = FIGURES[name]
        missing = spec.missing(tables)
        if missing:
            run.skipped[name] = missing
            continue
        try:
            files = []
            for width, suffix in WIDTHS.items():
                ctx = dataclasses.replace(context, width=width)
                with P.paper_style():
                    fig = _draw(spec, tables, ctx)
                    if width == "page":
                        caption = spec.caption(tables, ctx)
                    files += P.save_figure(fig, Path(out) / f"{name}{suffix}")
                    plt.close(fig)
            run.files[name] = files
            run.captions[name] = caption
        except (ValueError, InputError) as exc:
            plt.close("all")
            run.failed[name] = f"{type(exc).__name__}: {exc}"
    return run
