"""``salanalysis saliency predict``: predicted saliency maps as 8-bit PNGs (the saliency network).

Registered into the ``salanalysis saliency`` group by
:mod:`salanalysis.commands.saliency`, which calls :func:`register` with its
sub-parsers when this module exists.
"""

from __future__ import annotations

import argparse

from salanalysis.commands._torch import add_inference_options, amp_enabled


def register(saliency_subparsers: argparse._SubParsersAction) -> None:
    p = saliency_subparsers.add_parser(
        "predict",
        help="predicted saliency maps (8-bit PNG, SALICON names) from a train-saliency checkpoint",
        description="Run a trained saliency network over a folder of images and write one 8-bit "
        "grayscale PNG per image at the image's size (predicted density min-max scaled to 0..255), "
        "named COCO_<split>2014_%012d.png for COCO 2014 image names, else <stem>.png. The folder "
        "is a saliency source for the object table (e.g. --saliency predicted=DIR). Files are "
        "staged and moved into place only when every image succeeded; an interrupted run keeps its "
        "maps in OUT/.staging-KEY and the same command continues from them.",
    )
    add_inference_options(p, checkpoint="train-saliency checkpoint (model.pt or last.pt)",
                          images="folder of images (not recursive)", batch_size=8,
                          input_help="network input, SIZE or HEIGHT WIDTH (default: the checkpoint's "
                          "training size)")
    p.add_argument("--out", required=True, metavar="DIR", help="output map folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.commands._common import show_progress
    from salanalysis.dualstream.options import parse_input_size
    from salanalysis.dualstream.saliency.export import predict_saliency_maps

    table = predict_saliency_maps(
        args.checkpoint,
        args.images,
        args.out,
        input_size=parse_input_size(args.input_size) if args.input_size else None,
        batch_size=args.batch_size,
        device=args.device,
        amp=amp_enabled(args),
        progress=show_progress(args),
    )
    print(f"wrote {len(table)} saliency maps to {args.out}")
    return 0
