"""``salanalysis predict``: a scores file from a trained checkpoint (torch; needs the ``train`` extra)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="score COCO images with a trained baseline / dual-stream checkpoint",
        description="Run a checkpoint of 'salanalysis train' over the images of a COCO instances file "
        "and write per-class probabilities as a scores file (.csv, .parquet, .npz or .json) that "
        "every analysis command reads. Resumable: an interrupted run leaves .OUT.partial.npz beside "
        "OUT, and the same command continues from it.",
    )
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="model.pt or last.pt of a run")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO instances JSON")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of the images")
    p.add_argument("--out", required=True, metavar="FILE", help="scores file to write")
    p.add_argument("--name", help="score set name (default: the checkpoint's folder)")
    p.add_argument("--layout", choices=("wide", "long"), default="wide", help="table layout of CSV/Parquet")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p.add_argument("--image-size", type=int, help="crop size (default: the training run's)")
    p.add_argument("--missing-images", choices=("error", "skip"), default="error",
                   help="images whose file is absent: error (default) or skip (no row)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.predict import partial_path, write_predictions

    partial = partial_path(args.out)
    if partial.exists():
        print(f"found partial scores {partial}: continuing after them if this run's inputs and settings match")
    path = write_predictions(
        args.checkpoint, args.annotations, args.images, args.out, layout=args.layout, name=args.name,
        batch_size=args.batch_size, workers=args.workers, device=args.device, image_size=args.image_size,
        missing_images=args.missing_images, progress=args.progress,
    )
    print(f"wrote {path}")
    return 0
