"""Pieces shared by the CLI command modules: argparse types, common options, score loading.

Not a command itself (the leading underscore makes :mod:`salanalysis.cli` skip it).
Like the command modules, it imports nothing heavy at import time.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from salanalysis.cli import parse_named

if TYPE_CHECKING:
    from salanalysis.coco import Annotations
    from salanalysis.scores import Scores

MISSING_HELP = "annotated images without scores: an error (default) or scored 0"
# the wording of ``clutter`` and ``compare``
MISSING_HELP_SCORE_ZERO = "annotated images without scores: error (default) or score them 0"


def _int_at_least(text: str, minimum: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "non-negative")


def add_scores_option(p: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--scores NAME=FILE`` (repeatable)."""
    p.add_argument("--scores", action="append", required=required, metavar="NAME=FILE", help=help)


def add_saliency_option(p: argparse.ArgumentParser) -> None:
    """``--saliency NAME=DIR`` (repeatable)."""
    p.add_argument(
        "--saliency", action="append", metavar="NAME=DIR", help="saliency map folder (repeatable)"
    )


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
    """The ``--saliency NAME=DIR`` options as a dict name -> folder."""
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
