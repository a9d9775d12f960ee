"""``salanalysis saliency``: SALICON ground truth, baseline sources, saliency metrics.

Sub-commands

``fixations``
    SALICON fixations (2015 JSON or 2017 ``.mat``) -> ground-truth map directory
    (:func:`salanalysis.salicon.read_fixations`,
    :func:`salanalysis.salicon.write_fixation_maps`).
``baseline``
    Center-bias or spectral-residual map directory
    (:mod:`salanalysis.baselines`).
``evaluate``
    CC, KLD, SIM, NSS, AUC-Judd and shuffled AUC of a map folder or SALICON
    results JSON (:func:`salanalysis.saliency_metrics.evaluate_maps`).
``convert``
    A SALICON results JSON to a map folder, or a map folder to a results JSON
    (:func:`salanalysis.maps.write_map_directory`,
    :func:`salanalysis.maps.write_results_json`).
``predict``
    Added by ``salanalysis/commands/_saliency_predict.py`` when that module
    exists (the saliency network; it needs torch).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os

from salanalysis.commands import _common
from salanalysis.errors import InputError

_PREDICT_MODULE = "salanalysis.commands._saliency_predict"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "saliency",
        help="SALICON ground-truth maps, baseline saliency sources and saliency metrics",
        description="Build SALICON ground-truth maps from fixations, write center-bias and "
        "spectral-residual baseline map directories, and score map directories with CC, KLD, "
        "SIM, NSS, AUC-Judd and shuffled AUC. Each subcommand reads one map source, named by its "
        "own option (--pred, --gt-maps, --from): the exception to the analysis commands' "
        "--saliency NAME=SOURCE, which name several; --size WxH is an image size, not a source.",
    )
    p.set_defaults(func=lambda args: _no_subcommand(p))
    ssub = p.add_subparsers(dest="saliency_command", metavar="SUBCOMMAND")

    # ---------------------------------------------------------------- fixations
    f = ssub.add_parser(
        "fixations",
        help="SALICON fixations (2015 JSON / 2017 .mat) -> ground-truth map directory",
        description="Read SALICON fixations and write one ground-truth map per image: fixated "
        "pixels on a zero map, Gaussian blur (scipy.ndimage.gaussian_filter, reflect, truncate 4), "
        "min-max normalised, 8-bit PNG named COCO_{split}2014_%012d.png. Resumable: an interrupted "
        "run keeps its maps in OUT/.maps.KEY.part and the same command continues from them.",
    )
    f.add_argument("--fixations", required=True, help="2015 .json file, 2017 .mat file or folder of .mat files")
    _add_fixation_options(f)
    f.add_argument("--sigma", type=float, default=19.0, help="Gaussian blur sigma in pixels (default 19, as SALICON)")
    f.add_argument(
        "--counts",
        action="store_true",
        help="add 1 per fixation before blurring (default: a fixated pixel is 1, as salicon-api)",
    )
    f.add_argument("--table", help="also write the fixation table (.csv or .parquet)")
    _common.add_jobs_option(f, "worker processes (1: none)")
    _map_folder_output(f, run_fixations)

    # ----------------------------------------------------------------- baseline
    b = ssub.add_parser(
        "baseline",
        help="center-bias or spectral-residual baseline map directory",
        description="Write a baseline map per image: 'center' (a Gaussian centered in the image, "
        "sd = SIGMA_FRAC x width / height; sizes from --annotations or the image files) or "
        "'spectral' (OpenCV spectral residual saliency of each image in --images; resumable: an "
        "interrupted run keeps its maps in OUT/.maps.KEY.part and the same command continues).",
    )
    b.add_argument("--kind", required=True, choices=["center", "spectral"])
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="folder of images")
    src.add_argument("--annotations", help="COCO annotations JSON (image sizes; center prior only)")
    b.add_argument(
        "--sigma-frac", type=float, default=0.25, help="center prior sd as a fraction of width/height (default 0.25)"
    )
    _map_folder_output(b, run_baseline)

    # ----------------------------------------------------------------- evaluate
    e = ssub.add_parser(
        "evaluate",
        help="CC, KLD, SIM, NSS, AUC-Judd, shuffled AUC of a map folder or SALICON results JSON",
        description="Score predicted maps against ground-truth maps and/or fixations, one row per "
        "image plus a final 'mean' row; prints each metric's mean with a 95% t interval over images "
        "(--summary writes them): none below 10 images, and cut at the metric's range (CC in [-1, 1], "
        "SIM and the AUCs in [0, 1], KLD >= 0) where it reaches beyond it, as the output says. "
        "Resizing: each prediction is resized bilinearly to the ground truth's size (the fixation "
        "table's image size, else the ground-truth map's), then min-max normalised to [0, 1]; "
        "predictions of another aspect ratio are stretched and reported once, constant maps (no "
        "saliency) are reported. CC, KLD and SIM need --gt-maps, NSS, AUC_Judd and sAUC need "
        "--fixations: by default every metric the ground truth given allows is computed and the "
        "others are named as skipped; asking for one without its ground truth is an error. The "
        "same maps as prediction and ground truth are scored against themselves, with a warning.",
    )
    e.add_argument("--pred", required=True, help="predicted maps: a map folder or a SALICON results JSON")
    e.add_argument("--gt-maps", help="ground-truth map folder")
    e.add_argument("--fixations", help="SALICON fixations (.json, .mat or folder of .mat)")
    _add_fixation_options(e)
    _common.add_map_reading_options(e, "predicted maps", named=False)
    _common.add_map_reading_options(e, "ground-truth maps", option="--gt-map-pattern", named=False)
    e.add_argument("--metrics", nargs="+", metavar="METRIC",
                   help="subset of CC KLD SIM NSS AUC_Judd sAUC (default: all that the ground truth given allows)")
    e.add_argument("--no-jitter", action="store_true", help="AUC-Judd without tie-breaking noise")
    e.add_argument("--seed", type=int, default=0, help="seed of the AUC-Judd jitter and sAUC sampling")
    _common.add_vocabulary(e)
    _common.add_out_option(e, what="saliency_metrics.csv (one row per image) and saliency_summary.csv "
                           "(n, mean, sd, sem, 95%% t interval over images); an --out ending in .csv or "
                           ".parquet, the per-image table's file, still works in this release")
    e.add_argument(
        "--summary",
        help="with --out FILE: also write the per-metric summary (.csv or .parquet)",
    )
    e.set_defaults(func=run_evaluate)

    # ------------------------------------------------------------------ convert
    c = ssub.add_parser(
        "convert",
        help="SALICON results JSON -> map folder, or map folder -> SALICON results JSON",
        description="Convert between the two forms of a saliency source. A SALICON results JSON (a "
        "list of {image_id, saliency_map} with a base64-encoded PNG: the format of the SALICON "
        "evaluation) becomes a folder of maps named by image id (000000000192.png, or "
        "COCO_{split}2014_%012d.png with --split), each the entry's gray image with its stored values "
        "(8- or 16-bit PNG). A map "
        "folder (maps named by COCO image name or id) becomes a results JSON whose maps are 8-bit "
        "grayscale PNGs of the min-max normalised maps (round(255 x value)), as the analyses read "
        "them. The direction follows --out: a path ending in .json is a results JSON, anything else a folder.",
    )
    c.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                   help="a SALICON results JSON or a map folder")
    c.add_argument("--out", required=True, help="output map folder, or a results JSON (.json)")
    c.add_argument("--split", choices=["train", "val", "test"],
                   help="JSON -> folder: name the maps COCO_{split}2014_%%012d.png (default: %%012d.png)")
    _common.add_map_reading_options(c, "map folder read", named=False)
    _common.add_progress_options(c)
    c.set_defaults(func=run_convert)

    if importlib.util.find_spec(_PREDICT_MODULE) is not None:
        importlib.import_module(_PREDICT_MODULE).register(ssub)


def _add_fixation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["json", "mat"], help="fixation format (default: from the extension)")
    p.add_argument(
        "--field",
        choices=["fixations", "location"],
        default="fixations",
        help=".mat only: released fixations (default) or raw mouse samples",
    )
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--images", dest="size_images", metavar="DIR", help="image sizes from these image files")
    sizes.add_argument("--size", metavar="WxH", help="one size for every image, e.g. 640x480")
    sizes.add_argument("--annotations", dest="size_annotations", metavar="FILE", help="image sizes from a COCO annotations JSON")
    p.add_argument("--split", choices=["train", "val", "test"], help="names images without a file_name")
    p.add_argument(
        "--on-outside",
        choices=["drop", "error"],
        default="drop",
        help="fixations outside the image: drop and count, in total and per image (default; a warning above "
        "1%%; an image of 20 or more fixations with over half outside is an error: the size is wrong) or fail",
    )


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise InputError(f"--size expects WIDTHxHEIGHT, got {text!r}") from exc
    if w < 1 or h < 1:
        raise InputError(f"--size must be positive, got {text!r}")
    return w, h


def _sizes(args: argparse.Namespace):
    if getattr(args, "size", None):
        return _parse_size(args.size)
    if getattr(args, "size_images", None):
        from salanalysis.images import images_table

        t = images_table(args.size_images)
        t = t[t["image_id"].notna()]
        return {int(i): (int(w), int(h)) for i, w, h in zip(t["image_id"], t["width"], t["height"])}
    if getattr(args, "size_annotations", None):
        from salanalysis.coco import Annotations

        t = Annotations.load(args.size_annotations).images
        return {int(i): (int(w), int(h)) for i, w, h in zip(t["image_id"], t["width"], t["height"])}
    return None


def _read(args: argparse.Namespace):
    from salanalysis.salicon import read_fixations

    return read_fixations(
        args.fixations,
        format=args.format,
        sizes=_sizes(args),
        split=args.split,
        field=args.field,
        on_outside=args.on_outside,
    )


def _map_folder_output(p: argparse.ArgumentParser, run) -> None:
    """The progress options, ``--out DIR`` (a map folder) and the command's function."""
    _common.add_progress_options(p)
    p.add_argument("--out", required=True, help="output map directory")
    p.set_defaults(func=run)

def _no_subcommand(p: argparse.ArgumentParser) -> int:
    """Bare ``salanalysis saliency``: its usage and an error, exit 2 (as bare ``salanalysis``)."""
    import sys

    p.print_usage(sys.stderr)
    print("salanalysis saliency: error: a SUBCOMMAND is required (salanalysis saliency --help lists them)",
          file=sys.stderr)
    return 2


def run_fixations(args: argparse.Namespace) -> int:
    from salanalysis.io import write_table
    from salanalysis.salicon import write_fixation_maps

    fix = _read(args)
    summary = write_fixation_maps(
        fix,
        args.out,
        sigma=args.sigma,
        accumulate="count" if args.counts else "binary",
        jobs=_common.resolve_jobs(args.jobs),
        progress=_common.show_progress(args),
    )
    if args.table:
        write_table(fix.table, args.table)
    print(
        f"{len(summary)} maps written to {args.out} from {len(fix.table)} fixations "
        f"({fix.n_outside} outside the image dropped, {fix.n_empty_subjects} empty subject lists)"
    )
    if fix.n_outside:
        print(_outside_line(fix).replace("; per image: n_fixations_outside", ""))
    return 0


def run_baseline(args: argparse.Namespace) -> int:
    from salanalysis.baselines import write_center_bias_maps, write_spectral_residual_maps

    if args.kind == "center":
        if args.annotations:
            from salanalysis.coco import Annotations

            source = Annotations.load(args.annotations)
        else:
            source = args.images
        table = write_center_bias_maps(source, args.out, sigma_frac=args.sigma_frac,
                                       progress=_common.show_progress(args))
    else:
        if not args.images:
            raise InputError("--kind spectral needs --images (it reads the pixels)")
        table = write_spectral_residual_maps(args.images, args.out, progress=_common.show_progress(args))
    print(f"{len(table)} {args.kind} maps written to {args.out}")
    return 0


def _evaluate_sources(args: argparse.Namespace):
    from salanalysis.maps import MapSource

    def one(option: str, values, location, name):
        return MapSource(location, name, pattern=_common.single_pattern(values, option), colour=args.colour_maps)

    pred = one("--map-pattern", args.map_pattern, args.pred, "pred")
    gt = None if not args.gt_maps else one("--gt-map-pattern", args.gt_map_pattern, args.gt_maps, "gt")
    return pred, gt


def run_evaluate(args: argparse.Namespace) -> int:
    from salanalysis.formatting import format_fixed, format_interval
    from salanalysis.io import all_or_nothing, write_table
    from salanalysis.saliency_metrics import METRICS, evaluate_maps, summarize_metrics

    if not args.gt_maps and not args.fixations:
        raise InputError("saliency evaluate needs --gt-maps, --fixations, or both")
    out, legacy = _common.out_folder(args.out, "saliency_metrics", (".csv", ".parquet", ".pq"))
    if args.summary is not None and not legacy:
        raise InputError("--summary goes with --out FILE; --out DIR writes DIR/saliency_summary.csv", args.summary)
    for path in (args.summary,):  # checked before any work: no output half written
        if path is not None and os.path.splitext(path)[1].lower() not in (".csv", ".parquet", ".pq"):
            raise InputError("output must end in .csv or .parquet", path)
    metrics = tuple(args.metrics) if args.metrics else None
    bad = [m for m in metrics or () if m not in METRICS]
    if bad:
        raise InputError(f"unknown metric(s) {', '.join(bad)}; choose from {' '.join(METRICS)}")
    pred, gt = _evaluate_sources(args)
    fix = _read(args) if args.fixations else None
    table = evaluate_maps(pred, gt, fix, metrics=metrics, jitter=not args.no_jitter, seed=args.seed)
    summary = summarize_metrics(table)
    if not legacy and out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", out)
    with all_or_nothing():
        write_table(table, out if legacy else out / "saliency_metrics.csv")
        if args.summary or not legacy:
            write_table(summary, args.summary or out / "saliency_summary.csv")
    n = int(table["has_pred"].fillna(False).sum())
    print(f"{n} of {len(table) - 1} images scored; mean [95% interval over images]:")
    for r in summary.itertuples():
        if r.n == 0:
            print(f"  {r.metric}: no image with a defined value")
        elif r.interval.startswith("none"):
            print(f"  {r.metric} {format_fixed(r.mean)} (n={r.n}; no interval: {r.interval[len('none: '):]})")
        else:
            note = "" if r.interval == "t" else f"; {r.interval}"
            ci = format_interval(r.ci_low, r.ci_high, sign=False)
            print(f"  {r.metric} {format_fixed(r.mean)} {ci} (n={r.n}{note})")
    for m, why in table.attrs.get("skipped", {}).items():
        print(f"  {m}: not computed, {why}")
    if fix is not None:
        print(_outside_line(fix))
    return 0


def _outside_line(fix) -> str:
    """The fixations dropped as outside their image, in total and on the image that lost most."""
    n_read = len(fix.table) + fix.n_outside
    text = f"fixations: {n_read} read, {fix.n_outside} outside their image dropped"
    out = fix.outside
    if fix.n_outside and out is not None:
        hit = out[out["n_outside"] > 0]
        worst = hit.iloc[int((hit["n_outside"] / hit["n_read"]).to_numpy().argmax())]
        text += (f" ({len(hit)} image(s); most on image {int(worst['image_id'])}: "
                 f"{int(worst['n_outside'])} of {int(worst['n_read'])}; per image: n_fixations_outside)")
    return text


def run_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salanalysis.images import coco_image_name
    from salanalysis.maps import MapSource, read_raw, write_map_directory, write_results_json

    src = MapSource(args.source, "source", pattern=_common.single_pattern(args.map_pattern),
                    colour=args.colour_maps)
    maps = src.image_ids()  # id -> map; two maps naming one image: an error
    if src.kind == "folder":
        unnamed = [Path(r).name for r in src.refs() if r not in set(maps.values())]
        if unnamed:
            raise InputError(f"{len(unnamed)} map(s) do not name a COCO image id, e.g. {unnamed[0]} "
                             "(a results JSON identifies maps by image id)", src.location)
    to_json = Path(args.out).suffix.lower() == ".json"
    if to_json:
        if src.kind == "results-json":
            raise InputError("--from and --out are both results JSONs", args.out)
        write_results_json(((iid, src.read(ref)[0]) for iid, ref in maps.items()), args.out)
        print(f"{len(maps)} maps of {args.source} written to {args.out} (SALICON results JSON)")
        return 0
    if src.kind == "folder":
        raise InputError("--from and --out are both map folders (give --out FILE.json to write a results JSON)",
                         args.out)
    def name(iid: int) -> str:
        return coco_image_name(iid, args.split) if args.split else f"{iid:012d}"

    # each entry decoded (colour rule, the reading checks) before any file is written; stored as is
    stored = [(name(i), read_raw(r, src.colour)[0]) for i, r in maps.items()]
    written = write_map_directory(stored, args.out, progress=_common.show_progress(args), total=len(stored))
    print(f"{len(written)} maps of {args.source} written to {args.out}")
    return 0
