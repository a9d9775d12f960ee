"""Statistics of Sec. 3.2: detected vs missed objects, class-wise correlations, and models.

The paper (Luo, Jiang & Zhao 2019, Sec. 3.2 and Fig. 2) splits the objects of
the validation set into those whose class the classifier found in the image
(true positives, "detected") and those it missed (false negatives, "missed"),
and compares object size, distance to the image center and maximum saliency
inside the object with unpaired Student t-tests (t = 25.25, -21.05, 34.88). It
then averages the same quantities per category and correlates them with the
category's AP (Pearson rho = 0.278, -0.501, 0.365 / 0.328).

This module reproduces those numbers from the object table (see
:mod:`salanalysis.objects`) and answers the two objections a reviewer raises:

- *saliency, size and centrality are correlated*: partial correlations of AP
  with saliency controlling for size and center distance
  (:func:`classwise_correlations`), and a logistic regression of detection on
  log size, center distance and saliency together (:func:`detection_model`);
- *prevalence*: a class's AP rises with its prevalence, so the class-wise verdict for
  every variable is the partial correlation controlling prevalence, with ROC AUC as the
  target of a named sensitivity check (:func:`verdict_changes`);
- *objects of one image, or of one class, are not independent*: the verdict clusters by
  image and category (two-way, Cameron-Gelbach-Miller) beside every object-level test (cluster-robust OLS and a cluster bootstrap over
  images in :func:`tpfn_tests`; image-clustered standard errors in
  :func:`detection_model`).

When the table holds a center-prior saliency source (e.g. ``center`` from
``salanalysis saliency baseline``), pass its name as ``control_source``: the
partial correlations and the logistic models are refitted with it as an extra
control, so a saliency effect that is only a center bias disappears.

Conventions
-----------
- Differences are always *detected minus missed*: a positive ``statistic`` or
  ``effect`` means detected objects have the larger value (the paper's signs).
- Rows whose variable (or outcome) is missing or not finite are excluded from
  that analysis only, and counted in ``n_excluded_nan``.
- Holm adjustment (``p_holm``) runs over one *family*, defined by the claim: the paper's
  Fig. 2 / Sec. 3.2 variables (size, center distance, saliency per human source) of one
  model (``family = claim``; ``area_px`` and control sources stay unadjusted, ``p_holm``
  NaN): in :func:`tpfn_tests` per model, unit and ``test``; in
  :func:`classwise_correlations` per model, target, ``method`` and ``covariates``; in
  :func:`detection_models` one model's saliency terms (not the control's) with the same
  control and fixed-effects choice. Intervals are unadjusted 95%. Different tests of the same
  hypothesis are alternatives, not separate hypotheses, so they are not pooled.
- Cost: everything is vectorised; on a simulated table the size of COCO val2014
  (40k images, 160k objects, 2 score sets, 2 sources) :func:`tpfn_tests` with 1000
  cluster-bootstrap resamples took about 17 s and :func:`detection_models` about
  5 s on 2 busy cores; one logistic fit with category fixed effects took about 18 s.
  The two-way clustered verdict adds about 0.8 s per (model, unit, variable) at that size
  (statsmodels' two-way sandwich; the within-category test 0.06 s), measured before it
  was part of those totals.
- Functions are pure: they return tidy DataFrames, never round, never print.

Modules, one per family: :mod:`.tpfn` (detected vs missed: descriptives and
tests), :mod:`.classwise` (class means against class AP, correlations),
:mod:`.models` (logistic detection models), :mod:`.run` (every table at once,
the summary text, :func:`run_stats`); :mod:`._common` holds the shared column
helpers.
"""

from salanalysis.stats._common import (
    UNITS,
    default_variables,
    saliency_sources,
    score_sets,
    unit_rows,
)
from salanalysis.stats.classwise import (
    METHOD_MEANINGS,
    PREVALENCE_CONTROLS,
    ROLE_MEANINGS,
    classwise_correlations,
    classwise_table,
    verdict_changes,
)
from salanalysis.stats.models import detection_model, detection_models
from salanalysis.stats.run import (
    OUTPUT_FILES,
    StatsResult,
    format_summary,
    per_class_ap,
    run_stats,
    stats_tables,
)
from salanalysis.stats.tpfn import (
    FAMILY_MEANINGS,
    TEST_MEANINGS,
    VERDICT_TEST,
    tpfn_descriptives,
    tpfn_tests,
)

__all__ = [
    "TEST_MEANINGS",
    "VERDICT_TEST",
    "UNITS",
    "unit_rows",
    "METHOD_MEANINGS",
    "score_sets",
    "saliency_sources",
    "default_variables",
    "tpfn_descriptives",
    "tpfn_tests",
    "classwise_table",
    "classwise_correlations",
    "verdict_changes",
    "PREVALENCE_CONTROLS",
    "ROLE_MEANINGS",
    "FAMILY_MEANINGS",
    "detection_model",
    "detection_models",
    "stats_tables",
    "format_summary",
    "per_class_ap",
    "StatsResult",
    "run_stats",
    "OUTPUT_FILES",
]
