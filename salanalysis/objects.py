"""The object table: size, center distance and saliency of every COCO object instance.

One row per non-crowd instance (the core data model of the paper's Section 3):
its mask area, centroid and distance to the image center, the saliency inside
its mask per saliency source, and, per score set, whether the classifier
detected its class in the image (a true positive) or missed it (a false
negative).

Conventions
-----------
Masks
    The pixels of ``COCO.annToMask`` (pycocotools' rasterisation), computed
    without building image-size masks: polygons are rasterised by
    :mod:`salanalysis._masks`, which replays pycocotools' arithmetic and yields
    the mask as column-major runs; RLE segmentations are read as runs straight
    from their counts (compressed strings as pycocotools' ``rleFrString``).
    An object made of several polygons is their union. Polygons with fewer
    than 3 vertices have no area and are ignored (counted in
    ``ObjectTables.n_dropped_polygons``); pycocotools itself fails on some of them.
Coordinates
    Pixel centers lie at integer coordinates: pixel (row ``i``, column ``j``)
    is the point ``(x, y) = (j, i)``. ``cx``/``cy`` are the means of the column
    and row indices of the mask's pixels. (COCO's polygon and ``bbox``
    coordinates put pixel centers at ``j + 0.5``: add 0.5 to ``cx``/``cy`` to
    compare with ``bbox``.)
Center distance
    ``center_dist = hypot(cx - (W - 1) / 2, cy - (H - 1) / 2) / (hypot(W, H) / 2)``:
    the distance from the mask centroid to the image center (the center of the
    pixel grid) over half the image diagonal, so 0 at the center and 1 at the
    outer corner of a corner pixel (a one-pixel object in a corner is just
    below 1).
Saliency
    ``sal_max_NAME`` / ``sal_mean_NAME``: maximum / mean inside the mask of the
    map of source NAME, resized bilinearly to the image size and min-max
    normalised to [0, 1] as :meth:`salanalysis.maps.MapSource.load` returns it
    (a constant map is all zeros). Each map is decoded once per image.
    ``sal_max`` equals the straightforward computation bit for bit;
    ``sal_mean`` is accumulated in float64 (the straightforward float32 mean
    differs by rounding only).
Scores
    ``score_NAME``: the image's score for the object's class;
    ``detected_NAME``: ``score_NAME >= threshold``.

Edge cases (each documented, counted or an :class:`~salanalysis.errors.InputError`)
-----------------------------------------------------------------------------------
- Image without a map for a source: NaN saliency, counted per source in
  ``ObjectTables.missing_maps`` (objects) and ``images_without_map`` (images).
- A map source (folder or results JSON) in which no map matches any image:
  ``InputError`` naming the map names it expected.
- An unreadable or corrupted map file, or a colour image (a photo?) where a
  grayscale map is expected: ``InputError`` naming the file.
- Maps stretched to an image of another aspect ratio, constant maps, ignored
  alpha channels, colour maps converted by luminance: counted per source in
  ``ObjectTables.map_notes`` and reported once per source and kind as an
  :class:`~salanalysis.errors.InputWarning` (:mod:`salanalysis.maps` states the rules).
- A zero-area mask (a degenerate polygon, one too thin to cover a pixel center,
  one collapsed onto the image border, an empty segmentation): ``area_px = 0`` and NaN centroid, center distance
  and saliency, counted in ``ObjectTables.n_zero_area``.
- A polygon lying entirely (strictly) beyond the image frame, or with a vertex farther than
  ``max(W, H, 64)`` pixels beyond the border, a non-finite coordinate, an odd number of
  coordinates, an RLE whose size is not its image's, malformed RLE counts (a
  compressed string pycocotools would misread, counts not summing to the
  image's pixel count), or no segmentation: ``InputError`` naming the annotation.
- A polygon crossing the image border is clipped to the image (as pycocotools
  does); such objects are counted in ``ObjectTables.n_clipped``.
- Crowd annotations are excluded (counted in ``n_crowd_excluded``); they still
  count nowhere in ``n_objects``.
"""

from __future__ import annotations

import gc
import itertools
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from salanalysis._cluster import absolute_refs, active_client, map_ordered
from salanalysis._coco_stream import packed_polygons
from salanalysis._objects_worker import process_chunk
from salanalysis._pool import pool_context
from salanalysis._progress import progress_bar
from salanalysis._table_checks import stamp_objects
from salanalysis.coco import Annotations
from salanalysis.errors import InputError, warn_input
from salanalysis.maps import NOTE_NAMES, MapSource, SizeMapSource, note_messages
from salanalysis.scores import Scores, read_score_sets

__all__ = [
    "ObjectTables",
    "compute_objects",
    "object_table",
    "object_table_reference",
    "center_distance",
    "OBJECT_COLUMNS",
]

#: The fixed leading columns of the object table (then per source, per score set).
OBJECT_COLUMNS = [
    "image_id", "ann_id", "category_id", "category", "area_px", "area_frac",
    "bbox_x", "bbox_y", "bbox_w", "bbox_h", "cx", "cy", "center_dist", "n_objects",
]  # fmt: skip

_CHUNK_IMAGES = 32


@dataclass
class ObjectTables:
    """Result of :func:`compute_objects`.

    Attributes
    ----------
    objects
        The object table, one row per non-crowd instance, sorted by
        (image_id, ann_id). Columns: ``image_id``, ``ann_id``, ``category_id``
        (int64), ``category`` (name), ``area_px`` (int64, mask pixel count),
        ``area_frac`` (area_px / (width * height)), ``bbox_x``, ``bbox_y``,
        ``bbox_w``, ``bbox_h`` (the annotation's COCO box), ``cx``, ``cy``
        (mask centroid, pixel centers at integer coordinates), ``center_dist``
        (0 at the image center, 1 at a corner), ``n_objects`` (non-crowd
        instances in the image); per saliency source NAME ``sal_max_NAME``,
        ``sal_mean_NAME`` (float64, NaN without a map or without pixels); per
        score set NAME ``score_NAME`` (float64) and ``detected_NAME`` (bool);
        ``attrs["score_digests"]``: NAME -> digest of the score set (kept by
        Parquet; ``stats`` checks the score files it is given against it).
    images
        One row per image of the annotations: ``image_id``, ``width``,
        ``height``, ``n_objects`` and per source ``has_map_NAME`` (bool).
    missing_maps
        Per source, the number of objects whose image has no map.
    images_without_map
        Per source, the number of images without a map.
    map_notes
        Per source, how many maps were read by a rule worth knowing:
        ``stretched`` (another aspect ratio than the image), ``constant`` (no
        saliency: all zeros), ``alpha_ignored``, ``colour_converted``; only the
        maps of images with objects are read.
    n_zero_area
        Objects whose mask has no pixel (NaN centroid and saliency).
    n_clipped
        Objects with a polygon vertex outside the image (clipped to it).
    n_dropped_polygons
        Polygons with fewer than 3 vertices, ignored.
    n_crowd_excluded
        Crowd annotations left out of the table.
    """

    objects: pd.DataFrame
    images: pd.DataFrame
    missing_maps: dict[str, int] = field(default_factory=dict)
    images_without_map: dict[str, int] = field(default_factory=dict)
    map_notes: dict[str, dict[str, int]] = field(default_factory=dict)
    n_zero_area: int = 0
    n_clipped: int = 0
    n_dropped_polygons: int = 0
    n_crowd_excluded: int = 0


def center_distance(
    cx: np.ndarray, cy: np.ndarray, width: np.ndarray, height: np.ndarray
) -> np.ndarray:
    """Distance of ``(cx, cy)`` to the image center over half the image diagonal.

    Pixel centers at integer coordinates: the center is ``((W - 1) / 2, (H - 1) / 2)``
    and half the diagonal ``hypot(W, H) / 2`` (0 at the center, 1 at a corner).
    """
    width = np.asarray(width, dtype=np.float64)
    height = np.asarray(height, dtype=np.float64)
    return np.hypot(np.asarray(cx) - (width - 1) / 2, np.asarray(cy) - (height - 1) / 2) / (
        np.hypot(width, height) / 2
    )


# ----------------------------------------------------------------------- inputs
def _sources(
    saliency: Mapping[str, MapSource | str | os.PathLike] | None,
) -> list[tuple[str, MapSource]]:
    out = []
    for name, src in (saliency or {}).items():
        name = str(name)
        if not isinstance(src, (MapSource, SizeMapSource)):
            src = MapSource(src, name=name)
        out.append((name, src))
    return out


def _score_sets(
    scores: Mapping[str, Scores | str | os.PathLike] | Sequence[Scores] | None,
    annotations: Annotations,
) -> list[tuple[str, Scores]]:
    return [(sc.name, sc) for sc in read_score_sets(scores, annotations)]


@dataclass
class _Prepared:
    inst: pd.DataFrame  # non-crowd instances, sorted
    images: pd.DataFrame
    obj_per_img: np.ndarray
    poly_per_obj: np.ndarray
    vert_per_poly: np.ndarray
    coords: np.ndarray
    rles: dict[int, tuple[int, dict]]
    obj_width: np.ndarray
    obj_height: np.ndarray
    n_clipped: int
    n_dropped_polygons: int


def _prepare(annotations: Annotations) -> _Prepared:
    """Validate the segmentations and pack them into flat arrays (polygons) or RLEs."""
    path = annotations.path
    images = annotations.images
    if len(images) and ((images["width"] < 1).any() or (images["height"] < 1).any()):
        bad = images[(images["width"] < 1) | (images["height"] < 1)].iloc[0]
        raise InputError(f"image {bad['image_id']} has size {bad['width']}x{bad['height']}", path)
    inst = annotations.instances_for(include_crowd=False)
    size = images.set_index("image_id")[["width", "height"]]
    obj_w = size["width"].reindex(inst["image_id"]).to_numpy(np.int64)
    obj_h = size["height"].reindex(inst["image_id"]).to_numpy(np.int64)
    segs, polys, rles, n_dropped = annotations.segments, [], {}, 0
    poly_per_obj = np.zeros(len(inst), dtype=np.int64)
    ann_ids = inst["ann_id"].tolist()
    # a streamed file: polygons packed already, RLEs checked one by one (a malformed polygon list: as a dict)
    rows = annotations.segment_rows() if segs is not None else None
    packed = packed_polygons(segs, rows) if segs is not None else None
    legacy = segs is None or any(isinstance(segs.raw.get(r), list) for r in rows[packed[4]].tolist())
    if legacy:
        seg_of = annotations.coco.anns if segs is None else None
        todo = ((k, i, seg_of[i].get("segmentation") if segs is None else segs.segmentation(rows[k]))
                for k, i in enumerate(ann_ids))
    else:
        poly_per_obj, vert_per_poly, coords, n_dropped, others = packed
        todo = ((k, ann_ids[k], segs.segmentation(rows[k])) for k in others.tolist())
    for k, ann_id, segm in todo:
        if isinstance(segm, list):
            n = 0
            for p in segm:
                if not isinstance(p, (list, tuple)):
                    raise InputError(
                        f"annotation {ann_id}: a polygon is not a list of numbers", path
                    )
                if len(p) % 2:
                    raise InputError(
                        f"annotation {ann_id}: a polygon has an odd number of coordinates", path
                    )
                if len(p) < 6:
                    n_dropped += 1
                    continue
                polys.append(p)
                n += 1
            poly_per_obj[k] = n
        elif isinstance(segm, dict):
            rles[k] = (ann_id, _check_rle(ann_id, segm, int(obj_h[k]), int(obj_w[k]), path))
        elif segm is None:
            raise InputError(f"annotation {ann_id} has no segmentation", path)
        else:
            raise InputError(f"annotation {ann_id}: segmentation is neither polygons nor RLE", path)
    if legacy:
        vert_per_poly = np.fromiter((len(p) // 2 for p in polys), dtype=np.int64, count=len(polys))
        try:
            coords = np.fromiter(itertools.chain.from_iterable(polys), dtype=np.float64,
                                 count=2 * int(vert_per_poly.sum()))
        except (TypeError, ValueError):
            coords = None
    obj_of_poly = np.repeat(np.arange(len(inst)), poly_per_obj)
    if coords is None or not np.isfinite(coords).all():
        for k, p in zip(obj_of_poly, polys):
            try:
                v = np.asarray(p, dtype=np.float64)
                ok = v.ndim == 1 and bool(np.isfinite(v).all())
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(
                    f"annotation {inst['ann_id'].iat[k]}: polygon coordinates must be finite numbers",
                    path,
                )
    n_clipped = 0
    if len(vert_per_poly):
        xy = coords.reshape(-1, 2)
        first = np.cumsum(vert_per_poly) - vert_per_poly
        pxmin = np.minimum.reduceat(xy[:, 0], first)
        pxmax = np.maximum.reduceat(xy[:, 0], first)
        pymin = np.minimum.reduceat(xy[:, 1], first)
        pymax = np.maximum.reduceat(xy[:, 1], first)
        W, H = obj_w[obj_of_poly], obj_h[obj_of_poly]
        margin = np.maximum(np.maximum(W, H), 64)
        far = (pxmin < -margin) | (pxmax > W + margin) | (pymin < -margin) | (pymax > H + margin)
        refuse = _refuser(inst, obj_w, obj_h, path)
        refuse(far, obj_of_poly, "polygon vertex far outside")
        has = poly_per_obj > 0
        idx = np.flatnonzero(has)
        pfirst = (np.cumsum(poly_per_obj) - poly_per_obj)[idx]
        oxmin = np.minimum.reduceat(pxmin, pfirst)
        oxmax = np.maximum.reduceat(pxmax, pfirst)
        oymin = np.minimum.reduceat(pymin, pfirst)
        oymax = np.maximum.reduceat(pymax, pfirst)
        ow, oh = obj_w[idx], obj_h[idx]
        outside = (
            (oxmax < 0) | (oxmin > ow) | (oymax < 0) | (oymin > oh)
        )  # strictly beyond the frame
        refuse(outside, idx, "mask lies entirely outside")
        n_clipped = int(((oxmin < 0) | (oxmax > ow) | (oymin < 0) | (oymax > oh)).sum())
    else:
        coords = np.zeros(0)
    obj_per_img = (
        inst.groupby("image_id").size().reindex(images["image_id"], fill_value=0).to_numpy(np.int64)
    )
    return _Prepared(
        inst=inst,
        images=images,
        obj_per_img=obj_per_img,
        poly_per_obj=poly_per_obj,
        vert_per_poly=vert_per_poly,
        coords=coords,
        rles=rles,
        obj_width=obj_w,
        obj_height=obj_h,
        n_clipped=n_clipped,
        n_dropped_polygons=n_dropped,
    )


def _refuser(inst: pd.DataFrame, obj_w: np.ndarray, obj_h: np.ndarray, path: Path):
    """``refuse(bad, objects, what)``: an InputError naming the first object whose flag in ``bad`` is set."""

    def refuse(bad: np.ndarray, objects: np.ndarray, what: str) -> None:
        if bad.any():
            k = objects[np.argmax(bad)]
            raise InputError(f"annotation {inst['ann_id'].iat[k]}: {what} its {obj_w[k]}x{obj_h[k]} image "
                             "(wrong image or coordinates?)", path)

    return refuse

def _check_rle(ann_id: int, segm: dict, h: int, w: int, path: Path) -> dict:
    size = segm.get("size")
    counts = segm.get("counts")
    if not isinstance(size, (list, tuple)) or len(size) != 2 or counts is None:
        raise InputError(f"annotation {ann_id}: RLE segmentation needs 'size' and 'counts'", path)
    if [int(size[0]), int(size[1])] != [h, w]:
        raise InputError(
            f"annotation {ann_id}: RLE size {int(size[1])}x{int(size[0])} differs from its image {w}x{h}",
            path,
        )
    if isinstance(counts, list):
        if (
            any((not isinstance(c, (int, np.integer))) or c < 0 for c in counts)
            or sum(counts) != h * w
        ):
            raise InputError(
                f"annotation {ann_id}: uncompressed RLE counts must be non-negative integers summing to {h * w}",
                path,
            )
        return {"size": [h, w], "counts": list(counts)}
    if isinstance(counts, (str, bytes)):
        return {"size": [h, w], "counts": counts}
    raise InputError(f"annotation {ann_id}: RLE 'counts' is neither a list nor a string", path)


def _chunks(
    prep: _Prepared,
    map_paths: list[list],
    normalize: list[bool],
    colour: list[str],
    chunk_images: int,
    source: str | None = None,
) -> Iterator[dict]:
    """Compact per-chunk arrays for the workers; ``source`` (the annotation file) names errors."""
    obj_off = np.concatenate([[0], np.cumsum(prep.obj_per_img)])
    poly_off = np.concatenate([[0], np.cumsum(prep.poly_per_obj)])
    vert_off = np.concatenate([[0], np.cumsum(prep.vert_per_poly)])
    heights = prep.images["height"].to_numpy(np.int64)
    widths = prep.images["width"].to_numpy(np.int64)
    n_img = len(prep.images)
    # RLE objects by index (increasing: _prepare inserts them in order), sliced per chunk
    rle_keys = np.fromiter(prep.rles.keys(), dtype=np.int64, count=len(prep.rles))
    rle_vals = list(prep.rles.values())
    for i0 in range(0, n_img, chunk_images):
        i1 = min(i0 + chunk_images, n_img)
        o0, o1 = int(obj_off[i0]), int(obj_off[i1])
        p0, p1 = int(poly_off[o0]), int(poly_off[o1])
        v0, v1 = int(vert_off[p0]), int(vert_off[p1])
        yield {
            "height": heights[i0:i1],
            "width": widths[i0:i1],
            "n_obj": prep.obj_per_img[i0:i1],
            "n_poly": prep.poly_per_obj[o0:o1],
            "n_vert": prep.vert_per_poly[p0:p1],
            "coords": prep.coords[2 * v0 : 2 * v1],
            "rles": {
                int(rle_keys[j]) - o0: rle_vals[j]
                for j in range(*np.searchsorted(rle_keys, [o0, o1]).tolist())
            },
            "maps": [paths[i0:i1] for paths in map_paths],
            "normalize": normalize,
            "colour": colour,
            "source": source,
        }


def _run_chunks(
    chunks: Iterator[dict], n_chunks: int, n_images: int, jobs: int, progress: bool
) -> list[dict]:
    results: list[dict] = []
    client = active_client()
    if client is not None:  # a Dask cluster (salanalysis._cluster.use_cluster): chunks go to its workers
        with progress_bar(total=n_images, disable=not progress, unit="img", desc="objects") as bar:
            for res in map_ordered(client, process_chunk, (absolute_refs(ch) for ch in chunks)):
                results.append(res)
                bar.update(int(res["n_images"]))
        return results
    if jobs <= 1 or n_chunks <= 1:
        with progress_bar(total=n_images, disable=not progress, unit="img", desc="objects") as bar:
            for ch in chunks:
                results.append(process_chunk(ch))
                bar.update(len(ch["height"]))
        return results
    # the pool is started before the progress bar (whose monitor thread must not be forked);
    # gc.freeze: forked workers' garbage collections then skip the parent's objects (the
    # loaded annotations), which they would otherwise walk and copy page by page
    gc.freeze()
    try:
        with pool_context().Pool(processes=min(jobs, n_chunks)) as pool:
            with progress_bar(total=n_images, disable=not progress, unit="img", desc="objects") as bar:
                # imap pulls chunks lazily through a bounded pipe: memory follows the chunks in flight
                for res in pool.imap(process_chunk, chunks, chunksize=1):
                    results.append(res)
                    bar.update(int(res["n_images"]))
    finally:
        gc.unfreeze()
    return results


def compute_objects(
    annotations: Annotations,
    saliency: Mapping[str, MapSource | str | os.PathLike] | None = None,
    scores: Mapping[str, Scores] | Sequence[Scores] | None = None,
    *,
    threshold: float = 0.5,
    jobs: int | None = None,
    progress: bool = False,
) -> ObjectTables:
    """Compute the object table and the image table.

    Parameters
    ----------
    annotations
        COCO instances (:class:`salanalysis.coco.Annotations`).
    saliency
        Saliency sources by name: a :class:`~salanalysis.maps.MapSource` (with
        its map pattern and colour rule), a map folder, a SALICON results JSON, or a
        built-in :class:`~salanalysis.maps.SizeMapSource` (the center bias: one map per
        image size, computed in the workers, nothing read or written). The name gives the ``sal_max_NAME``/``sal_mean_NAME`` columns.
    scores
        Score sets (:class:`~salanalysis.scores.Scores`): a sequence (named by
        ``Scores.name``) or a mapping name -> Scores (or a score file path).
    threshold
        ``detected_NAME`` is ``score_NAME >= threshold``.
    jobs
        Worker processes (None or 0, default: ``os.cpu_count()``; 1 computes in this process).
        Workers are forked where ``fork`` exists (Linux, macOS); elsewhere they
        are spawned, which needs the usual ``if __name__ == "__main__":`` guard
        in scripts. Memory follows the chunks of 32 images in flight, not the
        dataset.
    progress
        Show a progress bar (tqdm, on stderr; at most one update per 30 s when
        stderr is not a terminal, e.g. a log file).

    Returns
    -------
    ObjectTables
        ``objects`` (columns in :class:`ObjectTables`), ``images`` and the
        counts of missing maps, zero-area, clipped and ignored items.

    Raises
    ------
    InputError
        Malformed segmentations (see the module docstring), unreadable maps, a
        map directory matching no image, scores lacking an image or category.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not 0 <= threshold <= 1:
        raise InputError(f"threshold must be a number in [0, 1], got {threshold!r}")
    jobs = (os.cpu_count() or 1) if not jobs else int(jobs)  # None or 0: all cores (as --jobs 0)
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, got {jobs}")
    sources = _sources(saliency)
    score_sets = _score_sets(scores, annotations)
    prep = _prepare(annotations)
    images = prep.images
    inst = prep.inst

    map_paths: list[list[str | None]] = []
    has_map: dict[str, np.ndarray] = {}
    for name, src in sources:
        paths = src.paths(images)
        flags = np.fromiter((p is not None for p in paths), dtype=bool, count=len(paths))
        if len(images) and not flags.any():
            raise src.no_match_error(images)
        has_map[name] = flags
        map_paths.append(paths)

    chunk_images = _CHUNK_IMAGES
    n_img = len(images)
    n_chunks = -(-n_img // chunk_images)
    chunks = (
        dict(ch, n_images=len(ch["height"]))
        for ch in _chunks(
            prep,
            map_paths,
            [src.normalize for _, src in sources],
            [src.colour for _, src in sources],
            chunk_images,
            str(annotations.path),
        )
    )
    results = _run_chunks(chunks, n_chunks, n_img, jobs, progress)

    n_src = len(sources)
    if results:
        area = np.concatenate([r["area"] for r in results])
        sum_x = np.concatenate([r["sum_x"] for r in results])
        sum_y = np.concatenate([r["sum_y"] for r in results])
        sal_max = np.concatenate([r["sal_max"] for r in results], axis=1)
        sal_mean = np.concatenate([r["sal_mean"] for r in results], axis=1)
        notes = np.concatenate([r["notes"] for r in results], axis=1)
    else:
        area = sum_x = sum_y = np.zeros(0, dtype=np.int64)
        sal_max = sal_mean = np.zeros((n_src, 0))
        notes = np.zeros((n_src, 0), dtype=np.uint8)
    map_notes = _report_notes(sources, notes, images, map_paths)

    W = prep.obj_width.astype(np.float64)
    H = prep.obj_height.astype(np.float64)
    pos = area > 0
    cx = np.full(len(area), np.nan)
    cy = np.full(len(area), np.nan)
    cx[pos] = sum_x[pos] / area[pos]  # exact integer sums, one rounding: as np.mean of the indices
    cy[pos] = sum_y[pos] / area[pos]
    n_obj_img = pd.Series(prep.obj_per_img, index=images["image_id"].to_numpy())
    cat_name = dict(zip(annotations.categories["category_id"], annotations.categories["name"]))
    obj = pd.DataFrame(
        {
            "image_id": inst["image_id"].to_numpy(np.int64),
            "ann_id": inst["ann_id"].to_numpy(np.int64),
            "category_id": inst["category_id"].to_numpy(np.int64),
            "category": pd.array([cat_name[c] for c in inst["category_id"]], dtype="str"),
            "area_px": area.astype(np.int64),
            "area_frac": area / (W * H),
            "bbox_x": inst["bbox_x"].to_numpy(np.float64),
            "bbox_y": inst["bbox_y"].to_numpy(np.float64),
            "bbox_w": inst["bbox_w"].to_numpy(np.float64),
            "bbox_h": inst["bbox_h"].to_numpy(np.float64),
            "cx": cx,
            "cy": cy,
            "center_dist": center_distance(cx, cy, W, H),
            "n_objects": n_obj_img.reindex(inst["image_id"]).to_numpy(np.int64),
        }
    )
    missing_maps: dict[str, int] = {}
    images_without: dict[str, int] = {}
    obj_rows = np.searchsorted(images["image_id"].to_numpy(), inst["image_id"].to_numpy())
    for k, (name, _) in enumerate(sources):
        obj[f"sal_max_{name}"] = sal_max[k]
        obj[f"sal_mean_{name}"] = sal_mean[k]
        missing_maps[name] = int((~has_map[name][obj_rows]).sum()) if len(obj) else 0
        images_without[name] = int((~has_map[name]).sum())
    for name, sc in score_sets:
        vals = sc.aligned(obj["image_id"].to_numpy(), obj["category_id"].to_numpy(), pairs=True)
        obj[f"score_{name}"] = vals.astype(np.float64)
        obj[f"detected_{name}"] = vals >= threshold
    stamp_objects(obj, score_sets)

    img = pd.DataFrame(
        {
            "image_id": images["image_id"].to_numpy(np.int64),
            "width": images["width"].to_numpy(np.int64),
            "height": images["height"].to_numpy(np.int64),
            "n_objects": prep.obj_per_img,
        }
    )
    for name, _ in sources:
        img[f"has_map_{name}"] = has_map[name]
    return ObjectTables(
        objects=obj,
        images=img,
        missing_maps=missing_maps,
        images_without_map=images_without,
        map_notes=map_notes,
        n_zero_area=int((area == 0).sum()),
        n_clipped=prep.n_clipped,
        n_dropped_polygons=prep.n_dropped_polygons,
        n_crowd_excluded=int(annotations.instances["iscrowd"].sum()),
    )


def _report_notes(sources: list[tuple[str, MapSource]], notes: np.ndarray, images: pd.DataFrame,
                  map_paths: list[list]) -> dict[str, dict[str, int]]:
    """Count the notes of each source's maps and warn once per source and kind."""
    out: dict[str, dict[str, int]] = {}
    for k, (name, src) in enumerate(sources):
        counts: dict[int, tuple[int, str]] = {}
        for flag in NOTE_NAMES:
            hit = np.flatnonzero(notes[k] & flag)
            if len(hit):
                ref = map_paths[k][hit[0]]
                example = getattr(ref, "label", None) or os.path.basename(str(ref))
                counts[flag] = (len(hit), f"{example} for image {int(images['image_id'].iat[hit[0]])}")
        for message in note_messages(counts, name):
            warn_input(message, src.location)
        out[name] = {label: counts.get(flag, (0, ""))[0] for flag, label in NOTE_NAMES.items()}
    return out


def object_table(annotations: Annotations, *args, **kwargs) -> pd.DataFrame:
    """The object table alone: ``compute_objects(annotations, ...).objects`` (same arguments;
    columns in :class:`ObjectTables`)."""
    return compute_objects(annotations, *args, **kwargs).objects


# -------------------------------------------------------------------- reference
def object_table_reference(
    annotations: Annotations,
    saliency: Mapping[str, MapSource | str | os.PathLike] | None = None,
    scores: Mapping[str, Scores] | Sequence[Scores] | None = None,
    *,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """The straightforward object table, for tests and the benchmark.

    Per object: the full-image mask from ``COCO.annToMask`` (polygons with
    fewer than 3 vertices left out, as in :func:`compute_objects`), the
    centroid from ``np.nonzero``, and per source the map decoded, resized and
    normalised again (``MapSource.load``) for every object, then the max and
    mean of ``map[mask]``. Same columns and conventions as :func:`object_table`;
    no parallelism and none of its input validation.
    """
    sources = _sources(saliency)
    score_sets = _score_sets(scores, annotations)
    coco = annotations.coco
    inst = annotations.instances_for(include_crowd=False)
    images = annotations.images.set_index("image_id")
    n_obj = annotations.n_objects()
    cat_name = dict(zip(annotations.categories["category_id"], annotations.categories["name"]))
    rows = []
    for ann_id, image_id in zip(inst["ann_id"].tolist(), inst["image_id"].tolist()):
        ann = coco.anns[ann_id]
        im = images.loc[image_id]
        h, w = int(im["height"]), int(im["width"])
        segm = ann["segmentation"]
        if isinstance(segm, list) and any(len(p) < 6 for p in segm) or segm == []:
            polys = [p for p in segm if len(p) >= 6]
            mask = (
                mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
                if polys
                else np.zeros((h, w), dtype=np.uint8)
            )
        else:
            mask = coco.annToMask(ann)
        ys, xs = np.nonzero(mask)
        area = len(xs)
        cx = xs.mean() if area else np.nan
        cy = ys.mean() if area else np.nan
        row = {
            "image_id": image_id, "ann_id": ann_id, "category_id": ann["category_id"],
            "category": cat_name[ann["category_id"]], "area_px": area, "area_frac": area / (w * h),
            "bbox_x": ann["bbox"][0], "bbox_y": ann["bbox"][1], "bbox_w": ann["bbox"][2],
            "bbox_h": ann["bbox"][3], "cx": cx, "cy": cy,
            "center_dist": float(center_distance(cx, cy, w, h)), "n_objects": int(n_obj[image_id]),
        }  # fmt: skip
        for name, src in sources:
            smax = smean = np.nan
            if area and src.find(image_id, im["file_name"]) is not None:
                sal = src.load(image_id, h, w, im["file_name"])[mask > 0]
                smax, smean = float(sal.max()), float(sal.mean())
            row[f"sal_max_{name}"] = smax
            row[f"sal_mean_{name}"] = smean
        rows.append(row)
    cols = OBJECT_COLUMNS + [f"sal_{s}_{n}" for n, _ in sources for s in ("max", "mean")]
    obj = pd.DataFrame(rows, columns=cols)
    obj = obj.astype({"image_id": np.int64, "ann_id": np.int64, "category_id": np.int64,
                      "area_px": np.int64, "n_objects": np.int64})  # fmt: skip
    for name, sc in score_sets:
        vals = sc.aligned(obj["image_id"].to_numpy(), obj["category_id"].to_numpy(), pairs=True)
        obj[f"score_{name}"] = vals.astype(np.float64)
        obj[f"detected_{name}"] = vals >= threshold
    stamp_objects(obj, score_sets)
    return obj
