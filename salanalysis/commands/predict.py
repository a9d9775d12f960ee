"""``salanalysis predict``: a scores file from a trained checkpoint (torch; needs the ``train`` extra)."""

from __future__ import annotations

import argparse

from salanalysis.commands._common import non_negative_int
from salanalysis.commands._torch import add_inference_options, add_missing_option, amp_enabled
from salanalysis.dualstream.options import PIPELINES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="score COCO images with a trained baseline / dual-stream checkpoint",
        description="Run a checkpoint of 'salanalysis train' over the images of a COCO instances file "
        "and write per-class probabilities as a scores file (.csv, .parquet, .npz or .json) that "
        "every analysis command reads. Prints the images/s it reached; with --evaluate also Table 1 "
        "of the scores (as torchvision's --test-only). Resumable: an interrupted run "
        "leaves .OUT.partial.npz beside OUT, and the same command continues from it.",
    )
    add_inference_options(p, checkpoint="model.pt or last.pt of a run", images="folder of the images",
                          batch_size=128, old_input=("image_size",),
                          input_help="network input: the side of the square the model sees, cut as the "
                          "training run evaluated (its eval_crop; default: the training run's size)")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO instances JSON")
    p.add_argument("--out", required=True, metavar="FILE", help="scores file to write")
    p.add_argument("--name", help="score set name (default: the checkpoint's folder)")
    p.add_argument("--layout", choices=("wide", "long"), default="wide", help="table layout of CSV/Parquet")
    p.add_argument("--workers", type=non_negative_int, default=2, metavar="N",
                   help="DataLoader worker processes (0: load in this process; default 2)")
    add_missing_option(p, "error", "images whose file is absent: 'error' (default) or 'skip' (no row; the "
                       "count is printed)")
    p.add_argument("--pipeline", choices=PIPELINES, default="auto",
                   help="JPEG decoding and resizing: 'cpu' (Pillow, in the workers), 'gpu' (experimental: "
                   "nvJPEG on the device, not yet verified on a GPU) or 'auto' (default: cpu)")
    p.add_argument("--evaluate", action="store_true",
                   help="then print Table 1 of the scores on the scored images (default metric rules, no "
                   "bootstrap; 'salanalysis metrics' gives intervals and the other rules)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.commands._common import show_progress
    from salanalysis.dualstream.predict import partial_path, write_predictions

    partial = partial_path(args.out)
    if partial.exists() and not args.quiet:
        print(f"found partial scores {partial}: continuing after them if this run's inputs and settings match")
    path, scores = write_predictions(
        args.checkpoint, args.annotations, args.images, args.out, layout=args.layout, name=args.name,
        batch_size=args.batch_size, workers=args.workers, device=args.device, input_size=args.input_size,
        missing=args.missing, amp=amp_enabled(args), progress=show_progress(args),
        pipeline=args.pipeline, with_scores=True,
    )
    m = scores.meta
    rate = f", {m['images_per_s']:,.0f} images/s" if m.get("images_per_s") else ""
    print(f"wrote {path} ({len(scores.image_ids)} images, {m['seconds']:.1f} s{rate}, {m['pipeline']} pipeline)")
    if m.get("n_missing_images"):
        print(f"skipped {m['n_missing_images']} images whose file is absent (--missing skip)")
    if args.evaluate:
        from salanalysis.dualstream.predict import evaluate_scores

        print(evaluate_scores(scores, args.annotations).summary(), end="")
    return 0
