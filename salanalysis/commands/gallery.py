"""``salanalysis gallery``: thumbnails of detected and missed objects, chosen by stated rules."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gallery",
        help="a gallery of detected and missed objects: thumbnails with mask outline and saliency overlays",
        description="For one score set, pick per outcome (detected, missed) the largest, the most salient, "
        "the most typical and the most surprising objects of an object table (salanalysis objects), crop "
        "them from their images with the mask outlined and each saliency map overlaid, and write JPEG "
        "thumbnails with gallery.csv into OUT (draw it with `salanalysis plot fig_gallery --from OUT`). "
        "Image names from the annotations must lie inside --images.",
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON")
    p.add_argument("--objects", required=True, help="object table (.csv or .parquet, from salanalysis objects)")
    p.add_argument("--images", required=True, help="folder of the images (by the annotations' file_name)")
    _common.add_saliency_option(p)
    p.add_argument("--model", help="score set whose outcome is shown (default: the table's first)")
    p.add_argument("--source", help="saliency source of the 'most salient' rule (default: the first)")
    p.add_argument("--per-rule", type=_common.non_negative_int, default=2, metavar="N",
                   help="objects per rule and outcome (default 2)")
    p.add_argument("--categories", nargs="+", metavar="NAME", help="only objects of these classes")
    p.add_argument("--out", required=True, help="output folder (gallery.csv and thumbs/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salanalysis.coco import Annotations
    from salanalysis.errors import InputError
    from salanalysis.gallery import available_images, render_gallery, select_gallery
    from salanalysis.io import read_table

    images = Path(args.images)
    if not images.is_dir():
        raise InputError("images folder not found", images)
    if args.per_rule < 1:
        raise InputError(f"--per-rule must be at least 1, got {args.per_rule}")
    ann = Annotations.load(args.annotations)
    objects = read_table(args.objects)
    models = [c[len("detected_"):] for c in objects.columns if c.startswith("detected_")]
    if not models:
        raise InputError("the object table has no detected_NAME column (run salanalysis objects with --scores)",
                         args.objects)
    model = args.model or models[0]
    if model not in models:
        raise InputError(f"no score set '{model}' in the object table (have: {', '.join(models)})", args.objects)
    sel = select_gallery(objects, model, source=args.source, per_rule=args.per_rule,
                         categories=args.categories, image_ids=available_images(ann, images))
    sal = _common.saliency_sources(args)
    res = render_gallery(sel, ann, images, args.out, saliency=sal)
    print(res.summary())
    return 0
