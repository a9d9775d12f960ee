"""``salanalysis compare``: per-category AP of two models, differences tested by paired permutation (Fig. 4)."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common

#: salanalysis.compare.DEFAULT_N_PERM (not imported here: the parser stays light; a test checks they agree)
DEFAULT_N_PERM = 4999


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="per-category AP of two models (or a reference and several), their difference tested by paired permutation (Fig. 4)",
        description="For each category: AP of A, AP of B, delta = AP_B - AP_A, its paired permutation "
        "p-value (A and B swapped within images; p_val) and the p-value adjusted over the categories "
        "(q_val: Benjamini-Hochberg by default, --adjust holm), a descriptive paired bootstrap 95% CI, "
        "the category's mean object size (area_frac) and its rank (1 = largest), and a verdict "
        "(improved / worsened where q < 0.05, else within noise); sorted by delta, descending. Also "
        "counts, the test of 'most categories improve' (permutation test of #improved - #worsened), "
        "the mAP difference, and the correlation of delta with size. With three or more --scores, each is compared with the first (the reference). "
        "Writes compare_categories.csv and compare_summary.csv to --out.",
    )
    _common.add_ground_truth_and_scores(p, "score file (repeatable): the reference A first, then B, or several "
                                        "others, each compared with A (the tables stack them after model_a, "
                                        "model_b columns)")
    p.add_argument("--objects", help="object table (.csv/.parquet with category_id, area_frac; "
                   "default: computed from the annotations)")
    _common.add_bootstrap_option(p, what="of images for the paired (descriptive) 95%% intervals: BCa per category, "
                                 "percentile for the mAP difference")
    p.add_argument("--permutations", type=_common.non_negative_int, default=DEFAULT_N_PERM, metavar="N",
                   help="within-image swaps of the paired permutation test (0: no test, verdict 'not tested'; "
                   f"default {DEFAULT_N_PERM}; the smallest p is 1/(N+1), which must be at most 0.05/categories to pass)")
    p.add_argument("--adjust", choices=["bh", "holm"], default="bh",
                   help="multiplicity adjustment of the per-category p-values: bh (Benjamini-Hochberg, "
                   "false discovery rate 5%%; default) or holm (family-wise error rate 5%%)")
    _common.add_seed_option(p)
    _common.add_vocabulary(p, jobs="bootstrap worker threads")
    _common.add_ap_rule_options(p)
    _common.add_subset_options(p)
    _common.add_score_reading_options(p, _common.MISSING_HELP_SCORE_ZERO)
    _common.add_out_option(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.compare import run_compare
    from salanalysis.errors import InputError

    named = _common.named_scores(args)
    if len(named) < 2:
        raise InputError(f"--scores: compare needs two or more score files (the reference A first), got {len(named)}")
    annotations, rules = _common.subset_rules(args, _common.ap_rules_from_args(args))
    result = run_compare(
        annotations,
        dict(named),
        args.out,
        objects=args.objects,
        n_boot=args.bootstrap,
        seed=args.seed,
        jobs=args.jobs,
        rules=rules,
        n_perm=args.permutations,
        adjust=args.adjust,
        **_common.score_reading(args),
    )
    print(result.summary())
    return 0
