"""The ``salanalysis`` command line: a thin layer over the library.

Every sub-command lives in a module of :mod:`salanalysis.commands` that defines
``register(subparsers)``; it adds its parser and sets ``func`` (a callable taking
the parsed ``argparse.Namespace`` and returning an exit code). Modules are
discovered, so adding a command never edits this file. Commands that need torch
import it inside ``func``, so ``salanalysis --help`` stays torch-free.

Errors in the user's input (:class:`~salanalysis.errors.InputError`) print one
line, ``salanalysis: error: <file>: <problem>``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from salanalysis import __version__
from salanalysis.commands._common import parse_named
from salanalysis.errors import InputError

__all__ = ["main", "build_parser", "parse_named"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="salanalysis",
        description=(
            "Visual attention and multi-label classification on MS COCO "
            "(Luo, Jiang & Zhao, CVPRW 2019): analyses, figures and models."
        ),
    )
    parser.add_argument("--version", action="version", version=f"salanalysis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import salanalysis.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"salanalysis.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        print("salanalysis: error: a COMMAND is required (salanalysis --help lists them)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"salanalysis: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salanalysis: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
