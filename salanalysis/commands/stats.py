"""``salanalysis stats``: Sec. 3.2 statistics (tp vs fn, class-wise correlations, models)."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="tp vs fn tests, class-wise correlations with AP, and image-clustered detection models",
        description=(
            "Sec. 3.2 of Luo et al. (2019) from an object table: detected vs missed objects "
            "(Student t as the paper, Welch, Mann-Whitney, Cohen's d, image-clustered OLS and "
            "bootstrap; the verdict clusters by image and category, Holm over size, center "
            "distance and the human saliency sources of each model), class means vs class AP "
            "(Pearson as the paper, Spearman, partial; the verdict for every variable is the "
            "partial r controlling prevalence, checked with ROC AUC as the target), and "
            "logistic models of detection on log size, center distance and saliency with "
            "image-clustered SEs. Writes tpfn_descriptives.csv, tpfn_tests.csv, classwise.csv, "
            "classwise_correlations.csv and detection_models.csv under --out."
        ),
    )
    p.add_argument(
        "--objects",
        required=True,
        help="object table (.csv or .parquet from `salanalysis objects`)",
    )
    _common.add_ground_truth_and_scores(
        p, "score set for class AP (repeatable; NAME must match detected_NAME in the table)",
        "COCO instances JSON the object table was built from")
    p.add_argument(
        "--control-source",
        metavar="NAME",
        help="center-prior saliency source (sal_max_NAME) used as a control in the models",
    )
    p.add_argument(
        "--category-effects",
        action="store_true",
        help="also fit the detection models with category fixed effects",
    )
    _common.add_bootstrap_option(p, what="of whole images for the clustered tp/fn test (percentile 95%% "
                                 "interval and p-value)")
    _common.add_seed_option(p)
    _common.add_vocabulary(p)
    _common.add_ap_rule_options(p)
    _common.add_subset_options(p)
    _common.add_score_reading_options(p)
    _common.add_out_option(p, required=False, what="every table as NAME.csv (default: print only)")
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.stats import run_stats

    annotations, rules = _common.subset_rules(args, _common.ap_rules_from_args(args))
    result = run_stats(
        args.objects,
        annotations,
        _common.named_scores(args),
        out=args.out,
        control_source=args.control_source,
        category_effects=args.category_effects,
        n_boot=args.bootstrap,
        seed=args.seed,
        rules=rules,
        **_common.score_reading(args),
    )
    print(result.summary())
    if args.out and not args.quiet:
        tables = [p for p in result.paths if not p.name.endswith(".attrs.json")]  # the rule beside them
        print(f"wrote {len(tables)} tables to {args.out}")
    return 0
