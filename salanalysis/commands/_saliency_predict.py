"""``salanalysis saliency predict``: predicted saliency maps as 8-bit PNGs (the saliency network).

Registered into the ``salanalysis saliency`` group by
:mod:`salanalysis.commands.saliency`, which calls :func:`register` with its
sub-parsers when this module exists.
"""

from __future__ import annotations

import argparse


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
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="train-saliency checkpoint (model.pt or last.pt)")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (not recursive)")
    p.add_argument("--out", required=True, metavar="DIR", help="output map folder")
    p.add_argument(
        "--input-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
        help="network input size (default: the checkpoint's training size)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.saliency_export import predict_saliency_maps
    from salanalysis.errors import InputError

    if args.batch_size < 1:
        raise InputError("--batch-size must be >= 1")
    if args.input_size is not None and min(args.input_size) < 32:
        raise InputError("--input-size must be at least 32 32")
    table = predict_saliency_maps(
        args.checkpoint,
        args.images,
        args.out,
        input_size=tuple(args.input_size) if args.input_size else None,
        batch_size=args.batch_size,
        device=args.device,
        amp=not args.no_amp,
        progress=args.progress,
    )
    print(f"wrote {len(table)} saliency maps to {args.out}")
    return 0
