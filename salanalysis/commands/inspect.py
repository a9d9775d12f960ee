"""``salanalysis inspect``: what the inputs hold and how they overlap."""

from __future__ import annotations

import argparse

from salanalysis.cli import parse_named


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="summarise annotations, saliency maps and score files, and what is missing",
        description="Count images, instances (crowd and non-crowd), categories, and the overlap "
        "of the annotations with each saliency source and score set.",
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON")
    p.add_argument("--saliency", action="append", metavar="NAME=DIR", help="saliency map folder (repeatable)")
    p.add_argument("--scores", action="append", metavar="NAME=FILE", help="score file (repeatable)")
    p.add_argument("--logits", action="store_true", help="score files hold logits (sigmoid applied)")
    p.add_argument("--out", help="also write the overview table (.csv or .parquet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.coco import Annotations
    from salanalysis.io import write_table
    from salanalysis.overview import format_overview, inspect_inputs

    sal = dict(parse_named(args.saliency, "--saliency"))
    sco = dict(parse_named(args.scores, "--scores"))
    ann = Annotations.load(args.annotations)
    table = inspect_inputs(ann, sal, sco, logits=args.logits)
    print(format_overview(table))
    if args.out:
        write_table(table, args.out)
    return 0
