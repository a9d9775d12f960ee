"""Multi-label classification metrics of the paper's Table 1, with bootstrap intervals.

Definitions (Luo et al. 2019, Sec. 5.1, Eq. 6 and 7), and every choice the paper
leaves open, made explicit:

Ground truth (:func:`ground_truth`)
    An image is positive for a class when it has at least one annotation of that
    class. Crowd annotations count (``include_crowd=True``, as ML-GCN and ASL do).
    Every image of the annotation file counts, including images without any
    annotation, which are all-negative rows (``include_empty=True``). Both rules
    are options and are reported in every output.

Average precision (:func:`average_precision`, Eq. 7)
    Non-interpolated: ``AP = sum_g (R_g - R_{g-1}) P_g`` over the *distinct*
    scores in descending order, where ``P_g``/``R_g`` are the precision/recall of
    predicting every image scoring at least the ``g``-th distinct score. Tied
    scores therefore form one step, exactly as
    :func:`sklearn.metrics.average_precision_score` does, and the result never
    depends on row order. A class without positives has AP = NaN.

mAP
    Mean AP over the classes with at least one positive. Classes without
    positives are excluded and counted in ``n_classes_excluded``;
    ``empty_classes="zero"`` instead counts them with AP 0 (as some codebases do).

Threshold metrics (Eq. 6)
    A class is predicted when its score is ``>= threshold`` (default 0.5); with
    ``top_k=k`` the ``k`` highest-scoring classes of each image are predicted
    instead (the top-3 variant of CNN-RNN/ML-GCN; ties at the k-th score go to
    the lower category index; ``top_k_threshold=True`` additionally requires the
    score to pass the threshold, as ML-GCN's code does). Per class,
    ``precision = N_c/N_p`` and ``recall = N_c/N_g``, with N_c correct, N_p
    predicted and N_g ground-truth images. **0/0 rule:** a class that is never
    predicted has precision 0 (as ML-GCN's code, and scikit-learn's
    ``zero_division=0``); a per-class F1 with P = R = 0 is 0. C-P and C-R are the
    means of the per-class values; O-P and O-R pool the counts over classes.
    **Which classes:** mAP and the C- metrics average the classes with at least
    one positive (``empty_classes="exclude"``, default; the excluded ones are
    listed by :func:`excluded_classes`), or all classes (``"zero"``: a class
    without positives then has AP 0, recall 0 and precision 0). O-P and O-R
    pool **every prediction** (``overall="all-predictions"``, default: the usual
    pooled, micro-averaged definition, equal to scikit-learn's
    ``precision_score(..., average="micro")``; a prediction of a class without
    positives is a false positive), or only the averaged classes
    (``overall="classes-with-positives"``). Every output names both rules.

LVIS federated evaluation (:func:`evaluation_mask`)
    When the images carry ``neg_category_ids`` / ``not_exhaustive_category_ids``
    (LVIS), ``federated="auto"`` (default) evaluates each class only on the
    images where it is annotated (positives) or verified absent
    (``neg_category_ids``): its AP is scikit-learn's on those images, and its
    predictions on other images (including an image listing it as not
    exhaustively annotated without an annotation of it) are neither true nor
    false positives, in every metric and in the bootstrap. ``"off"`` counts
    every image; ``"on"`` requires the fields. Outputs name the rule applied
    (``federated`` column).

C-F1
    ``cf1="harmonic"`` (default, Eq. 6): harmonic mean of C-P and C-R.
    ``cf1="mean-per-class"``: mean of the per-class F1. The paper's own RSN-50
    row (C-P 64.6, C-R 77.9, C-F1 57.9) is only consistent with the latter: the
    harmonic mean of 64.6 and 77.9 is 70.6. O-F1 is always the harmonic mean of
    O-P and O-R. Every output names the rule in its ``cf1`` field.

Rules (:class:`MetricRules`)
    Every rule below is a field of one frozen :class:`MetricRules` value that
    every function takes whole (``rules=MetricRules(threshold=0.3)``) and every
    output names.

Bootstrap (:func:`bootstrap_ap`, :func:`bootstrap_metrics`, :func:`paired_bootstrap`)
    A resample draws N images with replacement (multinomial counts over images;
    seeded with :func:`numpy.random.default_rng`). Metrics of a resample are the
    weighted metrics with those counts as weights (identical to computing them
    on the duplicated images). Estimand of every interval: the expected value
    of the metric on a test set of this size from the same population.
    Intervals are normal bootstrap 95% intervals, estimate +/- 1.96 bootstrap
    SD (:func:`salanalysis._bootstrap.normal_interval`): the method whose
    coverage of mAP held in ``benchmarks/calibration.py`` (0.96-0.99; BCa
    covered mAP in 0.62-0.64 of data sets with an informative scorer, the
    percentile interval in 0.31-0.83); ``ci="BCa"`` keeps the
    old method. Per-class intervals are percentile intervals (they covered
    per-class AP best: 0.92-0.96 from 21 positives) and are withheld
    (``ci_method`` ``"withheld"``) for classes with fewer than
    :data:`MIN_POS_INTERVAL` positive images, where no method held its coverage. In a
    resample, mAP and the class-averaged metrics use the classes that have a
    positive in that resample (``"exclude"``) or all classes (``"zero"``).
    Paired bootstrap: both score sets are evaluated on the *same* resamples; the
    two-sided p-value of a per-class difference ``delta`` is
    ``min(1, 2 * min(1 + #{delta*_b <= 0}, 1 + #{delta*_b >= 0}) / (B + 1))``
    over the ``B`` resamples where the difference is defined: twice the smaller
    tail mass of the bootstrap distribution beyond 0 (the percentile-interval
    test), with the +1 correction so that it is never 0. The mAP difference's
    interval is the percentile interval of its paired replicates, the method
    whose coverage held for it (the upward bias of resampled mAP is shared by
    both score sets and cancels; the normal interval over-covered, 0.99-1.00),
    and its p-value the same formula.
    Speed: each class of each score set is sorted once; a resample only
    re-weights the sorted order (:mod:`salanalysis._bootstrap`), so 1,000
    resamples of two COCO-val-sized score sets take seconds, not minutes.
    Why not the percentile or BCa interval: resampled mAP is biased upward
    (rare classes drop out of some resamples, and duplicated images tie), so
    the replicates' location is not the estimate's; their spread is.

All fractions are in 0..1; only :func:`format_table` and :func:`format_per_class`
print percentages.

Modules: :mod:`.rules` (:class:`MetricRules`), :mod:`.ap` (labels, AP),
:mod:`.threshold` (C-/O- metrics), :mod:`.bootstrap` (intervals),
:mod:`.table` (:func:`evaluate`, :func:`table1`), :mod:`.output` (formatting,
:func:`run_metrics`, files).
"""

from salanalysis.metrics.ap import average_precision, evaluation_mask, federated_on, ground_truth
from salanalysis.metrics.bootstrap import (
    MIN_POS_INTERVAL,
    RankingBootstrap,
    bootstrap_ap,
    bootstrap_metrics,
    bootstrap_ranking,
    paired_bootstrap,
)
from salanalysis.metrics.output import (
    MetricsResult,
    format_per_class,
    format_table,
    run_metrics,
    table1_long,
    write_metrics,
)
from salanalysis.metrics.ranking import chance_ap, normalized_ap, roc_auc
from salanalysis.metrics.rules import DEFAULT_RULES, METRICS, MetricRules
from salanalysis.metrics.table import (
    PUBLISHED_SOURCE,
    PUBLISHED_TABLE1,
    aligned_labels,
    evaluate,
    excluded_classes,
    published_inconsistencies,
    table1,
)
from salanalysis.metrics.threshold import per_class_metrics, predictions, summary_metrics

__all__ = [
    "METRICS",
    "MetricRules",
    "DEFAULT_RULES",
    "PUBLISHED_TABLE1",
    "PUBLISHED_SOURCE",
    "published_inconsistencies",
    "ground_truth",
    "evaluation_mask",
    "federated_on",
    "excluded_classes",
    "average_precision",
    "predictions",
    "per_class_metrics",
    "summary_metrics",
    "aligned_labels",
    "evaluate",
    "table1",
    "table1_long",
    "bootstrap_ap",
    "bootstrap_ranking",
    "RankingBootstrap",
    "roc_auc",
    "chance_ap",
    "normalized_ap",
    "bootstrap_metrics",
    "MIN_POS_INTERVAL",
    "paired_bootstrap",
    "format_table",
    "format_per_class",
    "MetricsResult",
    "run_metrics",
    "write_metrics",
]
