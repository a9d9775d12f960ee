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
    _common.add_subset_options(p)
    _common.add_jobs_option(p, "worker processes (1: none)")
    _common.add_out_option(p, what="objects.csv and images.csv (an --out ending in .csv or .parquet, the "
                           "object table's file, still works in this release)")
    p.add_argument("--images-out", help="with --out FILE: also write the image table (.csv or .parquet)")
    _common.add_progress_options(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.errors import InputError
    from salanalysis.io import all_or_nothing, write_table
    from salanalysis.metrics import MetricRules
    from salanalysis.objects_run import run_objects

    out, legacy = _common.out_folder(args.out, "objects", _TABLE_EXT)
    if args.images_out is not None:
        if not legacy:
            raise InputError("--images-out goes with --out FILE; --out DIR writes DIR/images.csv", args.images_out)
        if Path(args.images_out).suffix.lower() not in _TABLE_EXT:
            raise InputError("output must end in .csv or .parquet", args.images_out)
    try:
        rules = MetricRules(threshold=args.threshold)
    except InputError:
        raise InputError(f"--threshold must be a number in [0, 1], got {args.threshold!r}") from None
    sal = _common.saliency_sources(args)
    annotations, rules = _common.subset_rules(args, rules)
    res = run_objects(annotations, sal, _common.named_scores(args), rules=rules, jobs=args.jobs,
                      progress=_common.show_progress(args), **_common.score_reading(args))
    if legacy:
        with all_or_nothing():  # both tables, or neither (a full disk, a read-only folder)
            write_table(res.tables["objects"], out)
            if args.images_out:
                write_table(res.tables["images"], args.images_out)
        where = out
    else:
        res.write(out)
        where = out / "objects.csv"
    first, *rest = res.summary().splitlines()
    print(f"{first} -> {where}")
    for line in rest:
        for name, src in sal.items():  # a map folder's broken links, named where its missing maps are
            broken = getattr(src, "broken_links", [])
            if broken and line.startswith(f"saliency {name}: "):
                line += f" ({len(broken)} broken link(s) in the folder, e.g. {broken[0]})"
        print(line)
    return 0
