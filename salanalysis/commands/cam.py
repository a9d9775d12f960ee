"""``salanalysis cam``: class activation maps of two models and the Fig. 5 selection."""

from __future__ import annotations

import argparse

from salanalysis.commands._common import parse_named
from salanalysis.commands._torch import add_inference_options, add_missing_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cam",
        help="class activation maps of model A and B where A misses a class B detects (Fig. 5)",
        description="Compute each model's confidences on the annotated images, select the "
        "(image, ground-truth class) pairs with conf_A < threshold <= conf_B (the paper's Fig. 5 "
        "rule), and write their CAMs (.npy at the image size), PNG overlays with each model's "
        "confidence, selection.csv, gt_confidences.csv, cam_manifest.json/.csv (read by the Fig. 5 "
        "plot) and cam_run.json. Give --checkpoint twice: first model A (e.g. baseline), then B. "
        "Resumable: an interrupted scan keeps its results in OUT/.cam_scan.KEY.npz and the same "
        "command continues from them.",
    )
    p.add_argument(
        "--checkpoint", action="append", required=True, metavar="NAME=FILE",
        help="a Baseline/DualStream checkpoint of 'salanalysis train' (twice: A, then B)",
    )
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO instances JSON (ground truth)")
    p.add_argument("--threshold", type=float, default=0.5, help="detection threshold (default 0.5)")
    p.add_argument(
        "--max-images", type=int, metavar="N",
        help="render CAMs and overlays for at most N selected images (largest margin first)",
    )
    add_inference_options(p, amp=False, images="folder of the images",
                          input_help="network input: unlike predict's square crop, the short side the whole "
                          "image is resized to, aspect kept, so the CAM covers it (default: the checkpoints' "
                          "training input size, as predict; one SIZE)")
    add_missing_option(p, "skip", "images whose file is absent: 'skip' (default for cam; left out and counted) "
                       "or 'error'")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.commands._common import show_progress
    from salanalysis.dualstream.cam import run_cams
    from salanalysis.dualstream.options import parse_input_size
    from salanalysis.errors import InputError

    pairs = parse_named(args.checkpoint, "--checkpoint")
    if len(pairs) != 2:
        raise InputError(f"--checkpoint must be given exactly twice (A=FILE B=FILE), got {len(pairs)}")
    if args.input_size is not None and len(set(args.input_size)) > 1:
        raise InputError("--input-size: cam resizes the images' short side, give one SIZE")
    res = run_cams(
        pairs,
        args.annotations,
        args.images,
        args.out,
        threshold=args.threshold,
        max_images=args.max_images,
        input_size=parse_input_size(args.input_size, square=True) if args.input_size else None,
        device=args.device,
        missing=args.missing,
        progress=show_progress(args),
    )
    c = res.counts
    if c["n_images_missing"]:
        print(f"skipped {c['n_images_missing']} images whose file is absent (--missing skip)")
    print(
        f"{c['n_images_scanned']} images, {c['n_gt_pairs']} ground-truth labels: "
        f"{c['n_selected_pairs']} where {pairs[0][0]} misses and {pairs[1][0]} detects "
        f"({c['n_rendered_pairs']} rendered) -> {args.out}"
    )
    return 0
