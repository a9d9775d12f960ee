"""``salanalysis compare``: per-category AP of two models, differences with paired bootstrap CIs (Fig. 4)."""

from __future__ import annotations

import argparse

from salanalysis.cli import parse_named


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="per-category AP of two models and their difference with paired bootstrap CIs (Fig. 4)",
        description="For each category: AP of A, AP of B, delta = AP_B - AP_A with its paired "
        "bootstrap 95%% CI and p-value, the category's mean object size (area_frac) and its rank "
        "(1 = largest), and a verdict (improved / worsened / within noise: whether the CI excludes "
        "0); sorted by delta, descending. Also counts, and the correlation of delta with size. "
        "Writes compare_categories.csv and compare_summary.csv to --out.",
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON")
    p.add_argument("--scores", action="append", required=True, metavar="NAME=FILE",
                   help="score file; give exactly two: the reference A first, then B")
    p.add_argument("--objects", help="object table (.csv/.parquet with category_id, area_frac; "
                   "default: computed from the annotations)")
    p.add_argument("--bootstrap", type=_positive_int, default=1000, metavar="N",
                   help="paired bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--logits", action="store_true", help="score files hold logits (sigmoid applied)")
    p.add_argument("--missing", choices=("error", "zero"), default="error",
                   help="annotated images without scores: error (default) or score them 0")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.compare import run_compare
    from salanalysis.errors import InputError

    named = parse_named(args.scores, "--scores")
    if len(named) != 2:
        raise InputError(f"--scores: compare needs exactly two score files (A then B), got {len(named)}")
    result = run_compare(
        args.annotations,
        dict(named),
        args.out,
        objects=args.objects,
        n_boot=args.bootstrap,
        seed=args.seed,
        logits=args.logits,
        missing=args.missing,
    )
    print(result.summary())
    return 0
