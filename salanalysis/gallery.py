"""A gallery of detected and missed objects: which objects, chosen by rules a reader understands.

The paper reasons from numbers per object (size, center distance, maximum
saliency); a reader trusts them once they see the objects. For one score set
(the model), every non-crowd object of the object table is **detected** (its
class scored at or above the threshold in its image) or **missed**. Per
outcome, :func:`select_gallery` picks, in this order and without repeating an
object:

``largest``
    the largest masks (``area_frac``);
``most salient``
    the highest maximum saliency inside the mask (``sal_max_SOURCE`` of the
    first saliency source, when the table has one);
``most typical``
    the objects nearest to the outcome's median in (log10 area, center
    distance, saliency), each variable scaled by its interquartile range
    over all objects: what a detected (missed) object usually looks like;
``most surprising``
    against expectation: for missed objects the largest *and* most salient
    *and* most central (the highest mean percentile of area, saliency and
    1 - center distance over all objects; size and position alone where the
    image has no map), for detected objects the lowest.

:func:`render_gallery` crops each chosen object from its image (its bounding
box with a margin), outlines its mask and overlays each saliency source's
map, and writes small JPEG thumbnails with ``gallery.csv`` (one row per object
and picture, paths relative to the output folder); :func:`salanalysis.plotting.plot_gallery`
and the report draw from that table. Image paths from the annotations stay
inside the images folder the user named; an object whose image is absent is
listed with an empty thumbnail and counted.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salanalysis.errors import InputError, require_columns

__all__ = ["RULES", "select_gallery", "render_gallery", "GalleryResult", "image_path_inside", "available_images"]

#: The selection rules, in the order they pick.
RULES = ("largest", "most salient", "most typical", "most surprising")

#: Thumbnail edge in pixels (the longer side) and JPEG quality.
THUMB_PX = 192
JPEG_QUALITY = 82


def _pct(x: pd.Series) -> pd.Series:
    return x.rank(pct=True, method="average")


def select_gallery(
    objects: pd.DataFrame,
    model: str,
    *,
    source: str | None = None,
    per_rule: int = 2,
    categories: Sequence[str] | None = None,
    image_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """The gallery's objects for score set ``model``: ``per_rule`` per rule and outcome.

    Parameters
    ----------
    objects
        The object table (:func:`salanalysis.objects.compute_objects`), with
        ``detected_MODEL`` and ``score_MODEL``.
    model
        The score set whose outcome (detected/missed) the gallery shows.
    source
        The saliency source of the ``most salient`` rule and of the typical /
        surprising scores (default: the first ``sal_max_*`` column; none: those
        rules use size and center distance only, ``most salient`` is skipped).
    per_rule
        Objects per rule and outcome.
    categories
        Only objects of these class names.
    image_ids
        Only objects of these images (e.g. those whose image file is at hand:
        :func:`available_images`); default: every image.

    Returns
    -------
    DataFrame
        One row per chosen object: ``outcome`` ("detected"/"missed"), ``rule``,
        ``rank`` (1 = first of its rule), ``image_id``, ``ann_id``, ``category``,
        ``area_frac``, ``center_dist``, ``sal_max`` (of ``source``, NaN without),
        ``score``, ``n_objects_image`` (non-crowd objects in the image), ``model``,
        ``source``.
    """
    det, score = f"detected_{model}", f"score_{model}"
    require_columns(objects, ["image_id", "ann_id", "category", "area_frac", "center_dist", det, score],
                    "object table")
    if per_rule < 1:
        raise ValueError("per_rule must be at least 1")
    if source is None:
        sal_cols = [c for c in objects.columns if c.startswith("sal_max_")]
        source = sal_cols[0][len("sal_max_"):] if sal_cols else None
    elif f"sal_max_{source}" not in objects.columns:
        raise InputError(f"the object table has no saliency source '{source}'")
    t = objects[objects["area_frac"].notna() & (objects["area_frac"] > 0)].copy()
    t["n_objects_image"] = (t["n_objects"] if "n_objects" in t.columns
                            else objects.groupby("image_id")["ann_id"].transform("size")).astype(np.int64)
    if image_ids is not None:
        t = t[t["image_id"].isin(list(image_ids))]
    if categories is not None:
        t = t[t["category"].isin(list(categories))]
    t["sal_max"] = t[f"sal_max_{source}"] if source else np.nan
    t["score"] = t[score]
    t["outcome"] = np.where(t[det].astype(bool), "detected", "missed")
    # percentiles over all objects: large, salient and central are 1
    t["_size"] = _pct(t["area_frac"])
    t["_central"] = _pct(-t["center_dist"])
    parts = [t["_size"], t["_central"]]
    feats = [np.log10(t["area_frac"]), t["center_dist"]]
    if source:
        t["_sal"] = _pct(t["sal_max"])
        parts.append(t["_sal"])
        feats.append(t["sal_max"])
    t["_expect"] = pd.concat(parts, axis=1).mean(axis=1)  # an image without a map: size and position
    z = pd.concat(feats, axis=1)
    iqr = (z.quantile(0.75) - z.quantile(0.25)).replace(0, 1.0)
    rows = []
    for outcome in ("detected", "missed"):
        g = t[t["outcome"] == outcome]
        if g.empty:
            continue
        med = z.loc[g.index].median()
        typical = ((z.loc[g.index] - med) / iqr).abs().mean(axis=1)
        orders = {
            "largest": g.sort_values(["area_frac", "ann_id"], ascending=[False, True]),
            "most salient": g.dropna(subset=["sal_max"]).sort_values(["sal_max", "ann_id"],
                                                                      ascending=[False, True]) if source else None,
            "most typical": g.assign(_typ=typical).dropna(subset=["_typ"]).sort_values(["_typ", "ann_id"]),
            "most surprising": g.dropna(subset=["_expect"]).sort_values(
                ["_expect", "ann_id"], ascending=[outcome == "detected", True]),
        }
        taken: set[int] = set()
        for rule in RULES:
            order = orders[rule]
            if order is None:
                continue
            chosen = order[~order["ann_id"].isin(taken)].head(per_rule)
            taken.update(chosen["ann_id"].tolist())
            for rank, (_, r) in enumerate(chosen.iterrows(), 1):
                rows.append({"outcome": outcome, "rule": rule, "rank": rank, "image_id": int(r["image_id"]),
                             "ann_id": int(r["ann_id"]), "category": r["category"],
                             "area_frac": float(r["area_frac"]), "center_dist": float(r["center_dist"]),
                             "sal_max": float(r["sal_max"]), "score": float(r["score"]),
                             "n_objects_image": int(r["n_objects_image"]), "model": model,
                             "source": source or ""})
    cols = ["outcome", "rule", "rank", "image_id", "ann_id", "category", "area_frac", "center_dist", "sal_max",
            "score", "n_objects_image", "model", "source"]
    return pd.DataFrame(rows, columns=cols)


def image_path_inside(images_dir: str | os.PathLike, file_name: str) -> Path:
    """The image ``file_name`` (from annotations) inside ``images_dir``, or an InputError.

    :func:`salanalysis.images.image_in_folder` (absolute names, NULs and links or ``..``
    leading out of the folder are refused), and an empty name, which would name the folder.
    """
    from salanalysis.images import image_in_folder

    if not file_name:
        raise InputError(f"image file_name {file_name!r} is not a name inside the images folder", images_dir)
    return image_in_folder(images_dir, file_name, images_dir)


def available_images(annotations: Any, images_dir: str | os.PathLike) -> list[int]:
    """The image ids whose file (by the annotations' ``file_name``) is in ``images_dir``."""
    out = []
    for iid, fn in zip(annotations.images["image_id"].tolist(), annotations.images["file_name"].tolist()):
        try:
            if image_path_inside(images_dir, str(fn)).is_file():
                out.append(int(iid))
        except InputError:
            continue  # refused names are refused again, with the line, when rendered
    return out


@dataclass
class GalleryResult:
    """What :func:`render_gallery` wrote: the table (``gallery.csv``) and the images it lacked."""

    table: pd.DataFrame
    out: Path
    missing_images: int

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"gallery": self.table}

    def summary(self) -> str:
        n = self.table["ann_id"].nunique() if len(self.table) else 0
        text = f"gallery: {n} objects, {len(self.table)} pictures in {self.out}"
        if self.missing_images:
            text += f"; {self.missing_images} object(s) without their image in the images folder"
        return text


def _thumb(img: np.ndarray, px: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = px / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _crop_box(bbox: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = bbox
    side = max(bw, bh) * 1.4 + 16  # a square with a margin: the object and some of its context
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
    x1, y1 = int(min(w, np.ceil(cx + side / 2))), int(min(h, np.ceil(cy + side / 2)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def render_gallery(
    selection: pd.DataFrame,
    annotations: Any,
    images_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    saliency: Mapping[str, Any] | None = None,
    thumb_px: int = THUMB_PX,
) -> GalleryResult:
    """Write the thumbnails of ``selection`` and ``gallery.csv`` into ``out``.

    Per object: ``crop`` (its image around the bounding box, mask outlined in
    white and black), and per saliency source ``overlay:NAME`` (the map, min-max
    normalised, over the grayscale crop). Thumbnails are JPEGs with the longer side
    ``thumb_px``. ``gallery.csv`` holds the selection's columns plus ``picture``
    ("crop" or "overlay:NAME") and ``file`` (relative to ``out``; empty when the
    image is absent from ``images_dir``).
    """
    import cv2

    from salanalysis.images import read_image
    from salanalysis.io import all_or_nothing, atomic_path, write_table
    from salanalysis.maps import MapSource

    out = Path(out)
    thumbs = out / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    sources = {}
    for name, src in (saliency or {}).items():
        sources[name] = src if isinstance(src, MapSource) else MapSource(src, name)
    images = annotations.images.set_index("image_id")
    rows, missing = [], 0
    with all_or_nothing():
        for r in selection.to_dict("records"):
            im = images.loc[r["image_id"]]
            path = image_path_inside(images_dir, str(im["file_name"]))
            if not path.is_file():
                missing += 1
                rows.append({**r, "picture": "crop", "file": ""})
                continue
            img = read_image(path, order="rgb")
            h, w = img.shape[:2]
            mask = annotations.mask(int(r["ann_id"])).astype(np.uint8)
            if mask.shape != (h, w):
                raise InputError(f"image {r['image_id']} is {w}x{h} but its annotations say "
                                 f"{mask.shape[1]}x{mask.shape[0]}", path)
            ann = annotations.ann(int(r["ann_id"]))
            x0, y0, x1, y1 = _crop_box(tuple(float(v) for v in ann["bbox"]), w, h)
            contours, _ = cv2.findContours(mask[y0:y1, x0:x1].copy(), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            lw = max(1, round(max(x1 - x0, y1 - y0) / thumb_px))
            pictures = {"crop": img[y0:y1, x0:x1].copy()}
            gray = cv2.cvtColor(pictures["crop"], cv2.COLOR_RGB2GRAY)
            for name, src in sources.items():
                ref = src.paths(pd.DataFrame({"image_id": [int(r["image_id"])],
                                              "file_name": [str(im["file_name"])]}))[0]
                if ref is None:
                    continue  # no map of this image in this source: no overlay
                sal = src.read(ref, h, w)[0]
                heat = cv2.applyColorMap((np.clip(sal[y0:y1, x0:x1], 0, 1) * 255).astype(np.uint8),
                                         cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
                pictures[f"overlay:{name}"] = (0.45 * np.repeat(gray[:, :, None], 3, 2) + 0.55 * heat).astype(np.uint8)
            for picture, pic in pictures.items():
                cv2.drawContours(pic, contours, -1, (0, 0, 0), lw + 2)
                cv2.drawContours(pic, contours, -1, (255, 255, 255), lw)
                small = _thumb(pic, thumb_px)
                stem = f"{int(r['ann_id'])}_{picture.replace(':', '_')}"
                rel = Path("thumbs") / f"{_safe(stem)}.jpg"
                ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:  # pragma: no cover - OpenCV's JPEG encoder
                    raise InputError("cannot encode a thumbnail", out / rel)
                with atomic_path(out / rel) as tmp:
                    tmp.write_bytes(buf.tobytes())
                rows.append({**r, "picture": picture, "file": rel.as_posix()})
        table = pd.DataFrame(rows, columns=[*selection.columns, "picture", "file"])
        write_table(table, out / "gallery.csv")
    return GalleryResult(table, out, missing)


def _safe(stem: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
