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
Fig. 3c (mean ROC AUC vs objects)  :func:`plot_clutter_auc` (``clutter.clutter_map``)
Fig. 4 (per-category AP delta)     :func:`plot_category_delta` (``compare.compare_categories``)
Fig. 5 (CAMs and confidences)      :func:`plot_cam_example`, :func:`cam_figure` (CAM manifest)
Gallery (detected/missed objects)  :func:`plot_gallery_object`, :func:`gallery_figure` (``gallery.csv``)
=================================  =========================================
"""

from salanalysis.plotting.cam import cam_figure, plot_cam_example
from salanalysis.plotting.classwise import plot_classwise_scatter
from salanalysis.plotting.clutter import plot_clutter, plot_clutter_auc, plot_objects_histogram
from salanalysis.plotting.compare import plot_category_delta
from salanalysis.plotting.gallery import gallery_figure, plot_gallery_object
from salanalysis.plotting.style import (
    COLUMN_WIDTH,
    MIN_FONT_PT,
    NEUTRAL,
    OKABE_ITO,
    OUTCOME_COLORS,
    PAGE_WIDTH,
    drawing_into,
    fit_titles,
    group_label,
    model_colors,
    new_figure,
    paper_style,
    plain_text,
    save_figure,
    variable_label,
)
from salanalysis.plotting.tpfn import plot_tpfn_distribution, plot_tpfn_means

__all__ = [
    "plain_text",
    "OKABE_ITO",
    "OUTCOME_COLORS",
    "NEUTRAL",
    "COLUMN_WIDTH",
    "PAGE_WIDTH",
    "MIN_FONT_PT",
    "model_colors",
    "paper_style",
    "new_figure",
    "drawing_into",
    "save_figure",
    "fit_titles",
    "variable_label",
    "group_label",
    "plot_tpfn_means",
    "plot_tpfn_distribution",
    "plot_classwise_scatter",
    "plot_clutter",
    "plot_clutter_auc",
    "plot_objects_histogram",
    "plot_category_delta",
    "plot_cam_example",
    "cam_figure",
    "plot_gallery_object",
    "gallery_figure",
]
