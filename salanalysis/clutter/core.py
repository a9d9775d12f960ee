"""mAP (and prevalence-free measures) per clutter group, the difference of two score sets, the trend."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salanalysis import metrics
from salanalysis._bootstrap import CI_METHODS, bca_interval, bootstrap_p, normal_interval
from salanalysis.clutter.groups import (
    DEFAULT_MIN_IMAGES,
    _group_label,
    clutter_groups,
    smooth_paper,
)
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.limits import check_count
from salanalysis.metrics import DEFAULT_RULES, MetricRules
from salanalysis.metrics.ranking import chance_ap, normalized_ap, roc_auc
from salanalysis.scores import Scores

__all__ = ["MEASURES", "MAP_COLUMNS", "TREND_COLUMNS", "clutter_map", "clutter_difference", "clutter_trend",
           "clutter_tables", "clutter_all", "trend_sentence", "prevalence_verdict"]

#: The per-group measures with bootstrap intervals: mAP (the paper's), the mean per-class ROC
#: AUC (free of prevalence) and the mean chance-corrected AP (free of AP's chance level only).
MEASURES = {
    "mAP": "mean AP over the classes with a positive in the group (the paper's Fig. 3)",
    "mAUC": "mean per-class ROC AUC (0.5 for any random ranking, whatever the prevalence)",
    "mAP_norm": "mean chance-corrected AP, (AP - chance AP) / (1 - chance AP), over the classes with a positive "
                "(0 at chance; still rises with prevalence at a fixed ranking quality)",
}


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


def _nanmean(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where a row is all NaN."""
    finite = np.isfinite(a)
    n = finite.sum(axis=-1)
    total = np.where(finite, a, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _measures(ap: np.ndarray, auc: np.ndarray, prev: np.ndarray, n_eval: np.ndarray) -> dict[str, np.ndarray]:
    """The group measures of per-class AP, AUC (..., S, C), prevalence (..., C) and images evaluated (C,).

    The chance AP of a (re)sample is that of ``prevalence * n_eval`` positives among ``n_eval``
    images (a bootstrap resample keeps the group's size).
    """
    return {"mAP": _nanmean(ap), "mAUC": _nanmean(auc),
            "mAP_norm": _nanmean(normalized_ap(ap, (prev * n_eval)[..., None, :], n_eval))}


def _batch_measures(res: dict[str, np.ndarray], n_eval: np.ndarray) -> dict[str, np.ndarray]:
    """The group measures of one batch of :func:`~salanalysis.metrics.bootstrap_ranking` resamples
    (``functools.partial(_batch_measures, n_eval=...)`` is the picklable reduce step)."""
    return _measures(res["AP"], res["AUC"], res["prevalence"], n_eval)


@dataclass
class _Core:
    groups: pd.DataFrame  # one row per group: group, n_objects, is_tail, n_images, n_classes, ...
    point: dict[str, np.ndarray]  # measure -> (S, G)
    reps: dict[str, np.ndarray]  # measure -> (n_boot, S, G)
    jack: list[dict[str, np.ndarray]]  # per group: measure -> (m_g, S)
    chance: np.ndarray  # (G,) chance mAP
    attrs: dict = field(default_factory=dict)


def _core(annotations: Annotations, score_sets: list[Scores], *, k: int | None, min_images: int, n_boot: int,
          seed: int, rules: MetricRules, k_rule: str = "min-images") -> _Core:
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    n_boot = int(n_boot)
    check_count("bootstrap", n_boot, "n_boot")
    mats = [s.aligned(annotations.image_ids, annotations.category_ids) for s in score_sets]
    all_images = rules.replace(include_empty=True)
    image_ids, labels = metrics.ground_truth(annotations, all_images)
    if not np.array_equal(np.asarray(image_ids), annotations.image_ids):
        raise RuntimeError("metrics.ground_truth rows do not follow annotations.images")
    labels = np.asarray(labels, dtype=bool)
    mask = metrics.evaluation_mask(annotations, all_images)  # LVIS: the images each class is verified in
    per_image = clutter_groups(annotations, k=k, min_images=min_images, k_rule=k_rule)
    k = per_image.attrs["k"]
    n_cat, n_sets = labels.shape[1], len(score_sets)
    point = {m: np.full((n_sets, k), np.nan) for m in MEASURES}
    reps = {m: np.full((n_boot, n_sets, k), np.nan) for m in MEASURES}
    jack: list[dict[str, np.ndarray]] = []
    chance = np.full(k, np.nan)
    rows = []
    for g, lower in enumerate(range(1, k + 1)):
        tail = lower == k
        sel = per_image["row"].to_numpy()[
            (per_image["is_tail"] if tail else per_image["n_objects"] == lower).to_numpy()]
        y = labels[sel]
        m = None if mask is None else mask[sel]
        n_pos = y.sum(axis=0)
        n_eval = np.full(n_cat, len(sel)) if m is None else m.sum(axis=0)  # images that count, per class
        n_classes = int((n_pos > 0).sum())
        rows.append({"group": _group_label(lower, tail), "n_objects": lower, "is_tail": tail,
                     "n_images": int(len(sel)), "n_classes": n_classes, "n_classes_excluded": int(n_cat - n_classes),
                     "n_classes_auc": int(((n_pos > 0) & (n_pos < n_eval)).sum())})
        jack.append({})
        if len(sel) == 0:
            continue
        sub = [x[sel] for x in mats]
        chance[g] = _nanmean(chance_ap(n_pos, n_eval))
        ap = np.stack([metrics.average_precision(y, s, m) for s in sub])
        auc = np.stack([roc_auc(y, s, m) for s in sub])
        with np.errstate(invalid="ignore", divide="ignore"):
            prev = n_pos / n_eval
        for name, v in _measures(ap, auc, prev, n_eval).items():
            point[name][:, g] = v
        if n_boot:
            # each batch of resamples is reduced to the group measures at once: memory holds
            # (n_boot, S) per measure, not the per-class values of every resample
            rb = metrics.bootstrap_ranking(y, sub, n_boot=n_boot, seed=_group_seed(seed, g), auc=True, mask=m,
                                           reduce=functools.partial(_batch_measures, n_eval=n_eval))
            for name, v in rb.reps.items():
                reps[name][:, :, g] = v
            jack[g] = rb.jackknife
    attrs = {key: per_image.attrs[key] for key in ("k", "k_chosen", "warning", "n_images_no_objects")}
    return _Core(pd.DataFrame(rows), point, reps, jack, chance,
                 {**attrs, "n_categories": n_cat, "federated": "on" if mask is not None else "off"})


def _per_group_bca(point: np.ndarray, reps: np.ndarray, jack: list[np.ndarray | None]):
    """BCa intervals of one quantity per group: point (G,), reps (B, G), jackknife per group."""
    g = len(point)
    lo, hi = np.full(g, np.nan), np.full(g, np.nan)
    method = np.full(g, "none", dtype=object)
    for j in range(g):
        lo[j], hi[j], method[j] = (x[()] for x in bca_interval(point[j], reps[:, j], jack[j]))
    return lo, hi, method


def _attrs(core: _Core, min_images: int, n_boot: int, seed: int, k_rule: str) -> dict:
    return {**core.attrs, "k_rule": k_rule, "min_images": int(min_images), "n_boot": int(n_boot),
            "seed": int(seed), "ci_methods": {k: CI_METHODS[k] for k in ("BCa", "BC", "centered percentile", "normal")}}


#: Columns of :func:`clutter_map`, in order.
MAP_COLUMNS = ["model", "group", "n_objects", "is_tail", "n_images", "n_classes", "n_classes_excluded", "mAP",
               "mAP_smoothed", "ci95_low", "ci95_high", "ci95_low_smoothed", "ci95_high_smoothed", "ci_method",
               "n_classes_auc", "chance_mAP", "mAUC", "mAUC_ci95_low", "mAUC_ci95_high", "mAP_norm",
               "mAP_norm_ci95_low", "mAP_norm_ci95_high"]


def clutter_map(
    annotations: Annotations,
    score_sets: Sequence[Scores] | Scores,
    *,
    k: int | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    k_rule: str = "min-images",
    n_boot: int = 1000,
    seed: int = 0,
    smooth: bool = True,
    rules: MetricRules = DEFAULT_RULES,
) -> pd.DataFrame:
    """mAP per clutter group for each score set (Fig. 3a), with prevalence-free measures and intervals.

    See the package docstring for the grouping, the exclusions, the bootstrap,
    the smoothing and why mAP alone rises with clutter.

    Parameters
    ----------
    annotations
        The ground truth.
    score_sets
        One or more score sets covering the annotated images (names must differ).
    k
        The tail group's lower bound; default: chosen by ``k_rule``.
    min_images, k_rule
        How ``K`` is chosen when not given (:func:`~salanalysis.clutter.choose_k`).
    n_boot
        Bootstrap resamples per group (0: no intervals, the interval columns are NaN).
    seed
        Seed of the resampling (the same seed gives the same table).
    smooth
        Compute the paper's smoothed curve; when False the ``*smoothed*``
        columns are NaN.
    rules
        ``rules.include_crowd``: whether crowd annotations make an image positive
        for their class; ``rules.federated``: LVIS's federated evaluation (default
        ``"auto"``: when the images carry ``neg_category_ids``), each class counting
        only the group's images where it is verified
        (:func:`~salanalysis.metrics.evaluation_mask`), in its AP, AUC, prevalence and
        chance AP as in :func:`~salanalysis.metrics.table1`. The other rules do not apply to AP.

    Returns
    -------
    pandas.DataFrame
        One row per (score set, group), score sets in the given order, groups by
        ``n_objects``:

        - ``model``; ``group`` (``"1"`` .. ``"K-1"``, ``">=K"``); ``n_objects`` (the group's
          lower bound); ``is_tail``; ``n_images``
        - ``n_classes``: classes with a positive image in the group (averaged in mAP);
          ``n_classes_excluded``: the others
        - ``mAP`` (0..1); ``mAP_smoothed``: the paper's moving average;
          ``ci95_low``, ``ci95_high``: BCa interval of ``mAP``; ``ci95_low_smoothed``,
          ``ci95_high_smoothed``: BC interval of ``mAP_smoothed`` (the same smoothing of
          every replicate); ``ci_method``: of the ``mAP`` interval
        - ``n_classes_auc``: classes with positive and negative images (averaged in mAUC)
        - ``chance_mAP``: the expected mAP of a random ranking of the group's images
          (:func:`~salanalysis.metrics.ranking.chance_ap`; it depends on the labels only)
        - ``mAUC``, ``mAUC_ci95_low``, ``mAUC_ci95_high``; ``mAP_norm``,
          ``mAP_norm_ci95_low``, ``mAP_norm_ci95_high``: the prevalence-free measures
          (:data:`MEASURES`) with BCa intervals

        ``attrs``: ``k``, ``k_rule``, ``k_chosen``, ``warning``, ``min_images``,
        ``n_images_no_objects`` (images in no group), ``n_categories``, ``federated``
        (``"on"``/``"off"``), ``n_boot``, ``seed``, ``ci_methods``.
    """
    sets = _as_list(score_sets)
    core = _core(annotations, sets, k=k, min_images=min_images, n_boot=n_boot, seed=seed, rules=rules,
                 k_rule=k_rule)
    return _map_table(core, sets, smooth, min_images, n_boot, seed, k_rule)


def _map_table(core: _Core, sets: list[Scores], smooth: bool, min_images: int, n_boot: int, seed: int,
               k_rule: str) -> pd.DataFrame:
    tables = []
    for i, s in enumerate(sets):
        t = core.groups.copy()
        t.insert(0, "model", s.name)
        mp = core.point["mAP"][i]
        t["mAP"] = mp
        t["ci95_low"], t["ci95_high"], t["ci_method"] = _per_group_bca(
            mp, core.reps["mAP"][:, i], [j["mAP"][:, i] if j else None for j in core.jack])
        if smooth:
            t["mAP_smoothed"] = smooth_paper(mp)
            slo, shi, _ = bca_interval(smooth_paper(mp), smooth_paper(core.reps["mAP"][:, i]))
        else:
            t["mAP_smoothed"] = np.nan
            slo = shi = np.full(len(t), np.nan)
        t["ci95_low_smoothed"], t["ci95_high_smoothed"] = slo, shi
        t["chance_mAP"] = core.chance
        for name in ("mAUC", "mAP_norm"):
            v = core.point[name][i]
            t[name] = v
            t[f"{name}_ci95_low"], t[f"{name}_ci95_high"], _ = _per_group_bca(
                v, core.reps[name][:, i], [j[name][:, i] if j else None for j in core.jack])
        tables.append(t)
    out = pd.concat(tables, ignore_index=True)[MAP_COLUMNS]
    for c in ("model", "group", "ci_method"):
        out[c] = out[c].astype(object)
    out.attrs.update(_attrs(core, min_images, n_boot, seed, k_rule))
    return out


def clutter_difference(annotations: Annotations, a: Scores, b: Scores, **options) -> pd.DataFrame:
    """mAP of ``b`` minus mAP of ``a`` per clutter group, with paired bootstrap intervals.

    Both score sets are evaluated on the same image resamples of each group
    (:func:`salanalysis.metrics.bootstrap_ranking`), so the interval reflects the
    difference's own uncertainty. ``options``: those of :func:`clutter_map` (``k``,
    ``min_images``, ``k_rule``, ``n_boot``, ``seed``, ``smooth``, ``rules``); with equal
    options the groups and resamples match.

    Returns
    -------
    pandas.DataFrame
        One row per group:

        - ``model_a``, ``model_b``: the two score sets' names
        - ``group``, ``n_objects``, ``is_tail``, ``n_images``, ``n_classes``,
          ``n_classes_excluded``, ``n_classes_auc``: as in :func:`clutter_map`
        - ``mAP_A``, ``mAP_B``: each score set's mAP in the group
        - ``delta``: ``mAP_B - mAP_A`` (positive: ``b`` is better)
        - ``delta_smoothed``: the paper's smoothing of ``delta`` (equal to the
          difference of the smoothed curves, the smoothing being linear)
        - ``ci95_low``, ``ci95_high``, ``ci_method``: paired BCa interval of ``delta``
        - ``ci95_low_smoothed``, ``ci95_high_smoothed``: BC interval of ``delta_smoothed``
        - ``p_val``: two-sided bootstrap p-value of ``delta != 0``,
          ``min(1, 2 min(1 + #{d <= 0}, 1 + #{d >= 0}) / (B + 1))`` over the ``B``
          resampled differences ``d``

        ``attrs`` as in :func:`clutter_map`.
    """
    if a.name == b.name:
        raise InputError(f"the two score sets have the same name '{a.name}'")
    opts = _options(options)
    smooth = opts.pop("smooth")
    core = _core(annotations, [a, b], **opts)
    return _difference_table(core, [a, b], 0, 1, smooth, opts["min_images"], opts["n_boot"], opts["seed"],
                             opts["k_rule"])


def _difference_table(core: _Core, sets: list[Scores], ia: int, ib: int, smooth: bool, min_images: int,
                      n_boot: int, seed: int, k_rule: str) -> pd.DataFrame:
    """:func:`clutter_difference` of score sets ``ib`` minus ``ia`` of a core holding both."""
    a, b = sets[ia], sets[ib]
    t = core.groups.copy()
    t.insert(0, "model_b", b.name)
    t.insert(0, "model_a", a.name)
    t["mAP_A"] = core.point["mAP"][ia]
    t["mAP_B"] = core.point["mAP"][ib]
    delta = core.point["mAP"][ib] - core.point["mAP"][ia]
    d_reps = core.reps["mAP"][:, ib, :] - core.reps["mAP"][:, ia, :]
    t["delta"] = delta
    t["delta_smoothed"] = smooth_paper(delta) if smooth else np.nan
    t["ci95_low"], t["ci95_high"], t["ci_method"] = _per_group_bca(
        delta, d_reps, [j["mAP"][:, ib] - j["mAP"][:, ia] if j else None for j in core.jack])
    if smooth:
        lo, hi, _ = bca_interval(smooth_paper(delta), smooth_paper(d_reps))
        t["ci95_low_smoothed"], t["ci95_high_smoothed"] = lo, hi
    else:
        t["ci95_low_smoothed"] = t["ci95_high_smoothed"] = np.nan
    t["p_val"] = bootstrap_p(d_reps)
    t = t[[c for c in t.columns if c not in ("n_classes_auc", "ci_method")] + ["ci_method", "n_classes_auc"]]
    for c in ("model_a", "model_b", "group", "ci_method"):
        t[c] = t[c].astype(object)
    t.attrs.update(_attrs(core, min_images, n_boot, seed, k_rule))
    return t


def clutter_all(annotations: Annotations, score_sets: Sequence[Scores] | Scores,
                pairs: Sequence[tuple[str, str]] = (), **options) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                           list[pd.DataFrame]]:
    """:func:`clutter_map`, :func:`clutter_trend` and a :func:`clutter_difference` per pair, from one bootstrap.

    ``pairs``: ``(name_a, name_b)`` of score sets among ``score_sets``; each difference is
    ``b`` minus ``a``. The bootstrap of a group resamples the same images whatever score
    sets are evaluated (its seed depends on the seed and the group only), so every table is
    the one its own function gives with the same options and ``k`` (the cut-off of the map),
    at the cost of one bootstrap instead of one per table. ``options``: those of
    :func:`clutter_map`.
    """
    sets = _as_list(score_sets)
    names = [s.name for s in sets]
    for pa, pb in pairs:
        for name in (pa, pb):
            if name not in names:
                raise InputError(f"score set '{name}' is not among the score sets {names}")
        if pa == pb:
            raise InputError(f"the two score sets have the same name '{pa}'")
    opts = _options(options)
    smooth = opts.pop("smooth")
    core = _core(annotations, sets, **opts)
    args = (opts["min_images"], opts["n_boot"], opts["seed"], opts["k_rule"])
    diffs = [_difference_table(core, sets, names.index(pa), names.index(pb), smooth, *args) for pa, pb in pairs]
    return _map_table(core, sets, smooth, *args), _trend_table(core, sets, *args), diffs


_OPTIONS = {"k": None, "min_images": DEFAULT_MIN_IMAGES, "k_rule": "min-images", "n_boot": 1000, "seed": 0,
            "smooth": True, "rules": DEFAULT_RULES}


def _options(options: dict) -> dict:
    """The options of :func:`clutter_map` with their defaults; an unknown one is a TypeError."""
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    return {**_OPTIONS, **options}


#: Columns of :func:`clutter_trend`.
TREND_COLUMNS = ["model", "measure", "first_group", "last_group", "first", "last", "change", "ci95_low",
                 "ci95_high", "ci_method", "verdict", "meaning"]


def clutter_tables(annotations: Annotations, score_sets: Sequence[Scores] | Scores,
                   **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`clutter_map` and :func:`clutter_trend` from one computation (one bootstrap).

    ``options``: those of :func:`clutter_map`.
    """
    sets = _as_list(score_sets)
    opts = _options(options)
    smooth = opts.pop("smooth")
    core = _core(annotations, sets, **opts)
    args = (opts["min_images"], opts["n_boot"], opts["seed"], opts["k_rule"])
    return _map_table(core, sets, smooth, *args), _trend_table(core, sets, *args)


def clutter_trend(annotations: Annotations, score_sets: Sequence[Scores] | Scores, **options) -> pd.DataFrame:
    """Does the rise of mAP with clutter survive a prevalence-free measure? (Fig. 3)

    For each score set and measure (``mAP``, ``chance_mAP``, ``mAUC``, ``mAP_norm``): the
    value in the first and in the last (tail) group, the change last - first and, from
    the same bootstrap replicates as :func:`clutter_map` (groups are resampled
    independently, so replicate ``r`` of each group is one replicate of the change), its
    normal 95% interval (change +/- 1.96 bootstrap SD; the BC interval called a change of
    the mean ROC AUC in 15% of fixed-quality data sets, ``benchmarks/calibration.py`` [6]). ``verdict``: ``"rises"`` / ``"falls"`` when the interval excludes 0,
    ``"no clear change"`` otherwise; ``chance_mAP`` (a function of the labels alone)
    gets ``"rises"``/``"falls"``/``"flat"`` by its sign. ``options``: those of
    :func:`clutter_map` (``smooth`` has no effect here).
    """
    return clutter_tables(annotations, score_sets, **options)[1]


def _trend_table(core: _Core, sets: list[Scores], min_images: int, n_boot: int, seed: int,
                 k_rule: str) -> pd.DataFrame:
    groups = core.groups
    nonempty = np.flatnonzero(groups["n_images"].to_numpy() > 0)
    rows = []
    if len(nonempty) >= 2:
        f, last = int(nonempty[0]), int(nonempty[-1])
        for i, s in enumerate(sets):
            base = {"model": s.name, "first_group": groups["group"].iat[f], "last_group": groups["group"].iat[last]}
            for name in ("mAP", "chance_mAP", "mAUC", "mAP_norm"):
                if name == "chance_mAP":
                    v0, v1 = core.chance[f], core.chance[last]
                    change = v1 - v0
                    rows.append({**base, "measure": name, "first": v0, "last": v1, "change": change,
                                 "ci95_low": np.nan, "ci95_high": np.nan, "ci_method": "none",
                                 "verdict": "rises" if change > 1e-12 else "falls" if change < -1e-12 else "flat",
                                 "meaning": "expected mAP of a random ranking: the part of the mAP change due to "
                                            "prevalence alone"})
                    continue
                v0, v1 = core.point[name][i, f], core.point[name][i, last]
                d = core.reps[name][:, i, last] - core.reps[name][:, i, f]
                lo, hi, method = normal_interval(v1 - v0, d)  # the BC interval over-rejected (calibration.py [6])
                tol = 1e-12  # rounding: a constant scorer's AUC and normalised AP are 0.5 and 0 to 1e-16
                verdict = "rises" if lo > tol else "falls" if hi < -tol else "no clear change"
                if str(method) == "none":
                    verdict = "no interval (no bootstrap)"
                rows.append({**base, "measure": name, "first": v0, "last": v1, "change": v1 - v0,
                             "ci95_low": float(lo), "ci95_high": float(hi), "ci_method": str(method),
                             "verdict": verdict, "meaning": MEASURES[name]})
    out = pd.DataFrame(rows, columns=TREND_COLUMNS)
    out.attrs.update(_attrs(core, min_images, n_boot, seed, k_rule))
    return out


def prevalence_verdict(trend: pd.DataFrame, model: str) -> str:
    """What the model's mAP trend with clutter is, once prevalence is set aside (Fig. 3).

    The prevalence-free measure is the mean ROC AUC (``mAUC``): the only one of the group
    measures whose false-positive rate stayed at its level in the fixed-quality and
    rising-quality simulations of ``benchmarks/calibration.py``. (The chance-corrected
    mAP, ``mAP_norm``, rises with prevalence at any fixed ranking quality, so it cannot
    tell ranking from prevalence and takes no part in the verdict.) Returns one of:

    - ``"no trend"``: mAP shows no clear change (or no interval);
    - ``"survives"``: mAP and mean ROC AUC change in the same direction;
    - ``"explained by prevalence"``: mAP changes, the mean ROC AUC shows no clear change;
    - ``"reverses"``: the mean ROC AUC changes the other way.
    """
    t = trend[trend["model"] == model].set_index("measure")
    if t.empty or "mAP" not in t.index or t.loc["mAP", "verdict"] not in ("rises", "falls"):
        return "no trend"
    a = t.loc["mAUC", "verdict"] if "mAUC" in t.index else "no clear change"
    if a == t.loc["mAP", "verdict"]:
        return "survives"
    return "reverses" if a in ("rises", "falls") else "explained by prevalence"


def trend_sentence(trend: pd.DataFrame, model: str) -> str:
    """One sentence: whether the model's mAP trend with clutter survives the prevalence-free measure.

    The verdict is :func:`prevalence_verdict` (mean ROC AUC); the chance mAP and the
    chance-corrected mAP are reported beside it.
    """
    t = trend[trend["model"] == model].set_index("measure")
    if t.empty:
        return f"{model}: fewer than two non-empty clutter groups, no trend to test"
    m = t.loc["mAP"]

    def part(name: str, label: str) -> str:
        r = t.loc[name]
        ci = "" if pd.isna(r["ci95_low"]) else f" [{r['ci95_low']:+.3f}, {r['ci95_high']:+.3f}]"
        return f"{label} {r['change']:+.3f}{ci} ({r['verdict']})"

    head = (f"{model}: from group {m['first_group']} to {m['last_group']}, " + part("mAP", "mAP") +
            f"; chance mAP {t.loc['chance_mAP', 'change']:+.3f}; " + part("mAUC", "mean ROC AUC") + "; "
            + part("mAP_norm", "chance-corrected mAP (not prevalence-free)"))
    v = prevalence_verdict(trend, model)
    if v == "no trend":
        return head + ": no clear mAP trend to explain"
    if v == "survives":
        return head + ": the trend survives the prevalence-free measure (mean ROC AUC)"
    if v == "reverses":
        return head + ": the prevalence-free measure (mean ROC AUC) moves the other way"
    return head + (": the mAP trend is explained by prevalence (the prevalence-free mean ROC AUC shows no "
                   "clear change)")
