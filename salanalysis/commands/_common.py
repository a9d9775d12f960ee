"""Pieces shared by the CLI command modules: argparse types, common options, score loading.

Not a command itself (the leading underscore makes :mod:`salanalysis.cli` skip it).
Like the command modules, it imports nothing heavy at import time.

One vocabulary for every command:

``--bootstrap N``
    bootstrap resamples (``0``: no intervals); ``--n-boot`` is still accepted with a note.
``--progress/--no-progress``
    progress bars on stderr (default: shown when stderr is a terminal or a notebook);
    ``--quiet`` prints only the final result lines and shows no bar.
``--jobs N``
    worker processes or threads; ``0`` means all cores (as ``jobs = 0`` in a TOML file).
``--cluster tcp://HOST:8786``
    run the object table and the bootstraps on a Dask cluster (``[analysis] cluster`` in TOML).
``--input-size SIZE`` or ``--input-size HEIGHT WIDTH``
    the network input of every torch command.

``--bootstrap``, ``--jobs`` and ``--input-size`` are bounded by the limits of
:mod:`salanalysis.limits` (100000 resamples, 256 workers, 4096 pixels a side by
default; ``salanalysis --limit bootstrap=N COMMAND ...`` raises one).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salanalysis.errors import InputError

if TYPE_CHECKING:
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

MISSING_HELP = "annotated images without scores: an error (default) or scored 0"
# the wording of ``clutter`` and ``compare``
MISSING_HELP_SCORE_ZERO = "annotated images without scores: error (default) or score them 0"


def parse_named(values: Sequence[str] | None, option: str) -> list[tuple[str, str]]:
    """Parse ``NAME=PATH`` pairs (a bare ``PATH`` is named by its file stem).

    Raises
    ------
    InputError
        A repeated name or an empty name or path.
    """
    out: list[tuple[str, str]] = []
    for value in values or []:
        if "=" in value:
            name, path = value.split("=", 1)
        else:
            path = value
            name = Path(value.rstrip("/")).stem or Path(value.rstrip("/")).name
        if not name or not path:
            raise InputError(f"{option} expects NAME=PATH, got {value!r}")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"{option} name {name!r} must be letters, digits, '-' or '_'")
        if name in [n for n, _ in out]:
            raise InputError(f"{option} name {name!r} given twice")
        out.append((name, path))
    return out


def _int_at_least(text: str, minimum: int, kind: str, limit: str | None = None) -> int:
    text = str(text).strip()
    if len(text) > 40:  # int() of a 100000-digit string is slow, and no count is that long
        raise argparse.ArgumentTypeError(f"expected an integer, got {len(text)} characters")
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {value}")
    if limit is not None:
        from salanalysis.limits import get_limit

        top = get_limit(limit)
        if value > top:
            raise argparse.ArgumentTypeError(
                f"{value} is over the limit of {top} (raise it with salanalysis --limit {limit}=N "
                f"COMMAND ... or SALANALYSIS_MAX_{limit.upper()})")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "non-negative")


def bootstrap_count(text: str) -> int:
    """argparse type of ``--bootstrap``: an integer >= 0, at most the ``bootstrap`` limit."""
    return _int_at_least(text, 0, "non-negative", "bootstrap")


def jobs_count(text: str) -> int:
    """argparse type of ``--jobs``: an integer >= 0, at most the ``jobs`` limit."""
    return _int_at_least(text, 0, "non-negative", "jobs")


def input_side(text: str) -> int:
    """argparse type of ``--input-size``: an integer >= 1, at most the ``input_size`` limit."""
    return _int_at_least(text, 1, "positive", "input_size")


def add_scores_option(p: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--scores NAME=FILE`` (repeatable)."""
    p.add_argument("--scores", action="append", required=required, metavar="NAME=FILE", help=help)


def add_ground_truth_and_scores(p: argparse.ArgumentParser, scores_help: str,
                                annotations_help: str = "COCO instances JSON") -> None:
    """``--annotations FILE`` and ``--scores NAME=FILE`` (repeatable), both required."""
    p.add_argument("--annotations", required=True, help=annotations_help)
    add_scores_option(p, scores_help, required=True)


MAP_PATTERN_HELP = (
    "how maps are named when the name carries more than the image: '{stem}_final_bw' (the image's "
    "file stem or id, then _final_bw: TempSAL's COCO_val2014_000000082174_final_bw.png) or "
    "'sal_{id}'; files of other names (the photos beside the maps) are skipped"
)
COLOUR_HELP = (
    "a colour image whose channels differ is refused as a map (default: a photo?) or, with "
    "'luminance', converted to gray by 0.299 R + 0.587 G + 0.114 B (OpenCV's BGR2GRAY)"
)
READING_HELP = (
    "Maps are resized bilinearly to the image's size (stretched when the aspect ratio differs: "
    "reported once), then min-max normalised to [0, 1]; a constant map has no saliency (all zeros, "
    "reported); an alpha channel is ignored."
)


def add_saliency_option(p: argparse.ArgumentParser) -> None:
    """``--saliency NAME=SOURCE`` (repeatable), ``--map-pattern`` and ``--colour-maps``."""
    p.add_argument(
        "--saliency", action="append", metavar="NAME=SOURCE",
        help="saliency maps: a map folder or a SALICON results JSON (repeatable). " + READING_HELP,
    )
    add_map_reading_options(p, "--saliency sources")


def add_map_reading_options(p: argparse.ArgumentParser, what: str, *, option: str = "--map-pattern",
                            named: bool = True) -> None:
    """``--map-pattern [NAME=]PATTERN`` (repeatable; one PATTERN unless ``named``) and
    ``--colour-maps {refuse,luminance}``."""
    if named:
        p.add_argument(option, action="append", metavar="[NAME=]PATTERN",
                       help=f"map pattern of the {what}, or of the source NAME (repeatable): " + MAP_PATTERN_HELP)
    else:
        p.add_argument(option, action="append", metavar="PATTERN",
                       help=f"map pattern of the {what}: " + MAP_PATTERN_HELP)
    if not any(a.dest == "colour_maps" for a in p._actions):
        p.add_argument("--colour-maps", "--color-maps", dest="colour_maps", choices=("refuse", "luminance"),
                       default="refuse", help=COLOUR_HELP)


def map_patterns(values: Sequence[str] | None, names: Sequence[str], option: str = "--map-pattern") -> dict:
    """``--map-pattern`` values -> {source name: pattern} (a bare PATTERN applies to every source).

    Raises
    ------
    InputError
        An unknown source name, a source given two patterns.
    """
    out: dict[str, str] = {}
    for value in values or []:
        head, sep, rest = value.partition("=")
        if sep and "{" not in head and head:
            if head not in names:
                raise InputError(f"{option} {value!r}: no saliency source named {head!r} "
                                 f"(have: {', '.join(names) or 'none'})")
            targets, pattern = [head], rest
        else:
            targets, pattern = list(names), value
        for n in targets:
            if n in out and out[n] != pattern:
                raise InputError(f"{option}: two patterns for source {n!r}")
            out[n] = pattern
    return out


def single_pattern(values: Sequence[str] | None, option: str = "--map-pattern") -> str | None:
    """The one map pattern of a command that reads one source (None when not given)."""
    given = list(dict.fromkeys(values or []))
    if len(given) > 1:
        raise InputError(f"{option} given twice ({', '.join(map(repr, given))}): this command reads one source")
    return given[0] if given else None


def saliency_sources(args: argparse.Namespace) -> dict:
    """The ``--saliency`` sources as :class:`~salanalysis.maps.MapSource` objects, with their
    ``--map-pattern`` and ``--colour-maps``, by name."""
    from salanalysis.maps import MapSource

    named = named_saliency(args)
    patterns = map_patterns(getattr(args, "map_pattern", None), list(named))
    colour = getattr(args, "colour_maps", "refuse")
    return {n: MapSource(p, name=n, pattern=patterns.get(n), colour=colour) for n, p in named.items()}


def add_logits_option(p: argparse.ArgumentParser) -> None:
    """``--logits``: score files hold logits."""
    p.add_argument("--logits", action="store_true", help="score files hold logits (sigmoid applied)")


def add_missing_option(p: argparse.ArgumentParser, help: str = MISSING_HELP) -> None:
    """``--missing {error,zero}``: annotated images without scores."""
    p.add_argument("--missing", choices=("error", "zero"), default="error", help=help)


def add_score_reading_options(p: argparse.ArgumentParser, missing_help: str = MISSING_HELP) -> None:
    """``--logits`` and ``--missing``, the options of :func:`salanalysis.scores.read_scores`."""
    add_logits_option(p)
    add_missing_option(p, missing_help)


def add_seed_option(p: argparse.ArgumentParser) -> None:
    """``--seed`` of the bootstrap (default 0)."""
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def score_reading(args: argparse.Namespace) -> dict[str, Any]:
    """The ``logits`` and ``missing`` keyword arguments given by :func:`add_score_reading_options`."""
    return {"logits": args.logits, "missing": args.missing}


def named_scores(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The ``--scores NAME=FILE`` options as (name, path) pairs, in order."""
    return parse_named(args.scores, "--scores")


def named_saliency(args: argparse.Namespace) -> dict[str, str]:
    """The ``--saliency NAME=SOURCE`` options as a dict name -> folder or results JSON."""
    return dict(parse_named(args.saliency, "--saliency"))


def load_score_sets(args: argparse.Namespace) -> tuple[Annotations, list[Scores]]:
    """Load ``--annotations`` and read every ``--scores`` file with ``--logits``/``--missing``.

    Returns the :class:`~salanalysis.coco.Annotations` and the list of
    :class:`~salanalysis.scores.Scores`, in the order of the options.
    """
    from salanalysis.coco import Annotations
    from salanalysis.scores import read_scores

    named = named_scores(args)
    ann = Annotations.load(args.annotations)
    score_sets = [read_scores(path, ann, name=name, **score_reading(args)) for name, path in named]
    return ann, score_sets


def score_notes(score_sets) -> list[str]:
    """One line per score set with images scored 0 for lack of scores (or of detections)."""
    out = []
    for sc in score_sets:
        if sc.n_filled:
            what = "without detections" if sc.meta.get("layout") == "detections" else "without scores"
            out.append(f"scores {sc.name}: {sc.n_filled} annotated image(s) {what} scored 0 for every class")
    return out


def add_metric_rule_options(p: argparse.ArgumentParser) -> None:
    """The options of :class:`salanalysis.metrics.MetricRules` (``rules_from_args`` reads them)."""
    p.add_argument("--threshold", type=float, default=0.5,
                   help="a class is predicted when score >= THRESHOLD, in [0, 1] (default 0.5)")
    p.add_argument("--cf1", choices=("harmonic", "mean-per-class"), default="harmonic",
                   help="C-F1 as the harmonic mean of C-P and C-R (Eq. 6, default) or the mean per-class F1")
    p.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                   help="predict the K highest-scoring classes of each image instead of thresholding")
    p.add_argument("--top-k-threshold", action="store_true",
                   help="with --top-k, also require score >= THRESHOLD (as ML-GCN's code)")
    p.add_argument("--empty-classes", choices=("exclude", "zero"), default="exclude",
                   help="classes without positives: left out of every average (default) or counted as 0")
    p.add_argument("--no-empty-images", action="store_true",
                   help="drop images without annotations (default: they are all-negative rows)")
    add_ap_rule_options(p)
    p.add_argument("--overall", choices=("all-predictions", "classes-with-positives"), default="all-predictions",
                   help="O-P and O-R pool every prediction (default: a prediction of a class without "
                   "positives is a false positive) or only the classes with positives")


def add_ap_rule_options(p: argparse.ArgumentParser) -> None:
    """The rules that decide which images are positive for a class and which count in its AP."""
    p.add_argument("--no-crowd", action="store_true", help="do not count crowd annotations as labels")
    p.add_argument("--federated", choices=("auto", "on", "off"), default="auto",
                   help="LVIS federated evaluation: per class only the images where it is annotated or "
                   "verified absent (neg_category_ids) count, its predictions elsewhere (and in "
                   "not_exhaustive_category_ids images without an annotation of it) are ignored; "
                   "auto (default): when the images carry those fields")


def ap_rules_from_args(args: argparse.Namespace):
    """The :class:`~salanalysis.metrics.MetricRules` given by :func:`add_ap_rule_options` (others default)."""
    from salanalysis.metrics import MetricRules

    return MetricRules(include_crowd=not args.no_crowd, federated=args.federated)


def rules_from_args(args: argparse.Namespace):
    """The :class:`~salanalysis.metrics.MetricRules` given by :func:`add_metric_rule_options`."""
    from salanalysis.errors import InputError
    from salanalysis.metrics import MetricRules

    try:
        return MetricRules(threshold=args.threshold, cf1=args.cf1, top_k=args.top_k,
                           top_k_threshold=args.top_k_threshold, empty_classes=args.empty_classes,
                           include_crowd=not args.no_crowd, include_empty=not args.no_empty_images,
                           federated=args.federated, overall=args.overall)
    except InputError as exc:
        raise InputError(f"--{str(exc).replace('_', '-')}") from None


# ------------------------------------------------------------ one vocabulary
class _RenamedOption(argparse.Action):
    """An old spelling of an option: stores into the new one and prints a note on stderr."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"salanalysis: note: {option_string} is now spelled {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_bootstrap_option(p: argparse.ArgumentParser, default: int = 1000, what: str = "") -> None:
    """``--bootstrap N`` (``0``: no intervals); the old ``--n-boot N`` is accepted with a note."""
    text = f"bootstrap resamples{' ' + what if what else ''} (0: none; default {default})"
    p.add_argument("--bootstrap", type=bootstrap_count, default=default, metavar="N", help=text)
    p.add_argument("--n-boot", dest="bootstrap", type=bootstrap_count, action=_RenamedOption,
                   new="--bootstrap", help=argparse.SUPPRESS)


def add_progress_options(p: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` and ``--quiet``, the same in every command."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: when stderr is a terminal)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the final result lines, no progress bar")


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: ``--progress``/``--no-progress``, else when stderr is a terminal."""
    if getattr(args, "quiet", False):
        return False
    given = getattr(args, "progress", None)
    if given is None:
        from salanalysis._progress import interactive

        return interactive()
    return bool(given)


def add_jobs_option(p: argparse.ArgumentParser, what: str, default: int = 0) -> None:
    """``--jobs N``: worker processes or threads, ``0`` = all cores (as ``jobs = 0`` in TOML)."""
    shown = "all cores" if default == 0 else str(default)
    p.add_argument("--jobs", type=jobs_count, default=default, metavar="N",
                   help=f"{what} (0: all cores; default {shown}; results do not depend on it)")


def add_cluster_option(p: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS``: run the object table and the bootstraps on a Dask scheduler."""
    p.add_argument("--cluster", metavar="ADDRESS", default=None,
                   help="a Dask scheduler (tcp://HOST:8786; pip install 'salanalysis[dask]'): image chunks "
                        "and bootstrap blocks run on its workers, which read maps from the same paths "
                        "(shared storage); results are identical to a local run")


def resolve_jobs(jobs: int | None) -> int:
    """``0`` or ``None`` -> the number of usable cores; otherwise ``jobs`` (at most the ``jobs`` limit)."""
    if jobs:
        from salanalysis.limits import check_count

        check_count("jobs", int(jobs), "--jobs")
    if not jobs:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    return int(jobs)


class _InputSize(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2):
            parser.error(f"{option_string} takes SIZE or HEIGHT WIDTH, got {len(values)} values")
        if min(values) < 32:
            parser.error(f"{option_string} must be at least 32, got {' '.join(map(str, values))}")
        setattr(namespace, self.dest, tuple(values))


def add_input_size_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--input-size SIZE`` or ``--input-size HEIGHT WIDTH`` (a tuple of 1 or 2 ints, or None)."""
    p.add_argument("--input-size", nargs="+", type=input_side, action=_InputSize, default=None,
                   metavar="SIZE", help=help)


# ------------------------------------------------------------ subsets and output folders
#: The rule of ``--out``, said once in every analysis command's help.
OUT_RULE = "--out is a folder for every analysis command; the files are named inside it"


def add_subset_options(p: argparse.ArgumentParser) -> None:
    """``--image-ids FILE`` and ``--categories NAMES``: analyse part of the dataset (COCOeval's imgIds/catIds)."""
    p.add_argument("--image-ids", metavar="FILE",
                   help="analyse only the images listed in FILE (one id per line, a CSV with an image_id "
                   "column, or a JSON list), as COCOeval's imgIds: a model evaluated on part of a dataset "
                   "is analysed on exactly that part")
    p.add_argument("--categories", metavar="NAMES",
                   help="analyse only these categories (comma-separated names as in the annotations)")


def subset_rules(args: argparse.Namespace, rules):
    """``(annotations, rules)``: ``--annotations`` and ``rules`` with ``--image-ids``/``--categories``
    folded in (``image_ids``, ``category_names``)."""
    from salanalysis.subsets import read_image_ids

    changes: dict[str, Any] = {}
    if getattr(args, "image_ids", None):
        changes["image_ids"] = read_image_ids(args.image_ids)
    if getattr(args, "categories", None):
        changes["category_names"] = args.categories
    return args.annotations, (rules.replace(**changes) if changes else rules)


def add_out_option(p: argparse.ArgumentParser, *, required: bool = True, what: str = "") -> None:
    """``--out DIR``: the output folder (created) of an analysis command."""
    text = f"output folder (created){': ' + what if what else ''}; {OUT_RULE}"
    p.add_argument("--out", required=required, metavar="DIR", help=text)


#: Suffixes that name a file, not a folder: refused as ``--out DIR`` (a typo would make a folder of that name).
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".md", ".tex", ".pdf", ".png", ".npz", ".parquet", ".pq",
                  ".xlsx", ".pkl")


def out_folder(out: str, first: str, extensions: Sequence[str] = (".csv",)) -> tuple[Path, str | None]:
    """``(folder, None)`` for ``--out DIR``; for the old ``--out FILE.csv`` form ``(FILE, stem)``, with a note.

    ``first`` names the file written first inside a folder (for the note).
    """
    path = Path(out)
    if path.suffix.lower() in _FILE_SUFFIXES and path.suffix.lower() not in extensions:
        raise InputError(f"--out is a folder, and {path.name!r} looks like a file name "
                         f"(give a folder{', or a ' + ' or '.join(extensions) + ' file' if extensions else ''})", out)
    if path.suffix.lower() in extensions:
        print(f"salanalysis: note: --out {out} (a file) is now --out DIR (writes DIR/{first}{path.suffix}, ...); "
              "the file form still works in this release", file=sys.stderr)
        return path, path.with_suffix("").name
    return path, None


def add_vocabulary(p: argparse.ArgumentParser, *, jobs: str | None = None, seed: str | None = None) -> None:
    """The options every analysis command shares: ``--quiet``, ``--progress/--no-progress`` and,
    where they can matter, ``--jobs N`` (``jobs``: what the workers do) and ``--seed`` (``seed``:
    what is random)."""
    if not any(a.dest == "quiet" for a in p._actions):
        add_progress_options(p)
    if jobs is not None and not any(a.dest == "jobs" for a in p._actions):
        add_jobs_option(p, jobs)
    if seed is not None and not any(a.dest == "seed" for a in p._actions):
        p.add_argument("--seed", type=int, default=0, help=f"seed of {seed} (default 0)")
