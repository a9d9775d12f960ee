"""Saliency metrics of a predicted map against ground truth (maps and fixations).

Definitions follow the MIT/Tuebingen saliency benchmark (Bylinskii, Judd, Oliva,
Torralba & Durand, "What do different evaluation metrics tell us about saliency
models?", TPAMI 2018; its MATLAB code) and pysaliency (Kümmerer et al.), which
the Tuebingen benchmark runs. ``P`` is the predicted map, ``Q`` the
ground-truth (blurred fixation) map, ``F`` the fixations: zero-based integer
pixel coordinates (x = column, y = row), rounded with ``floor(v + 0.5)``.

Distribution-based (need a ground-truth map)
    CC   Pearson's linear correlation of ``P`` and ``Q`` over all pixels
         (``CC.m``; pysaliency ``CC``). A constant ``P`` scores 0 (pysaliency);
         a constant ``Q`` gives NaN.
    KLD  ``sum_i Q'_i * log(eps + Q'_i / (P'_i + eps))`` with ``P' = P /
         sum(P)``, ``Q' = Q / sum(Q)`` and ``eps = 2.2204e-16`` (MATLAB's
         ``eps``): KL(ground truth || prediction) as ``KLdiv.m`` and pysaliency
         ``MIT_KLDiv``. Lower is better; 0 for identical maps.
    SIM  ``sum_i min(P'_i, Q'_i)`` where each map is min-max normalised to
         [0, 1] and then divided by its sum (``similarity.m``; pysaliency
         ``SIM`` gives the same for maps whose minimum is 0). 1 for identical
         maps, 0 for disjoint ones.
Location-based (need fixations)
    NSS  the mean over fixations of ``(P - mean(P)) / std(P)`` at the fixated
         pixels, ``std`` with ddof = 0 (pysaliency ``NSS``; ``NSS.m`` uses
         MATLAB's ddof = 1 and the binary fixation map, which differ by a factor
         ``sqrt(N / (N - 1))`` and by counting repeated fixations on one pixel
         once). A constant ``P`` scores 0.
    AUC-Judd  positives: ``P`` at every fixation (repeats included); negatives:
         ``P`` at every unfixated pixel; thresholds: the positive values. The
         ROC curve through (0, 0), (fp, tp) at each threshold (``tp`` = share
         of positives >= threshold, ``fp`` = share of negatives >= threshold)
         and (1, 1) is integrated with the trapezoid rule. With ``jitter``
         (default, as ``AUC_Judd.m`` and pysaliency ``AUC_Judd``) uniform noise
         of at most 1e-7 is added to ``P`` (seeded) to break ties, then ``P``
         is min-max normalised. Equal to ``AUC_Judd.m`` when the fixations fall
         on distinct pixels, and to pysaliency's ``AUC_Judd`` always.
    sAUC (shuffled AUC)  the exact area under the ROC curve of ``P`` at this
         image's fixations (positives) against ``P`` at fixation locations of
         the *other* images (negatives, scaled to this image's size), ties
         counted one half: ``P(pos > neg) + P(pos = neg) / 2``, as pysaliency
         ``sAUC`` (``nonfixations="shuffled"``, all thresholds). The MIT code
         instead averages 100 random splits evaluated at thresholds 0.1 apart,
         which approximates this value. Lower bound of chance is 0.5; it
         discounts the center bias.

All metrics return ``nan`` when undefined (no fixations, no negatives, a
constant ground truth). :func:`evaluate_maps` computes them per image for a
map source, leaving out (and naming) the metrics whose ground truth was not
given; :func:`summarize_metrics` gives each mean with an interval over images
that stays inside the metric's range and is withheld when there are too few
images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from salanalysis.errors import InputError, warn_input
from salanalysis.maps import NOTE_NAMES, MapSource, note_messages, read_map, read_raw

__all__ = [
    "METRICS",
    "MATLAB_EPS",
    "cc",
    "kld",
    "sim",
    "nss",
    "auc_judd",
    "auc_shuffled",
    "evaluate_maps",
    "summarize_metrics",
    "METRIC_RANGES",
    "MIN_IMAGES_FOR_INTERVAL",
]

MATLAB_EPS = 2.2204e-16
METRICS = ("CC", "KLD", "SIM", "NSS", "AUC_Judd", "sAUC")


# ------------------------------------------------------------------------ helpers
def _as_map(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return a


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = _as_map(pred, "prediction"), _as_map(gt, "ground truth")
    if p.shape != q.shape:
        raise ValueError(f"maps differ in shape: prediction {p.shape}, ground truth {q.shape}")
    return p, q


def _to_density(a: np.ndarray) -> np.ndarray:
    """Shift a negative minimum to 0 and divide by the sum (uniform if all zero)."""
    if a.min() < 0:
        a = a - a.min()
    s = a.sum()
    return a / s if s > 0 else np.full_like(a, 1.0 / a.size)


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _fix_index(sal: np.ndarray, x, y) -> np.ndarray:
    """Flat indices of fixations (rounded to the nearest pixel) into ``sal``."""
    h, w = sal.shape
    col = np.floor(np.asarray(x, dtype=np.float64).ravel() + 0.5).astype(np.int64)
    row = np.floor(np.asarray(y, dtype=np.float64).ravel() + 0.5).astype(np.int64)
    if col.shape != row.shape:
        raise ValueError("x and y differ in length")
    bad = (col < 0) | (row < 0) | (col >= w) | (row >= h)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} fixation(s) outside the {w}x{h} map")
    return row * w + col


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


# ------------------------------------------------------------------------ metrics
def cc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pearson's correlation coefficient of two maps (see the module docstring)."""
    p, q = _pair(pred, gt)
    p = p.ravel() - p.mean()
    q = q.ravel() - q.mean()
    sp, sq = np.sqrt(np.dot(p, p)), np.sqrt(np.dot(q, q))
    if sq == 0:
        return float("nan")
    if sp == 0:
        return 0.0
    return float(np.dot(p, q) / (sp * sq))


def kld(pred: np.ndarray, gt: np.ndarray, *, eps: float = MATLAB_EPS) -> float:
    """KL divergence KL(gt || pred) of the maps as distributions, MIT style (lower is better)."""
    p, q = _pair(pred, gt)
    p, q = _to_density(p), _to_density(q)
    return float(np.sum(q * np.log(eps + q / (p + eps))))


def sim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Similarity (histogram intersection) of the min-max then sum normalised maps."""
    p, q = _pair(pred, gt)
    p, q = _to_density(_minmax(p)), _to_density(_minmax(q))
    return float(np.minimum(p, q).sum())


def nss(pred: np.ndarray, x, y) -> float:
    """Normalised scanpath saliency: mean standardised saliency at the fixations."""
    s = _as_map(pred, "prediction")
    idx = _fix_index(s, x, y)
    if idx.size == 0:
        return float("nan")
    sd = s.std()
    vals = s.ravel()[idx] - s.mean()
    return float(vals.mean() / sd) if sd > 0 else 0.0


def auc_judd(pred: np.ndarray, x, y, *, jitter: bool = True, seed: int = 0) -> float:
    """AUC-Judd: fixated versus unfixated pixels, thresholds at the fixated values."""
    s = _as_map(pred, "prediction").ravel()
    idx = _fix_index(s.reshape(np.shape(pred)), x, y)
    if idx.size == 0:
        return float("nan")
    if jitter:
        rng = np.random.default_rng(seed)
        s = _minmax(s + rng.random(s.size) / 1e7)
    fixated = np.zeros(s.size, dtype=bool)
    fixated[idx] = True
    neg = np.sort(s[~fixated])
    if neg.size == 0:
        return float("nan")
    pos = np.sort(s[idx])
    thresholds = pos[::-1]
    # share of positives / negatives with value >= threshold
    tp = (pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size
    fp = (neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size
    tp = np.concatenate([[0.0], tp, [1.0]])
    fp = np.concatenate([[0.0], fp, [1.0]])
    return _trapezoid(tp, fp)


def auc_shuffled(pred: np.ndarray, x, y, nonfix_x, nonfix_y) -> float:
    """Shuffled AUC: this image's fixations versus other images' fixation locations.

    Exact area under the ROC curve (ties count one half), equal to
    ``sklearn.metrics.roc_auc_score`` with the positives labelled 1.
    """
    s = _as_map(pred, "prediction")
    pos = s.ravel()[_fix_index(s, x, y)]
    neg = np.sort(s.ravel()[_fix_index(s, nonfix_x, nonfix_y)])
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    less = np.searchsorted(neg, pos, side="left")
    equal = np.searchsorted(neg, pos, side="right") - less
    return float(np.mean((less + 0.5 * equal) / neg.size))


# --------------------------------------------------------------------- evaluation
#: What each metric needs: ground-truth maps or fixations.
_NEEDS = {"CC": "maps", "KLD": "maps", "SIM": "maps", "NSS": "fixations", "AUC_Judd": "fixations",
          "sAUC": "fixations"}
_NEED_TEXT = {"maps": "ground-truth maps (--gt-maps)", "fixations": "fixations (--fixations)"}


def _source(src, name: str) -> MapSource:
    if isinstance(src, MapSource):
        return src
    return MapSource(src, name)


def _same_maps(a: MapSource, b: MapSource) -> bool:
    try:
        same = os.path.samefile(a.location, b.location)
    except OSError:
        return False
    return same and a.pattern == b.pattern


class _Notes:
    """Notes on how one source's maps were read: per flag, (count, example)."""

    def __init__(self, src: MapSource) -> None:
        self.src = src
        self.counts: dict[int, tuple[int, str]] = {}

    def add(self, notes: int, ref, image: str) -> None:
        for flag in NOTE_NAMES:
            if notes & flag:
                n, ex = self.counts.get(flag, (0, ""))
                label = getattr(ref, "label", None) or os.path.basename(str(ref))
                self.counts[flag] = (n + 1, ex or f"{label} for {image}")

    def warn(self) -> dict[str, int]:
        for message in note_messages(self.counts, self.src.name):
            warn_input(message, self.src.location, stacklevel=3)
        return {str(k): v[0] for k, v in self.counts.items()}


def evaluate_maps(
    pred: MapSource | str | os.PathLike,
    gt_maps: MapSource | str | os.PathLike | None = None,
    fixations=None,
    *,
    metrics: Sequence[str] | None = None,
    jitter: bool = True,
    seed: int = 0,
    max_nonfixations: int = 100_000,
    mean: bool = True,
) -> pd.DataFrame:
    """Score a predicted map source against ground-truth maps and/or fixations.

    The images evaluated are those of the ground truth: every map in
    ``gt_maps`` and every image of ``fixations`` (the union, matched by image
    name). Each image's size is its fixation table's width and height, else
    the ground-truth map's own size. **Resizing**: the prediction (and a
    ground-truth map of another size) is resized to that size bilinearly
    (``cv2.INTER_LINEAR``), then min-max normalised to [0, 1]
    (:mod:`salanalysis.maps`); predictions of another aspect ratio are
    stretched, and are reported once (an :class:`~salanalysis.errors.InputWarning`
    with their number), as are constant maps (no saliency: all zeros).
    Map metrics (CC, KLD, SIM) need ground-truth maps, fixation metrics (NSS,
    AUC_Judd, sAUC) need fixations: by default every metric the given ground
    truth allows is computed and the others are left out (``attrs["skipped"]``
    says why); asking for one that cannot be computed is an error. The same
    maps given as prediction and ground truth are scored (each map against
    itself), with a warning.

    Parameters
    ----------
    pred
        The predicted maps (a :class:`MapSource`, its folder, or a SALICON
        results JSON).
    gt_maps
        Ground-truth maps (a :class:`MapSource` or its folder), named like the
        images (``COCO_val2014_000000000192.png``; a map pattern of the source
        is removed from the names).
    fixations
        A :class:`~salanalysis.salicon.SaliconFixations` or its ``table``
        (columns image_id, image, width, height, x, y at least).
    metrics
        Which of CC, KLD, SIM, NSS, AUC_Judd, sAUC to compute (default: all
        that the ground truth given allows).
    jitter, seed
        AUC-Judd tie-breaking noise (seeded per image with ``seed + row``).
    max_nonfixations
        sAUC negatives: all fixations of the other images when there are at
        most this many, else this many drawn from them uniformly with
        replacement (seeded).
    mean
        Append a last row ``image == "mean"`` holding the mean of each metric
        over the images with a prediction (NaN ignored) and the summed
        n_fixations.

    Returns
    -------
    pandas.DataFrame
        One row per ground-truth image, sorted by image name, columns

        ``image_id`` (Int64)
            COCO id read from the name (<NA> when the name has none, and in
            the mean row).
        ``image`` (str)
            Image / map name stem.
        ``width``, ``height`` (Int64)
            Size the maps were compared at.
        ``has_pred``, ``has_gt_map`` (boolean)
            Whether a prediction / ground-truth map exists for the image.
        ``n_fixations`` (Int64)
            Fixations of the image (0 without fixations).
        ``n_fixations_outside`` (Int64)
            Fixations of the image dropped as outside it by the reader
            (``SaliconFixations.outside``; 0 for a plain fixation table).
        ``CC``, ``KLD``, ``SIM``, ``NSS``, ``AUC_Judd``, ``sAUC`` (float64)
            The metrics computed (module docstring), in this order.

        ``attrs``: ``skipped`` (metric -> why it was not computed) and
        ``notes`` (per source, ``aspect`` / ``constant`` / ... -> maps).

    Raises
    ------
    InputError
        Neither ground truth given; a requested metric whose ground truth is
        missing; the prediction matches no ground-truth image; a fixation table
        without the needed columns; a colour image where a map is expected.
    """
    from salanalysis.images import image_id_from_name
    from salanalysis.salicon import SaliconFixations

    if gt_maps is None and fixations is None:
        raise InputError("give ground-truth maps, fixations, or both to evaluate against")
    have = {"maps": gt_maps is not None, "fixations": fixations is not None}
    if metrics is None:
        metrics = [m for m in METRICS if have[_NEEDS[m]]]
    else:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise InputError(f"unknown metric(s) {', '.join(map(str, unknown))}; choose from {' '.join(METRICS)}")
        for m in metrics:
            if not have[_NEEDS[m]]:
                raise InputError(f"metric {m} needs {_NEED_TEXT[_NEEDS[m]]}")
        metrics = [m for m in METRICS if m in metrics]
    skipped = {m: f"needs {_NEED_TEXT[_NEEDS[m]]}" for m in METRICS if not have[_NEEDS[m]]}
    pred_src = _source(pred, "pred")
    gt_src = None if gt_maps is None else _source(gt_maps, "gt")
    gt_files = {} if gt_src is None else gt_src.by_name()
    if gt_src is not None and _same_maps(pred_src, gt_src):
        warn_input("prediction and ground truth are the same maps: each map is scored against itself",
                   pred_src.location)

    table = fixations.table if isinstance(fixations, SaliconFixations) else fixations
    fix_groups: dict[str, pd.DataFrame] = {}
    if table is not None:
        need = ["image", "width", "height", "x", "y"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise InputError(f"fixation table lacks columns {', '.join(missing)}")
        fix_groups = {str(k): g for k, g in table.groupby("image", sort=True)}
        all_x = table["x"].to_numpy(np.float64)
        all_y = table["y"].to_numpy(np.float64)
        all_w = table["width"].to_numpy(np.float64)
        all_h = table["height"].to_numpy(np.float64)
        codes, uniques = pd.factorize(table["image"].astype(str))
        code_of = {str(u): i for i, u in enumerate(uniques)}
    dropped = getattr(fixations, "outside", None)
    dropped = {} if dropped is None else dict(zip(dropped["image"].astype(str), dropped["n_outside"]))

    names = sorted(set(gt_files) | set(fix_groups))
    pred_notes, gt_notes = _Notes(pred_src), (None if gt_src is None else _Notes(gt_src))
    rows = []
    n_matched = 0
    for r, name in enumerate(names):
        iid = image_id_from_name(name)
        g = fix_groups.get(name)
        gt_ref = gt_files.get(name)
        if g is not None:
            h, w = int(g["height"].iloc[0]), int(g["width"].iloc[0])
        else:
            h, w = read_raw(gt_ref, gt_src.colour)[0].shape
        pred_ref = pred_src.find(-1 if iid is None else iid, name + ".jpg")
        row = {
            "image_id": iid,
            "image": name,
            "width": w,
            "height": h,
            "has_pred": pred_ref is not None,
            "has_gt_map": gt_ref is not None,
            "n_fixations": 0 if g is None else len(g),
            "n_fixations_outside": int(dropped.get(name, 0)),
        }
        row.update({m: np.nan for m in metrics})
        if pred_ref is not None:
            n_matched += 1
            p, notes = pred_src.read(pred_ref, h, w)
            pred_notes.add(notes, pred_ref, name)
            p = p.astype(np.float64)
            if gt_ref is not None and any(_NEEDS[m] == "maps" for m in metrics):
                q, notes = read_map(gt_ref, h, w, normalize=True, colour=gt_src.colour)
                gt_notes.add(notes, gt_ref, name)
                q = q.astype(np.float64)
                if "CC" in metrics:
                    row["CC"] = cc(p, q)
                if "KLD" in metrics:
                    row["KLD"] = kld(p, q)
                if "SIM" in metrics:
                    row["SIM"] = sim(p, q)
            if g is not None:
                fx = g["x"].to_numpy(np.float64)
                fy = g["y"].to_numpy(np.float64)
                if "NSS" in metrics:
                    row["NSS"] = nss(p, fx, fy)
                if "AUC_Judd" in metrics:
                    row["AUC_Judd"] = auc_judd(p, fx, fy, jitter=jitter, seed=seed + r)
                if "sAUC" in metrics:
                    nx, ny = _nonfixations(
                        code_of[name], len(g), w, h, codes, all_x, all_y, all_w, all_h,
                        max_nonfixations, seed + r,
                    )
                    row["sAUC"] = auc_shuffled(p, fx, fy, nx, ny) if nx.size else np.nan
        rows.append(row)
    if n_matched == 0:
        raise InputError(
            f"no predicted map matches any of the {len(names)} ground-truth image(s) "
            f"(e.g. {names[0]}: expected {pred_src.expected_names(image_id_from_name(names[0]) or -1, names[0])})",
            pred_src.location,
        )
    notes = {"pred": pred_notes.warn()}
    if gt_notes is not None:
        notes["gt"] = gt_notes.warn()
    out = pd.DataFrame(rows, columns=["image_id", "image", "width", "height", "has_pred", "has_gt_map", "n_fixations",
                                     "n_fixations_outside", *metrics])
    if mean:
        sel = out[out["has_pred"]]
        mrow = {
            "image_id": None,
            "image": "mean",
            "width": None,
            "height": None,
            "has_pred": None,
            "has_gt_map": None,
            "n_fixations": int(out["n_fixations"].sum()),
            "n_fixations_outside": int(out["n_fixations_outside"].sum()),
        }
        mrow.update({m: float(np.nanmean(sel[m])) if sel[m].notna().any() else np.nan for m in metrics})
        out = pd.concat([out, pd.DataFrame([mrow])], ignore_index=True)
    out = out.astype(
        {
            "image_id": "Int64",
            "image": str,
            "width": "Int64",
            "height": "Int64",
            "has_pred": "boolean",
            "has_gt_map": "boolean",
            "n_fixations": "Int64",
            "n_fixations_outside": "Int64",
            **{m: np.float64 for m in metrics},
        }
    )
    out.attrs["skipped"] = skipped
    out.attrs["notes"] = notes
    return out


def _nonfixations(code, n_own, w, h, codes, all_x, all_y, all_w, all_h, max_n, seed):
    """Fixation locations of the other images, scaled to a w x h image (pixel centers)."""
    n_other = codes.size - n_own
    if n_other <= 0:
        return np.zeros(0), np.zeros(0)
    if n_other <= max_n:
        idx = np.flatnonzero(codes != code)
    else:
        rng = np.random.default_rng(seed)
        idx = np.zeros(0, dtype=np.int64)
        while idx.size < max_n:
            draw = rng.integers(0, codes.size, size=max_n)
            idx = np.concatenate([idx, draw[codes[draw] != code]])
        idx = idx[:max_n]
    x = (all_x[idx] + 0.5) * (w / all_w[idx]) - 0.5
    y = (all_y[idx] + 0.5) * (h / all_h[idx]) - 0.5
    x = np.clip(np.floor(x + 0.5), 0, w - 1)
    y = np.clip(np.floor(y + 0.5), 0, h - 1)
    return x, y


#: The range of each metric's values (an interval of a mean is kept inside it).
METRIC_RANGES = {"CC": (-1.0, 1.0), "KLD": (0.0, np.inf), "SIM": (0.0, 1.0), "NSS": (-np.inf, np.inf),
                 "AUC_Judd": (0.0, 1.0), "sAUC": (0.0, 1.0)}
#: Fewest images for an interval of a mean.
MIN_IMAGES_FOR_INTERVAL = 10


def summarize_metrics(table: pd.DataFrame, *, confidence: float = 0.95,
                      min_images: int = MIN_IMAGES_FOR_INTERVAL) -> pd.DataFrame:
    """Mean of each metric over the images, with a t confidence interval.

    Images are the independent units: for each metric column of an
    :func:`evaluate_maps` table (``CC``, ``KLD``, ...), over the images with a
    prediction and a finite value, ``mean``, ``sd`` (ddof 1), ``sem`` =
    sd / sqrt(n) and the interval ``mean -/+ t_{(1+confidence)/2, n-1} * sem``.

    Which interval, and when there is none (the ``interval`` column says it):

    - ``"t"``: the t interval above, for ``n >= min_images`` (default 10);
    - ``"t, clipped to [lo, hi]"``: the t interval reached beyond the range the
      metric's values can take (:data:`METRIC_RANGES`: CC in [-1, 1], SIM,
      AUC-Judd and sAUC in [0, 1], KLD >= 0) and is cut at that bound (a sign
      that the normal approximation is poor there);
    - ``"none: n < 10"``: too few images for an interval (the bounds are NaN).

    The ``"mean"`` row that :func:`evaluate_maps` appends is ignored.

    Returns
    -------
    pandas.DataFrame
        One row per metric present: ``metric``, ``n``, ``mean``, ``sd``,
        ``sem``, ``ci_low``, ``ci_high``, ``confidence``, ``interval``.
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    min_images = max(2, int(min_images))
    rows = table
    if len(rows) and str(rows["image"].iloc[-1]) == "mean" and pd.isna(rows["has_pred"].iloc[-1]):
        rows = rows.iloc[:-1]
    rows = rows[rows["has_pred"].fillna(False).astype(bool)]
    out = []
    for m in [c for c in METRICS if c in table.columns]:
        v = pd.to_numeric(rows[m], errors="coerce").to_numpy(np.float64)
        v = v[np.isfinite(v)]
        n = len(v)
        mean = float(v.mean()) if n else np.nan
        sd = float(v.std(ddof=1)) if n > 1 else np.nan
        sem = sd / np.sqrt(n) if n > 1 else np.nan
        lo = hi = np.nan
        if n >= min_images:
            half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sem
            lo, hi = mean - half, mean + half
            r_lo, r_hi = METRIC_RANGES[m]
            interval = "t"
            if lo < r_lo or hi > r_hi:
                lo, hi = max(lo, r_lo), min(hi, r_hi)
                interval = f"t, clipped to [{r_lo:g}, {r_hi:g}]"
        else:
            interval = f"none: n < {min_images}"
        out.append({"metric": m, "n": n, "mean": mean, "sd": sd, "sem": sem, "ci_low": lo, "ci_high": hi,
                    "confidence": confidence, "interval": interval})
    return pd.DataFrame(
        out, columns=["metric", "n", "mean", "sd", "sem", "ci_low", "ci_high", "confidence", "interval"]
    )
