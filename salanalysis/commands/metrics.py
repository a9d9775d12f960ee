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
    _common.add_ground_truth_and_scores(
        p, "score file (repeatable; wide/long CSV or Parquet, NPZ, or COCO results JSON)",
        "COCO instances JSON (the ground truth)")
    _common.add_metric_rule_options(p)
    _common.add_bootstrap_option(p, what="of images for percentile 95%% intervals")
    _common.add_seed_option(p)
    _common.add_jobs_option(p, "bootstrap worker threads")
    p.add_argument("--paired", action="store_true",
                   help="with a bootstrap and 2+ score sets: paired bootstrap of AP differences")
    _common.add_score_reading_options(p)
    p.add_argument("--published", action="store_true",
                   help="add the paper's published Table 1 rows (labelled as such)")
    p.add_argument("--out", required=True, help="output CSV")
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salanalysis.errors import InputError
    from salanalysis.metrics import run_metrics

    rules = _common.rules_from_args(args)
    if Path(args.out).suffix.lower() != ".csv":
        raise InputError("output must end in .csv", args.out)
    result = run_metrics(args.annotations, _common.named_scores(args), rules, n_boot=args.bootstrap,
                         seed=args.seed, paired=args.paired, published=args.published, jobs=args.jobs,
                         **_common.score_reading(args))
    result.write(args.out)
    print(result.summary(), end="")
    for line in _common.score_notes(result.score_sets):
        print(line)
    ex = result.tables["excluded"]
    if len(ex):
        print(f"{len(ex)} class(es) without positives left out of mAP and the C- metrics: "
              f"{Path(args.out).with_suffix('').name}_excluded.csv")
    return 0
