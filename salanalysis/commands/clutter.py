"""``salanalysis clutter``: mAP per number of objects in the image (Fig. 3), with bootstrap bands."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clutter",
        help="mAP per number of objects in the image (Fig. 3), with bootstrap bands",
        description="Group images by their number of non-crowd instances (groups 1..K-1 and a tail "
        "group >=K), compute each score set's mAP per group (classes without a positive in a group "
        "excluded and counted), the paper's smoothing ([1/3, 1/3, 1/3], ends padded with the "
        "boundary value), BCa bootstrap 95% bands, the chance mAP of a random ranking, the "
        "prevalence-free mean ROC AUC and the chance-corrected AP per group, whether the change from the "
        "first to the last group survives in the mean ROC AUC (else: explained by prevalence), the histogram of objects per "
        "image, and, with two or more score sets, the difference of each to the first with paired bands. "
        "Writes clutter_map.csv, clutter_trend.csv, objects_histogram.csv and clutter_difference.csv "
        "to --out.",
    )
    _common.add_ground_truth_and_scores(p, "score file (repeatable; the first is the reference of the differences)")
    p.add_argument("--k", type=_common.positive_int, default=None,
                   help="tail group lower bound K (groups 1..K-1 and >=K); default: the largest K "
                   "whose groups all hold --min-images images")
    # default None: resolved to salanalysis.clutter.DEFAULT_MIN_IMAGES in run(), so that
    # building the parser does not import the statistics modules
    p.add_argument("--min-images", type=_common.positive_int, default=None,
                   help="least images per group when K is chosen (default 100)")
    p.add_argument("--k-rule", choices=("min-images", "three-groups"), default="min-images",
                   help="how K is chosen: the largest K whose groups all hold --min-images images (default), "
                   "or that but at least 3 groups when the data have them (a cut-off leaving fewer than 3 groups "
                   "is warned about)")
    _common.add_bootstrap_option(p, what="per group for BCa 95%% bands (0: no bands)")
    _common.add_seed_option(p)
    _common.add_vocabulary(p, jobs="bootstrap worker threads")
    p.add_argument("--no-smooth", action="store_true", help="skip the paper's smoothing")
    _common.add_ap_rule_options(p)
    _common.add_subset_options(p)
    _common.add_score_reading_options(p, _common.MISSING_HELP_SCORE_ZERO)
    _common.add_out_option(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.clutter import DEFAULT_MIN_IMAGES, run_clutter

    annotations, rules = _common.subset_rules(args, _common.ap_rules_from_args(args))
    result = run_clutter(
        annotations,
        dict(_common.named_scores(args)),
        args.out,
        k=args.k,
        min_images=DEFAULT_MIN_IMAGES if args.min_images is None else args.min_images,
        k_rule=args.k_rule,
        n_boot=args.bootstrap,
        seed=args.seed,
        jobs=args.jobs,
        smooth=not args.no_smooth,
        rules=rules,
        **_common.score_reading(args),
    )
    print(result.summary())
    return 0
