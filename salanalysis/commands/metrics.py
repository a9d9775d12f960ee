"""``salanalysis metrics``: the paper's Table 1 (C-P ... mAP) for one or more score sets."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="Table 1 metrics (C-P, C-R, C-F1, O-P, O-R, O-F1, mAP) with optional bootstrap intervals",
        description=(
            "Compute the multi-label metrics of Luo et al. (2019), Table 1, for each score set. "
            "Writes OUT (CSV, fractions in 0..1), OUT with .md and .tex (percent, one decimal), "
            "and OUT_per_class.csv; with --paired and a bootstrap, also OUT_paired.csv "
            "(paired bootstrap of the AP difference of the first score set against each other one)."
        ),
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON (the ground truth)")
    _common.add_scores_option(
        p, "score file (repeatable; wide/long CSV or Parquet, NPZ, or COCO results JSON)", required=True
    )
    p.add_argument("--threshold", type=float, default=0.5,
                   help="a class is predicted when score >= THRESHOLD (default 0.5)")
    p.add_argument("--cf1", choices=("harmonic", "mean-per-class"), default="harmonic",
                   help="C-F1 as the harmonic mean of C-P and C-R (Eq. 6, default) or the mean per-class F1")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="predict the K highest-scoring classes of each image instead of thresholding")
    p.add_argument("--top-k-threshold", action="store_true",
                   help="with --top-k, also require score >= THRESHOLD (as ML-GCN's code)")
    p.add_argument("--empty-classes", choices=("exclude", "zero"), default="exclude",
                   help="classes without positives: left out of every average (default) or counted as 0")
    p.add_argument("--no-crowd", action="store_true", help="do not count crowd annotations as labels")
    p.add_argument("--no-empty-images", action="store_true",
                   help="drop images without annotations (default: they are all-negative rows)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="add percentile 95%% intervals from N bootstrap resamples of images")
    _common.add_seed_option(p)
    p.add_argument("--jobs", type=int, default=None,
                   help="bootstrap worker threads (default: CPU count, at most 4; results do not depend on it)")
    p.add_argument("--paired", action="store_true",
                   help="with --bootstrap and 2+ score sets: paired bootstrap of AP differences")
    _common.add_score_reading_options(p)
    p.add_argument("--published", action="store_true",
                   help="add the paper's published Table 1 rows (labelled as such)")
    p.add_argument("--out", required=True, help="output CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.metrics import write_metrics

    table = write_metrics(
        annotations=args.annotations,
        scores=_common.named_scores(args),
        out=args.out,
        threshold=args.threshold,
        cf1=args.cf1,
        top_k=args.top_k,
        top_k_threshold=args.top_k_threshold,
        empty_classes=args.empty_classes,
        include_crowd=not args.no_crowd,
        include_empty=not args.no_empty_images,
        n_boot=args.bootstrap,
        seed=args.seed,
        paired=args.paired,
        **_common.score_reading(args),
        published=args.published,
        jobs=args.jobs,
    )
    from salanalysis.metrics import format_table

    print(format_table(table, "text"), end="")
    return 0
