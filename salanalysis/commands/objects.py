"""``salanalysis objects``: the object table (size, center distance, saliency, detected or missed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from salanalysis.commands import _common

_TABLE_EXT = (".csv", ".parquet", ".pq")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "objects",
        help="one row per object instance: size, center distance, saliency per source, detected per model",
        description="Compute the object table (one row per non-crowd instance: area_px, area_frac, "
        "bbox, centroid cx/cy, center_dist, n_objects, sal_max_NAME/sal_mean_NAME per saliency "
        "source, score_NAME/detected_NAME per score set) and optionally the image table. Objects "
        "whose image has no map get NaN saliency; their number is printed per source. "
        + _common.READING_HELP,
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON")
    _common.add_saliency_option(p)
    _common.add_scores_option(p, "score file (repeatable)")
    p.add_argument(
        "--threshold", type=float, default=0.5,
        help="detected = score >= threshold, in [0, 1] (default 0.5)"
    )
    _common.add_score_reading_options(p)
    _common.add_jobs_option(p, "worker processes (1: none)")
    p.add_argument("--out", required=True, help="object table (.csv or .parquet)")
    p.add_argument("--images-out", help="also write the image table (.csv or .parquet)")
    _common.add_progress_options(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.errors import InputError
    from salanalysis.io import all_or_nothing, write_table
    from salanalysis.objects import compute_objects

    for path in (args.out, args.images_out):
        if path is not None and Path(path).suffix.lower() not in _TABLE_EXT:
            raise InputError("output must end in .csv or .parquet", path)
    if not 0 <= args.threshold <= 1:  # also rejects NaN
        raise InputError(f"--threshold must be a number in [0, 1], got {args.threshold!r}")
    sal = _common.saliency_sources(args)
    ann, score_sets = _common.load_score_sets(args)
    res = compute_objects(
        ann, sal, score_sets, threshold=args.threshold, jobs=_common.resolve_jobs(args.jobs),
        progress=_common.show_progress(args),
    )
    with all_or_nothing():  # both tables, or neither (a full disk, a read-only folder)
        write_table(res.objects, args.out)
        if args.images_out:
            write_table(res.images, args.images_out)
    print(f"objects: {len(res.objects)} (crowd excluded: {res.n_crowd_excluded}) -> {args.out}")
    for name, n in res.missing_maps.items():
        broken = getattr(sal.get(name), "broken_links", [])
        print(
            f"saliency {name}: {n} objects without a map (NaN) "
            f"in {res.images_without_map[name]} images without a map"
            + (f" ({len(broken)} broken link(s) in the folder, e.g. {broken[0]})" if broken else "")
        )
    print(f"zero-area masks (NaN centroid and saliency): {res.n_zero_area}")
    if res.n_clipped:
        print(f"objects clipped at the image border: {res.n_clipped}")
    if res.n_dropped_polygons:
        print(f"polygons with fewer than 3 vertices ignored: {res.n_dropped_polygons}")
    for line in _common.score_notes(score_sets):
        print(line)
    return 0
