"""``salanalysis compare``: per-category AP of two models, differences with paired bootstrap CIs (Fig. 4)."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="per-category AP of two models (or a reference and several) and their difference with paired BCa bootstrap CIs (Fig. 4)",
        description="For each category: AP of A, AP of B, delta = AP_B - AP_A with its paired "
        "bootstrap 95% CI and p-value, the category's mean object size (area_frac) and its rank "
        "(1 = largest), and a verdict (improved / worsened / within noise: whether the CI excludes "
        "0); sorted by delta, descending. Also counts, and the correlation of delta with size. "
        "Writes compare_categories.csv and compare_summary.csv to --out.",
    )
    _common.add_ground_truth_and_scores(p, "score file (repeatable): the reference A first, then B, or several "
                                        "others, each compared with A (the tables stack them after model_a, "
                                        "model_b columns)")
    p.add_argument("--objects", help="object table (.csv/.parquet with category_id, area_frac; "
                   "default: computed from the annotations)")
    _common.add_bootstrap_option(p, what="of images for the paired BCa 95%% intervals (0: deltas only)")
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
        **_common.score_reading(args),
    )
    print(result.summary())
    return 0
