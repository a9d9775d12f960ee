"""``salanalysis inspect``: what the inputs hold and how they overlap."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="summarise annotations, saliency maps and score files, and what is missing",
        description="Count images, instances (crowd and non-crowd), categories, and the overlap "
        "of the annotations with each saliency source and score set: per source the maps it would "
        "use, the files it skips (not maps by --map-pattern, other types), maps matching no image "
        "and colour images (refused as maps unless --colour-maps luminance); per score set the "
        "images without scores (or, for a detection-results JSON, without detections: scored 0).",
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON")
    _common.add_saliency_option(p)
    _common.add_scores_option(p, "score file (repeatable)")
    _common.add_logits_option(p)
    _common.add_vocabulary(p)
    _common.add_out_option(p, required=False, what="also write the overview table as overview.csv (an --out "
                           "ending in .csv or .parquet, the table's file, still works in this release)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.coco import Annotations
    from salanalysis.io import write_table
    from salanalysis.overview import format_overview, inspect_inputs

    sal = _common.saliency_sources(args)
    sco = dict(_common.named_scores(args))
    ann = Annotations.load(args.annotations)
    table = inspect_inputs(ann, sal, sco, logits=args.logits)
    print(format_overview(table))
    if args.out:
        out, legacy = _common.out_folder(args.out, "overview", (".csv", ".parquet", ".pq"))
        if not legacy and out.exists() and not out.is_dir():
            from salanalysis.errors import InputError

            raise InputError("output path exists and is not a folder", out)
        write_table(table, out if legacy else out / "overview.csv")
    return 0
