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
        "maps in OUT/.staging-KEY and the same command continues from them. With --out FILE.json "
        "the maps are written as one SALICON results JSON instead (a list of {image_id, "
        "saliency_map}, each an 8-bit PNG, base64-encoded: the format of the SALICON evaluation); "
        "every image name must then carry a COCO image id, and the PNGs wait in FILE.json.maps/ "
        "until the JSON is written (a resumed run continues from them).",
    )
    add_inference_options(p, checkpoint="train-saliency checkpoint (model.pt or last.pt)",
                          images="folder of images (not recursive)", batch_size=8,
                          input_help="network input, SIZE or HEIGHT WIDTH (default: the checkpoint's "
                          "training size)")
    p.add_argument("--out", required=True, metavar="DIR|FILE.json",
                   help="output map folder, or a SALICON results JSON (a path ending in .json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from salanalysis.commands._common import show_progress
    from salanalysis.dualstream.options import parse_input_size
    from salanalysis.dualstream.saliency.export import predict_saliency_maps

    out = Path(args.out)
    to_json = out.suffix.lower() == ".json"
    if to_json:
        _check_image_ids(args.images)
    maps_dir = out.with_name(out.name + ".maps") if to_json else out
    table = predict_saliency_maps(
        args.checkpoint,
        args.images,
        maps_dir,
        input_size=parse_input_size(args.input_size) if args.input_size else None,
        batch_size=args.batch_size,
        device=args.device,
        amp=amp_enabled(args),
        progress=show_progress(args),
    )
    if to_json:
        from salanalysis.maps import MapSource, write_results_json

        src = MapSource(maps_dir, "predicted maps")
        maps = src.image_ids()
        write_results_json(((iid, src.read(ref)[0]) for iid, ref in sorted(maps.items())), out)
        shutil.rmtree(maps_dir)
        print(f"wrote {len(maps)} saliency maps to {out} (SALICON results JSON)")
        return 0
    print(f"wrote {len(table)} saliency maps to {args.out}")
    return 0


def _check_image_ids(images: str) -> None:
    """A results JSON names maps by COCO image id: every image name must carry one (before any work)."""
    from salanalysis.errors import InputError
    from salanalysis.images import image_files, parse_image_name

    files = image_files(images)
    ids: dict[int, str] = {}
    for f in files:
        parsed = parse_image_name(f.name)
        if parsed is None:
            raise InputError(f"{f.name} does not name a COCO image id (a results JSON identifies maps "
                             "by image id; write a map folder instead)", images)
        if parsed.image_id in ids:
            raise InputError(f"{ids[parsed.image_id]} and {f.name} name the same image id "
                             f"{parsed.image_id}", images)
        ids[parsed.image_id] = f.name
