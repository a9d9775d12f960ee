"""Detection rate by object size within clutter groups (coco-analyze's breakdown beside Fig. 2).

Fig. 2 compares detected with missed objects; when missed objects come from images
with fewer objects (or more), a size difference can be a clutter difference. This
table holds clutter fixed: images are split into groups by their number of
(non-crowd) objects, objects into COCO's size ranges, and per cell it gives the
share of objects detected with a Wilson 95% interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salanalysis.errors import require_columns

__all__ = ["SIZE_RANGES", "detection_by_size_and_clutter", "wilson_interval"]

#: COCO's object size ranges by mask area in pixels: small < 32^2 <= medium < 96^2 <= large.
SIZE_RANGES: tuple[tuple[str, float, float], ...] = (("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2),
                                                     ("large", 96.0**2, np.inf))


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion ``k / n`` (NaN where ``n`` is 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def detection_by_size_and_clutter(objects: pd.DataFrame, model: str, *, groups: int = 3) -> pd.DataFrame:
    """The share of objects ``model`` detects, per clutter group and COCO size range.

    Parameters
    ----------
    objects
        The object table (``image_id``, ``area_px``, ``n_objects``, ``detected_MODEL``).
    model
        The score set.
    groups
        Clutter groups: images split at the quantiles of their number of objects (fewer
        groups when counts tie); every image of one count falls in one group.

    Returns
    -------
    DataFrame
        One row per (clutter group, size range) holding objects: ``clutter_group`` (e.g.
        "1-8 objects"), ``clutter_low``, ``clutter_high`` (objects per image, inclusive),
        ``n_images`` (images of the group), ``size`` ("small", "medium", "large"), ``n``
        (objects), ``n_detected``, ``rate``, ``ci95_low``, ``ci95_high`` (Wilson interval; it
        treats objects as independent, while objects of one image share its scores, so it is
        too narrow where an image holds many objects of one class). Groups in order of clutter,
        sizes small to large.
    """
    det = f"detected_{model}"
    require_columns(objects, ["image_id", "area_px", "n_objects", det], "object table")
    if groups < 1:
        raise ValueError("groups must be at least 1")
    t = objects[objects["area_px"].notna()]
    per_image = t.groupby("image_id")["n_objects"].first()
    if per_image.empty:
        return pd.DataFrame(columns=["clutter_group", "clutter_low", "clutter_high", "n_images", "size", "n",
                                     "n_detected", "rate", "ci95_low", "ci95_high"])
    cuts = np.unique(np.quantile(per_image.to_numpy(float), np.linspace(0, 1, groups + 1)[1:-1], method="lower"))
    group_of = np.searchsorted(cuts, per_image.to_numpy(float), side="left")  # counts <= cut go below it
    g_img = pd.Series(group_of, index=per_image.index)
    bounds = {g: (int(per_image[g_img == g].min()), int(per_image[g_img == g].max())) for g in np.unique(group_of)}
    t = t.assign(_g=t["image_id"].map(g_img))
    edges = [lo for _, lo, _ in SIZE_RANGES] + [np.inf]
    t = t.assign(_s=pd.cut(t["area_px"], edges, right=False, labels=[s for s, _, _ in SIZE_RANGES]))
    rows = []
    for g, (lo, hi) in sorted(bounds.items()):
        n_images = int((g_img == g).sum())
        for size, _, _ in SIZE_RANGES:
            cell = t[(t["_g"] == g) & (t["_s"] == size)]
            if cell.empty:
                continue
            k = int(cell[det].astype(bool).sum())
            rows.append({"clutter_group": f"{lo}-{hi} objects" if lo != hi else f"{lo} objects",
                         "clutter_low": lo, "clutter_high": hi, "n_images": n_images, "size": size,
                         "n": len(cell), "n_detected": k, "rate": k / len(cell)})
    out = pd.DataFrame(rows)
    out["ci95_low"], out["ci95_high"] = wilson_interval(out["n_detected"], out["n"])
    return out
