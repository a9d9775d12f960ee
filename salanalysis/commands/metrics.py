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
            "Writes into the folder --out: table1.csv (fractions in 0..1) with table1.md and table1.tex "
            "(percent, one decimal), table1_long.csv (one row per model and metric, ci95_low/ci95_high), "
            "per_class.csv/.md/.tex, excluded.csv (classes without positives) and, with --paired and a "
            "bootstrap, paired.csv (paired bootstrap of the AP difference of the first score set against "
            "each other one). Intervals are BCa 95% (centered percentile where BCa is degenerate)."
        ),
    )
    _common.add_ground_truth_and_scores(
        p, "score file (repeatable; wide/long CSV or Parquet, NPZ, or COCO results JSON)",
        "COCO instances JSON (the ground truth)")
    _common.add_metric_rule_options(p)
    _common.add_bootstrap_option(p, what="of images for 95%% intervals (normal: estimate +/- 1.96 bootstrap SD; "
                                 "per class: percentile, withheld below 21 positives; paired mAP difference: percentile)")
    _common.add_seed_option(p)
    _common.add_jobs_option(p, "bootstrap worker threads")
    _common.add_progress_options(p)
    _common.add_subset_options(p)
    p.add_argument("--paired", action="store_true",
                   help="with a bootstrap and 2+ score sets: paired bootstrap of AP differences")
    _common.add_score_reading_options(p)
    p.add_argument("--published", action="store_true",
                   help="add the paper's published Table 1 rows (labelled as such)")
    _common.add_out_option(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.metrics import run_metrics

    out, legacy = _common.out_folder(args.out, "table1")
    annotations, rules = _common.subset_rules(args, _common.rules_from_args(args))
    result = run_metrics(annotations, _common.named_scores(args), rules=rules, n_boot=args.bootstrap,
                         seed=args.seed, paired=args.paired, published=args.published, jobs=args.jobs,
                         **_common.score_reading(args))
    if legacy:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the note was printed already
            result.write(args.out)
    else:
        result.write(out)
    print(result.summary(), end="")
    for line in _common.score_notes(result.score_sets):
        print(line)
    ex = result.tables["excluded"]
    if len(ex) and not args.quiet:
        name = f"{legacy}_excluded.csv" if legacy else "excluded.csv"
        print(f"{len(ex)} class(es) without positives left out of mAP and the C- metrics: {name}")
    return 0
