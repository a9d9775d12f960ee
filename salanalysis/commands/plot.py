"""``salanalysis plot``: any figure of the paper from the tables the analysis commands wrote."""

from __future__ import annotations

import argparse

from salanalysis.commands import _common

#: Which command writes each table a figure needs (for the error message).
_SOURCE = {
    "objects": "salanalysis objects --out DIR/objects.parquet (or --objects FILE)",
    "tpfn_descriptives": "salanalysis stats --out DIR",
    "tpfn_tests": "salanalysis stats --out DIR",
    "classwise": "salanalysis stats --out DIR",
    "classwise_correlations": "salanalysis stats --out DIR",
    "clutter_map": "salanalysis clutter --out DIR",
    "objects_histogram": "salanalysis clutter --out DIR",
    "compare_categories": "salanalysis compare --out DIR",
    "gallery": "salanalysis gallery --out DIR/gallery",
    "cam_manifest": "salanalysis cam --out DIR",
}


def register(sub: argparse._SubParsersAction) -> None:
    from salanalysis.figures import FIGURES

    p = sub.add_parser(
        "plot",
        help="draw a figure (or all) from the tables of metrics/stats/clutter/compare, no config needed",
        description="Draw one figure of the registry, or every figure whose tables are found, from the "
        "folders that 'salanalysis stats', 'clutter', 'compare', 'objects' and 'cam' (or 'reproduce') "
        "wrote. Each figure is written as OUT/NAME.pdf (TrueType fonts) and OUT/NAME.png (300 dpi); its "
        "caption is printed. Figures: " + ", ".join(f"{n} ({s.title})" for n, s in FIGURES.items()) + ".",
    )
    p.add_argument("figure", choices=[*FIGURES, "all"], metavar="FIGURE|all",
                   help="a figure name (" + ", ".join(FIGURES) + ") or all")
    p.add_argument("--from", dest="folders", action="append", required=True, metavar="DIR",
                   help="folder of result tables, NAME.csv/.parquet or DIR/tables/ (repeatable; later wins)")
    p.add_argument("--objects", metavar="FILE", help="object table for Fig. 2 (default: DIR/objects.parquet)")
    p.add_argument("--model", help="score set of Fig. 2 and the class-wise scatter (default: the first)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="reference and assessed score set of Fig. 3 and 4 (default: from the tables)")
    p.add_argument("--label", action="append", metavar="NAME=TEXT",
                   help="display label of a score set or saliency source (repeatable)")
    p.add_argument("--threshold", type=float, default=None,
                   help="detection threshold named in captions (default: the run's, else 0.5)")
    _common.add_vocabulary(p)
    _common.add_out_option(p, what="the figures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salanalysis.errors import InputError
    from salanalysis.figures import FIGURES, FigureContext, read_tables, render_figures

    hints = _run_hints(args.folders)
    labels = {**hints.get("labels", {}), **dict(_common.parse_named(args.label, "--label"))}
    tables = read_tables(args.folders, objects=args.objects)
    cam_root = tables.pop("_cam_root", None)
    gallery_root = tables.pop("_gallery_root", None)
    names = list(FIGURES) if args.figure == "all" else [args.figure]
    drawable = [n for n in names if not FIGURES[n].missing(tables)]
    if not drawable:
        need = {t for n in names for t in FIGURES[n].missing(tables)}
        hint = "; ".join(f"{t} (from {_SOURCE.get(t, 'reproduce')})" for t in sorted(need))
        raise InputError(f"no tables for {args.figure} in {', '.join(args.folders)}: missing {hint}")
    models = []
    for t in ("clutter_map", "tpfn_descriptives"):
        if t in tables and "model" in tables[t].columns:
            models += [m for m in dict.fromkeys(tables[t]["model"].astype(str)) if m not in models]
    ctx = FigureContext(labels=labels, models=hints.get("models") or models,
                        primary=args.model or hints.get("primary"),
                        compare=tuple(args.compare) if args.compare else hints.get("compare"),
                        threshold=args.threshold if args.threshold is not None else hints.get("threshold", 0.5),
                        n_boot=hints.get("n_boot"), cam_root=cam_root,
                        gallery_root=gallery_root)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", out)
    done = render_figures(tables, ctx, out, drawable)
    for name, caption in done.captions.items():
        print(f"{name}: {', '.join(str(p) for p in done.files[name])}" + ("" if args.quiet else f"\n  {caption}"))
    for name in names:
        if name in done.failed:
            print(f"{name}: not drawn: {done.failed[name]}")
        elif name not in drawable:
            print(f"{name}: not drawn: missing {', '.join(FIGURES[name].missing(tables))}")
    if done.failed and args.figure != "all":
        raise InputError(f"{args.figure}: {done.failed[args.figure]}")
    return 0


def _run_hints(folders) -> dict:
    """Labels, models, the primary model, the comparison, threshold and bootstrap size of a
    ``reproduce`` output (its ``config.resolved.toml``), when a folder holds one."""
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    hints: dict = {}
    for folder in folders:
        # a run folder, or its tables/ folder (the run's configuration is one level up)
        candidates = [Path(folder) / "config.resolved.toml", Path(folder).parent / "config.resolved.toml"]
        path = next((c for c in candidates[: 2 if Path(folder).name == "tables" else 1] if c.is_file()), None)
        if path is None:
            continue
        try:
            cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # an unreadable config only loses the labels: the tables decide
        scores, saliency = cfg.get("scores", {}), cfg.get("saliency", {})
        hints["labels"] = {n: v.get("label", n) for n, v in {**saliency, **scores}.items() if isinstance(v, dict)}
        hints["models"] = list(scores)
        analysis = cfg.get("analysis", {})
        for key in ("primary", "threshold", "n_boot"):
            if key in analysis:
                hints[key] = analysis[key]
        if "a" in cfg.get("compare", {}) and "b" in cfg.get("compare", {}):
            hints["compare"] = (cfg["compare"]["a"], cfg["compare"]["b"])
    return hints
