"""``salanalysis reproduce``: every figure, table and the HTML report from one configuration."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run every analysis of a TOML configuration: figures, tables, report.html",
        description="Run objects -> metrics -> stats -> clutter -> compare -> figures -> report "
        "from a TOML configuration (see analyses/paper.toml), or on the bundled demo data without "
        "--config. Stages whose inputs and parameters did not change are reused from OUT/.cache.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: the bundled demo)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: [output] dir of the configuration, else "
                   "'demo_output' for the demo and 'salanalysis_output' otherwise)")
    p.add_argument("--force", action="store_true", help="recompute every stage, ignoring the cache")
    p.add_argument("--absolute-paths", action="store_true",
                   help="write absolute paths in the report (default: relative to the configuration's "
                   "folder, or the output folder for the demo, so a shared report names no home folder)")
    _common.add_progress_options(p)
    _common.add_cluster_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.config import demo_config, load_config
    from salanalysis.reproduce import reproduce

    cfg = load_config(args.config) if args.config else demo_config()
    if args.absolute_paths:
        import dataclasses

        cfg = dataclasses.replace(cfg, report_paths="absolute")
    out = args.out or cfg.out or ("demo_output" if not args.config else "salanalysis_output")
    cluster = args.cluster or cfg.cluster or None
    if cluster and not args.cluster:
        from salanalysis._cluster import use_cluster

        with use_cluster(cluster):  # [analysis] cluster (--cluster is entered by salanalysis.cli)
            result = reproduce(cfg, out, force=args.force, progress=_common.show_progress(args),
                               log=None if args.quiet else print)
    else:
        result = reproduce(cfg, out, force=args.force, progress=_common.show_progress(args),
                           log=None if args.quiet else print)
    print(result.summary())
    return 0
