"""mAP against scene clutter (Fig. 3 of the paper), with bootstrap bands.

Images are grouped by their number of non-crowd instances
(:meth:`Annotations.n_objects`) and the mAP of each score set is computed on
each group of images (Sec. 5.3).

Grouping
--------
With a cut-off ``K`` there are ``K`` groups: the singletons ``"1"``, ``"2"``,
..., ``"K-1"`` (images with exactly that many objects) and the tail group
``">=K"`` (images with ``K`` or more objects). ``K = 1`` gives the single group
``">=1"`` (every image with at least one object). Column ``n_objects`` holds a
group's lower bound (``K`` for the tail).

By default (``k_rule="min-images"``) ``K`` is the largest value for which every
group holds at least ``min_images`` images. Valid values of ``K`` form a run
``1..K*`` (adding a singleton group only adds a constraint, and the tail only
shrinks), so ``K*`` is found by counting up. When not even ``K = 1`` qualifies
(fewer than ``min_images`` images with objects), ``K = 1`` is used and the table
says so (``attrs["k_chosen"]``), never claiming the rule held. ``k_rule="three-groups"``
keeps at least three groups (``1``, ``2``, ``>=3``) when the data have them, so that
Fig. 3 can show a trend; any cut-off leaving fewer than three groups is warned
about (``attrs["warning"]``, the summary, the report). An explicit ``k`` is used as
given; its groups may then be empty (``n_images`` 0, ``mAP`` NaN).

Images without any non-crowd instance (no objects, or only crowd regions) are
not in any group; their number is in ``table.attrs["n_images_no_objects"]``
and they appear in :func:`objects_histogram` as ``n_objects == 0``.

Per group
---------
- Labels come from :func:`salanalysis.metrics.ground_truth` (crowd
  annotations count as positives, as in the metrics module;
  ``rules.include_crowd`` of a :class:`~salanalysis.metrics.MetricRules`
  changes that). Classes without a positive image in the group are excluded
  from the group's mAP and counted in ``n_classes_excluded``. On LVIS files
  (``rules.federated``, auto when the images carry ``neg_category_ids``) each class
  counts only the group's images where it is verified, as in the metrics table.
- ``mAP`` is the mean over the remaining classes of the AP of
  :func:`salanalysis.metrics.average_precision` (Eq. 7).
- ``ci95_low``/``ci95_high``: the BCa 95% interval of the mAP over bootstrap
  resamples of the group's images (:func:`salanalysis.metrics.bootstrap_ranking`;
  every score set is evaluated on the same resamples; each group gets its own
  seed derived from ``seed`` and the group's position; the acceleration comes
  from a 20-block jackknife of the group). In a resample, a class that lost all
  its positives is left out of that resample's mAP, and duplicated images push
  resampled AP above the estimate near chance level: the percentile interval
  then lay beside the estimate, BCa corrects for it, and where the estimate lies
  outside the central 95% of its replicates the centered percentile interval is
  used instead (``ci_method``; :func:`salanalysis._bootstrap.bca_interval`).
- Cost: each class of each score set is sorted once per group; a resample is one
  sparse product of its image counts with a segment matrix (the images between and
  tied with the tie groups holding a positive, :mod:`salanalysis._ranking_blocks`),
  giving AP and ROC AUC with dense work per positive group; batches of resamples
  are reduced to the group measures at once, so memory does not grow with the
  number of resamples times classes. :func:`clutter_all` gives the map, the trend
  and every difference from one bootstrap (``salanalysis clutter`` and
  ``reproduce`` use it); each table equals its own function's.

Prevalence
----------
AP's chance level is the class's prevalence, and prevalence rises with the number
of objects per image, so mAP rises with clutter even for a random scorer. Each
group therefore also reports ``chance_mAP`` (the exact expected mAP of a random
ranking of its images), the mean per-class ROC AUC (``mAUC``, free of prevalence:
0.5 for any random ranking) and the mean chance-corrected AP
``(AP - chance AP) / (1 - chance AP)`` (``mAP_norm``; 0 at chance, but at a fixed
ranking quality it still rises with prevalence, so it is not prevalence-free), each
with its interval. :func:`clutter_trend` tests the change from the first to the last
group in each; :func:`prevalence_verdict` decides on the mean ROC AUC alone (the
measure the fixed-quality and rising-quality simulations of
``benchmarks/calibration.py`` support): a mAP trend with no clear change in the mean
ROC AUC is "explained by prevalence". :func:`trend_sentence` says it in words.

Smoothing
---------
The paper's smoothing, exactly: the vector of group mAPs (ordered by
``n_objects``, tail last) is convolved with the moving average
``[1/3, 1/3, 1/3]`` after padding each end with its boundary value
(:func:`smooth_paper`). The same smoothing applied to every bootstrap
replicate gives the ``*_smoothed`` bands (BC intervals; groups are resampled
independently, so replicate ``r`` of every group forms one replicate of the
whole curve).
A NaN (an empty group) makes its neighbours' smoothed values NaN.
"""

from salanalysis.clutter.core import (
    MEASURES,
    TREND_COLUMNS,
    clutter_all,
    clutter_difference,
    clutter_map,
    clutter_tables,
    clutter_trend,
    prevalence_verdict,
    trend_sentence,
)
from salanalysis.clutter.groups import (
    DEFAULT_MIN_IMAGES,
    K_RULES,
    choose_k,
    clutter_groups,
    default_k,
    objects_histogram,
    smooth_paper,
)
from salanalysis.clutter.run import ClutterResult, run_clutter

__all__ = [
    "DEFAULT_MIN_IMAGES",
    "K_RULES",
    "MEASURES",
    "TREND_COLUMNS",
    "smooth_paper",
    "default_k",
    "choose_k",
    "clutter_groups",
    "clutter_map",
    "objects_histogram",
    "clutter_difference",
    "clutter_trend",
    "clutter_tables",
    "clutter_all",
    "trend_sentence",
    "prevalence_verdict",
    "ClutterResult",
    "run_clutter",
]
