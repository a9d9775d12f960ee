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

By default ``K`` is the largest value for which every group holds at least
``min_images`` images. Valid values of ``K`` form a run ``1..K*`` (adding a
singleton group only adds a constraint, and the tail only shrinks), so ``K*``
is found by counting up. When not even ``K = 1`` qualifies (fewer than
``min_images`` images with objects), ``K = 1`` is used anyway and the table's
``n_images`` shows how few images the one group holds. An explicit ``k`` is
used as given; its groups may then be empty (``n_images`` 0, ``mAP`` NaN).

Images without any non-crowd instance (no objects, or only crowd regions) are
not in any group; their number is in ``table.attrs["n_images_no_objects"]``
and they appear in :func:`objects_histogram` as ``n_objects == 0``.

Per group
---------
- Labels come from :func:`salanalysis.metrics.ground_truth` (crowd
  annotations count as positives, as in the metrics module;
  ``rules.include_crowd`` of a :class:`~salanalysis.metrics.MetricRules`
  changes that). Classes without a positive image in the group are excluded
  from the group's mAP and counted in ``n_classes_excluded``.
- ``mAP`` is the mean over the remaining classes of the AP of
  :func:`salanalysis.metrics.average_precision` (Eq. 7).
- ``ci95_low``/``ci95_high``: 2.5 and 97.5 percentiles of the mAP over
  bootstrap resamples of the group's images (:func:`salanalysis.metrics.bootstrap_ap`;
  every score set is evaluated on the same resamples; each group gets its own
  seed derived from ``seed`` and the group's position). In a resample, a class
  that lost all its positives is left out of that resample's mAP. In small
  groups with rare classes this makes the resampled mAP biased (a class with
  one positive among 10 images is kept only in the resamples that draw it,
  where its AP is conditioned on being defined), and the percentile interval
  can even lie beside the point estimate: read such bands as rough, and keep
  ``min_images`` large.

Smoothing
---------
The paper's smoothing, exactly: the vector of group mAPs (ordered by
``n_objects``, tail last) is convolved with the moving average
``[1/3, 1/3, 1/3]`` after padding each end with its boundary value
(:func:`smooth_paper`). The same smoothing applied to every bootstrap
replicate gives the ``*_smoothed`` bands (groups are resampled independently,
so replicate ``r`` of every group forms one replicate of the whole curve).
A NaN (an empty group) makes its neighbours' smoothed values NaN.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from salanalysis import metrics
from salanalysis._bootstrap import bootstrap_p, percentile_interval
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics import DEFAULT_RULES, MetricRules
from salanalysis.results import AnalysisResult, table_property
from salanalysis.scores import Scores

__all__ = [
    "DEFAULT_MIN_IMAGES",
    "smooth_paper",
    "default_k",
    "clutter_groups",
    "clutter_map",
    "objects_histogram",
    "clutter_difference",
    "ClutterResult",
    "run_clutter",
]

#: Default least number of images per group when ``K`` is chosen automatically.
DEFAULT_MIN_IMAGES = 100

_SMOOTH_KERNEL = np.full(3, 1.0 / 3.0)


# ----------------------------------------------------------------- smoothing
def smooth_paper(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The paper's smoothing of Fig. 3a.

    Convolution with the moving average ``[1/3, 1/3, 1/3]``; the start and the
    end of the vector are padded with their boundary values, so the output has
    the input's length: ``y[0] = (2 x[0] + x[1]) / 3``,
    ``y[i] = (x[i-1] + x[i] + x[i+1]) / 3``, ``y[-1] = (x[-2] + 2 x[-1]) / 3``.

    Parameters
    ----------
    values
        A 1-D vector, or a 2-D array smoothed along its last axis (one row per
        bootstrap replicate). NaN propagates to the neighbours.

    Returns
    -------
    numpy.ndarray
        The smoothed values, same shape as ``values`` (float64).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError("smooth_paper expects a 1-D or 2-D array")
    if x.shape[-1] == 0:
        return x.copy()
    if x.ndim == 1:
        return np.convolve(np.pad(x, 1, mode="edge"), _SMOOTH_KERNEL, mode="valid")
    return np.stack([smooth_paper(row) for row in x]) if len(x) else x.copy()


# ------------------------------------------------------------------ grouping
def default_k(n_objects: Sequence[int] | np.ndarray | pd.Series, min_images: int = DEFAULT_MIN_IMAGES) -> int:
    """The largest ``K`` whose groups (``1..K-1`` and ``>=K``) all hold ``min_images`` images.

    Parameters
    ----------
    n_objects
        Number of objects of each image; images with 0 objects are ignored.
    min_images
        Least number of images every group must hold.

    Returns
    -------
    int
        ``K >= 1``; 1 when no ``K`` qualifies (see the module notes).
    """
    if int(min_images) < 1:
        raise ValueError("min_images must be at least 1")
    n = np.asarray(n_objects, dtype=np.int64)
    n = n[n > 0]
    if n.size == 0:
        return 1
    counts = np.bincount(n)  # counts[j] = images with exactly j objects
    tail = np.cumsum(counts[::-1])[::-1]  # tail[j] = images with >= j objects
    best = 1
    for k in range(2, len(counts)):
        # groups 1..k-1 must each hold min_images, and so must the tail >= k
        if counts[k - 1] < min_images or tail[k] < min_images:
            break
        best = k
    return best


def _group_label(lower: int, is_tail: bool) -> str:
    return f">={lower}" if is_tail else str(lower)


def clutter_groups(
    annotations: Annotations, *, k: int | None = None, min_images: int = DEFAULT_MIN_IMAGES
) -> pd.DataFrame:
    """Assign every image with at least one non-crowd instance to its clutter group.

    Parameters
    ----------
    annotations
        The ground truth.
    k
        The tail's lower bound ``K`` (groups ``"1"`` .. ``"K-1"`` and ``">=K"``);
        default: :func:`default_k` with ``min_images``.
    min_images
        Used only when ``k`` is None.

    Returns
    -------
    pandas.DataFrame
        One row per image with objects, in ``annotations.images`` order:

        - ``image_id``
        - ``row``: the image's row in ``annotations.images`` (and in every score array)
        - ``n_objects``: its number of non-crowd instances
        - ``group``: the group label, e.g. ``"3"`` or ``">=12"``
        - ``group_n_objects``: the group's lower bound
        - ``is_tail``: whether the image is in the tail group

        ``attrs`` holds ``k`` and ``n_images_no_objects``.
    """
    counts = annotations.n_objects().to_numpy().astype(np.int64)
    if k is None:
        k = default_k(counts, min_images)
    elif isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    keep = counts > 0
    n = counts[keep]
    lower = np.minimum(n, k)
    is_tail = n >= k
    out = pd.DataFrame(
        {
            "image_id": annotations.image_ids[keep],
            "row": np.flatnonzero(keep).astype(np.int64),
            "n_objects": n,
            "group": [_group_label(int(lo), bool(t)) for lo, t in zip(lower, is_tail)],
            "group_n_objects": lower.astype(np.int64),
            "is_tail": is_tail,
        }
    )
    out.attrs["k"] = k
    out.attrs["n_images_no_objects"] = int((~keep).sum())
    return out


def objects_histogram(annotations: Annotations) -> pd.DataFrame:
    """Number of images per number of non-crowd instances (Fig. 3b).

    Returns
    -------
    pandas.DataFrame
        One row for every count from 0 to the largest, zeros included:

        - ``n_objects``: non-crowd instances in an image
        - ``n_images``: images with exactly that many
    """
    counts = annotations.n_objects().to_numpy().astype(np.int64)
    hist = np.bincount(counts, minlength=1) if counts.size else np.zeros(1, dtype=np.int64)
    return pd.DataFrame({"n_objects": np.arange(len(hist), dtype=np.int64), "n_images": hist.astype(np.int64)})


# ------------------------------------------------------------------ the core
def _as_list(score_sets: Sequence[Scores] | Scores) -> list[Scores]:
    if isinstance(score_sets, Scores):
        return [score_sets]
    out = list(score_sets)
    if not out:
        raise ValueError("at least one score set is needed")
    for s in out:
        if not isinstance(s, Scores):
            raise TypeError(f"expected Scores, got {type(s).__name__}")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise InputError(f"score set names must differ, got {names}")
    return out


def _group_seed(seed: int, position: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(position)]).generate_state(1)[0])


def _nanmean_rows(ap: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where a row is all NaN."""
    finite = np.isfinite(ap)
    n = finite.sum(axis=-1)
    total = np.where(finite, ap, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


@dataclass
class _Core:
    groups: pd.DataFrame  # one row per group: group, n_objects, is_tail, n_images, n_classes
    map_point: np.ndarray  # (S, G)
    map_reps: np.ndarray  # (n_boot, S, G)
    k: int
    n_images_no_objects: int
    n_categories: int


def _core(
    annotations: Annotations,
    score_sets: list[Scores],
    *,
    k: int | None,
    min_images: int,
    n_boot: int,
    seed: int,
    rules: MetricRules,
) -> _Core:
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    n_boot = int(n_boot)
    mats = [s.aligned(annotations.image_ids, annotations.category_ids) for s in score_sets]
    image_ids, labels = metrics.ground_truth(annotations, rules.replace(include_empty=True))
    if not np.array_equal(np.asarray(image_ids), annotations.image_ids):
        raise RuntimeError("metrics.ground_truth rows do not follow annotations.images")
    labels = np.asarray(labels, dtype=bool)
    per_image = clutter_groups(annotations, k=k, min_images=min_images)
    k = per_image.attrs["k"]
    n_cat = labels.shape[1]
    n_sets = len(score_sets)
    lowers = np.arange(1, k + 1, dtype=np.int64)
    rows = []
    point = np.full((n_sets, k), np.nan)
    reps = np.full((n_boot, n_sets, k), np.nan)
    for g, lower in enumerate(lowers):
        tail = bool(lower == k)
        sel = per_image["row"].to_numpy()[
            (per_image["is_tail"] if tail else per_image["n_objects"] == lower).to_numpy()
        ]
        y = labels[sel]
        n_classes = int(y.any(axis=0).sum())
        rows.append(
            {
                "group": _group_label(int(lower), tail),
                "n_objects": int(lower),
                "is_tail": tail,
                "n_images": int(len(sel)),
                "n_classes": n_classes,
                "n_classes_excluded": int(n_cat - n_classes),
            }
        )
        if len(sel) == 0:
            continue
        sub = [m[sel] for m in mats]
        for i, sc in enumerate(sub):
            point[i, g] = _nanmean_rows(np.asarray(metrics.average_precision(y, sc), dtype=np.float64))
        if n_boot:
            ap = np.asarray(metrics.bootstrap_ap(y, sub, n_boot=n_boot, seed=_group_seed(seed, g)))
            reps[:, :, g] = _nanmean_rows(ap)
    return _Core(
        groups=pd.DataFrame(rows),
        map_point=point,
        map_reps=reps,
        k=k,
        n_images_no_objects=per_image.attrs["n_images_no_objects"],
        n_categories=n_cat,
    )


def _attrs(core: _Core, min_images: int, n_boot: int, seed: int, k_given: int | None) -> dict:
    return {
        "k": core.k,
        "k_chosen": "given" if k_given is not None else f"largest K with all groups >= {min_images} images",
        "min_images": int(min_images),
        "n_images_no_objects": core.n_images_no_objects,
        "n_categories": core.n_categories,
        "n_boot": int(n_boot),
        "seed": int(seed),
    }


# ------------------------------------------------------------------- public
def clutter_map(
    annotations: Annotations,
    score_sets: Sequence[Scores] | Scores,
    *,
    k: int | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    n_boot: int = 1000,
    seed: int = 0,
    smooth: bool = True,
    rules: MetricRules = DEFAULT_RULES,
) -> pd.DataFrame:
    """mAP per clutter group for each score set (Fig. 3a), with bootstrap bands.

    See the module docstring for the grouping, the exclusions, the bootstrap
    and the smoothing.

    Parameters
    ----------
    annotations
        The ground truth.
    score_sets
        One or more score sets aligned with ``annotations`` (names must differ).
    k
        The tail group's lower bound; default: the largest ``K`` whose groups
        all hold at least ``min_images`` images.
    min_images
        Least images per group when ``k`` is chosen automatically.
    n_boot
        Bootstrap resamples per group (0: no bands, the ``ci95_*`` columns are NaN).
    seed
        Seed of the resampling (the same seed gives the same table).
    smooth
        Compute the paper's smoothed curve; when False the ``*smoothed*``
        columns are NaN.
    rules
        ``rules.include_crowd``: whether crowd annotations make an image positive
        for their class (the other rules do not apply to AP).

    Returns
    -------
    pandas.DataFrame
        One row per (score set, group), score sets in the given order, groups by
        ``n_objects``:

        - ``model``: the score set's name
        - ``group``: ``"1"`` .. ``"K-1"``, and ``">=K"``
        - ``n_objects``: the group's lower bound (int)
        - ``is_tail``: the ``">=K"`` group
        - ``n_images``: images in the group
        - ``n_classes``: classes with at least one positive image in the group
        - ``n_classes_excluded``: classes without one (left out of the mAP)
        - ``mAP``: mean AP over the ``n_classes`` classes (0..1)
        - ``mAP_smoothed``: the paper's moving average of ``mAP`` over groups
        - ``ci95_low``, ``ci95_high``: percentile bootstrap 95% interval of ``mAP``
        - ``ci95_low_smoothed``, ``ci95_high_smoothed``: the same for ``mAP_smoothed``

        ``attrs``: ``k``, ``k_chosen``, ``min_images``, ``n_images_no_objects``
        (images in no group), ``n_categories``, ``n_boot``, ``seed``.
    """
    sets = _as_list(score_sets)
    core = _core(
        annotations, sets, k=k, min_images=min_images, n_boot=n_boot, seed=seed, rules=rules
    )
    tables = []
    for i, s in enumerate(sets):
        t = core.groups.copy()
        t.insert(0, "model", s.name)
        mp = core.map_point[i]
        t["mAP"] = mp
        lo, hi = percentile_interval(core.map_reps[:, i, :])
        if smooth:
            t["mAP_smoothed"] = smooth_paper(mp)
            slo, shi = percentile_interval(smooth_paper(core.map_reps[:, i, :]))
        else:
            t["mAP_smoothed"] = np.nan
            slo = shi = np.full(len(t), np.nan)
        t["ci95_low"], t["ci95_high"] = lo, hi
        t["ci95_low_smoothed"], t["ci95_high_smoothed"] = slo, shi
        tables.append(t)
    out = pd.concat(tables, ignore_index=True)
    out["model"] = out["model"].astype(object)
    out["group"] = out["group"].astype(object)
    out.attrs.update(_attrs(core, min_images, n_boot, seed, k))
    return out


def clutter_difference(
    annotations: Annotations,
    a: Scores,
    b: Scores,
    *,
    k: int | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    n_boot: int = 1000,
    seed: int = 0,
    smooth: bool = True,
    rules: MetricRules = DEFAULT_RULES,
) -> pd.DataFrame:
    """mAP of ``b`` minus mAP of ``a`` per clutter group, with paired bootstrap bands.

    Both score sets are evaluated on the same image resamples of each group
    (:func:`salanalysis.metrics.bootstrap_ap`), so the interval reflects the
    difference's own uncertainty. Same grouping, seeds and options as
    :func:`clutter_map` (with equal arguments the groups and resamples match).

    Returns
    -------
    pandas.DataFrame
        One row per group:

        - ``model_a``, ``model_b``: the two score sets' names
        - ``group``, ``n_objects``, ``is_tail``, ``n_images``, ``n_classes``,
          ``n_classes_excluded``: as in :func:`clutter_map`
        - ``mAP_A``, ``mAP_B``: each score set's mAP in the group
        - ``delta``: ``mAP_B - mAP_A`` (positive: ``b`` is better)
        - ``delta_smoothed``: the paper's smoothing of ``delta`` (equal to the
          difference of the smoothed curves, the smoothing being linear)
        - ``ci95_low``, ``ci95_high``: paired percentile bootstrap 95% interval of ``delta``
        - ``ci95_low_smoothed``, ``ci95_high_smoothed``: the same for ``delta_smoothed``
        - ``p_val``: two-sided bootstrap p-value of ``delta != 0``, the rule of
          :mod:`salanalysis.metrics`: ``min(1, 2 min(1 + #{d <= 0}, 1 + #{d >= 0}) / (B + 1))``
          over the ``B`` resampled differences ``d``

        ``attrs`` as in :func:`clutter_map`.
    """
    if a.name == b.name:
        raise InputError(f"the two score sets have the same name '{a.name}'")
    core = _core(
        annotations, [a, b], k=k, min_images=min_images, n_boot=n_boot, seed=seed, rules=rules
    )
    t = core.groups.copy()
    t.insert(0, "model_b", b.name)
    t.insert(0, "model_a", a.name)
    t["model_a"] = t["model_a"].astype(object)
    t["model_b"] = t["model_b"].astype(object)
    t["group"] = t["group"].astype(object)
    t["mAP_A"] = core.map_point[0]
    t["mAP_B"] = core.map_point[1]
    delta = core.map_point[1] - core.map_point[0]
    d_reps = core.map_reps[:, 1, :] - core.map_reps[:, 0, :]
    t["delta"] = delta
    t["delta_smoothed"] = smooth_paper(delta) if smooth else np.nan
    t["ci95_low"], t["ci95_high"] = percentile_interval(d_reps)
    if smooth:
        t["ci95_low_smoothed"], t["ci95_high_smoothed"] = percentile_interval(smooth_paper(d_reps))
    else:
        t["ci95_low_smoothed"] = t["ci95_high_smoothed"] = np.nan
    t["p_val"] = bootstrap_p(d_reps)
    t.attrs.update(_attrs(core, min_images, n_boot, seed, k))
    return t


# ------------------------------------------------------------ file-level run
@dataclass
class ClutterResult(AnalysisResult):
    """What :func:`run_clutter` computed: ``tables`` ``clutter_map`` (:func:`clutter_map` of
    every score set), ``objects_histogram`` (:func:`objects_histogram`) and, with two or
    more score sets, ``clutter_difference`` (:func:`clutter_difference` of every score set
    after the first against the first, stacked); ``paths``: the files written.
    ``map``, ``histogram`` and ``difference`` name the three tables.
    """

    FILES: ClassVar[dict[str, str]] = {"clutter_map": "clutter_map.csv",
                                       "objects_histogram": "objects_histogram.csv",
                                       "clutter_difference": "clutter_difference.csv"}

    map = table_property("clutter_map")
    histogram = table_property("objects_histogram")
    difference = table_property("clutter_difference", "``tables['clutter_difference']`` (None with one score set)")

    def summary(self) -> str:
        """A short plain-text summary (what the command line prints)."""
        m = self.map
        attrs = m.attrs
        first = m[m["model"] == m["model"].iloc[0]]
        lines = [
            f"clutter groups: K={attrs['k']} ({attrs['k_chosen']}); "
            f"{int(first['n_images'].sum())} images in groups, "
            f"{attrs['n_images_no_objects']} without objects (not grouped); "
            f"bootstrap {attrs['n_boot']} resamples, seed {attrs['seed']}",
        ]
        models = list(dict.fromkeys(m["model"]))
        head = f"{'group':>7} {'images':>7} " + " ".join(f"{name[:17]:>17}" for name in models)
        lines.append(head + "   (mAP, smoothed in brackets)")
        for _, grp in m.groupby("n_objects", sort=True):
            row = grp.iloc[0]
            cells = []
            for name in models:
                r = grp[grp["model"] == name].iloc[0]
                cells.append(f"{r['mAP']:.4f} [{r['mAP_smoothed']:.4f}]".rjust(17))
            lines.append(f"{row['group']:>7} {int(row['n_images']):>7} " + " ".join(cells))
        if self.difference is not None:
            for (ma, mb), d in self.difference.groupby(["model_a", "model_b"], sort=False):
                n_up = int((d["ci95_low"] > 0).sum())
                n_down = int((d["ci95_high"] < 0).sum())
                lines.append(
                    f"{mb} - {ma}: mAP difference above 0 (95% CI) in {n_up} of {len(d)} groups, "
                    f"below 0 in {n_down}; group {d['group'].iloc[0]}: {d['delta'].iloc[0]:+.4f} "
                    f"[{d['ci95_low'].iloc[0]:+.4f}, {d['ci95_high'].iloc[0]:+.4f}]"
                )
        if self.paths:
            lines.append("wrote " + ", ".join(str(p) for p in self.paths))
        return "\n".join(lines)


def run_clutter(
    annotations: Annotations | str | os.PathLike,
    scores: Mapping[str, str | os.PathLike | Scores],
    out: str | os.PathLike | None = None,
    *,
    k: int | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    n_boot: int = 1000,
    seed: int = 0,
    smooth: bool = True,
    logits: bool = False,
    missing: str = "error",
) -> ClutterResult:
    """Read the inputs, compute the clutter tables and write them to ``out`` (unless None).

    Writes ``clutter_map.csv`` (:func:`clutter_map`), ``objects_histogram.csv``
    (:func:`objects_histogram`) and, with two or more score sets,
    ``clutter_difference.csv`` (each later score set minus the first,
    :func:`clutter_difference`). Everything is computed before anything is
    written; each file is written atomically; a ``clutter_difference.csv`` that
    an earlier run left in ``out`` goes when this run has one score set.

    Parameters
    ----------
    annotations
        An :class:`Annotations` or the path of a COCO instances JSON.
    scores
        Score set name -> score file (or :class:`Scores`), in order; the first is
        the reference of the differences.
    out
        Output folder (created if needed); None: nothing is written.
    k, min_images, n_boot, seed, smooth
        As in :func:`clutter_map`.
    logits, missing
        As in :func:`salanalysis.scores.read_scores`.
    """
    from salanalysis.scores import read_score_sets

    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    if not scores:
        raise InputError("at least one score file is needed")
    sets = read_score_sets(scores, ann, logits=logits, missing=missing)
    table = clutter_map(ann, sets, k=k, min_images=min_images, n_boot=n_boot, seed=seed, smooth=smooth)
    k_used = table.attrs["k"]
    hist = objects_histogram(ann)
    diff = None
    if len(sets) > 1:
        parts = [
            clutter_difference(ann, sets[0], other, k=k_used, n_boot=n_boot, seed=seed, smooth=smooth)
            for other in sets[1:]
        ]
        diff = pd.concat(parts, ignore_index=True)
        diff.attrs.update(parts[0].attrs)
    tables = {"clutter_map": table, "objects_histogram": hist}
    if diff is not None:
        tables["clutter_difference"] = diff
    result = ClutterResult(tables)
    if out is not None:
        result.write(out)
    return result
