"""The ``salanalysis`` command line: a thin layer over the library.

Every sub-command lives in a module of :mod:`salanalysis.commands` that defines
``register(subparsers)``; it adds its parser and sets ``func`` (a callable taking
the parsed ``argparse.Namespace`` and returning an exit code). Modules are
discovered, so adding a command never edits this file. Commands that need torch
import it inside ``func``, so ``salanalysis --help`` stays torch-free.

Errors in the user's input (:class:`~salanalysis.errors.InputError`) print one
line, ``salanalysis: error: <file>: <problem>``, and exit with status 2. So do
the operating system's refusals (:class:`OSError`: a read-only or full disk, a
permission denied, a file that vanished): ``salanalysis: error: <path>: <cause>``,
exit 2, no traceback; outputs are written atomically, so nothing partial is left.
An :class:`~salanalysis.errors.InputWarning` (input read by a rule worth knowing)
prints one line, ``salanalysis: warning: <file>: <what>``, and the command goes on.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Sequence

from salanalysis import __version__
from salanalysis.commands._common import parse_named
from salanalysis.errors import InputError, InputWarning

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
    parser.add_argument(
        "--limit", action="append", type=_limit_arg, default=[], metavar="NAME=N",
        help="raise (or lower) a size limit for this run, before the COMMAND; names: "
        "pixels, bootstrap, jobs, input_size, classes, cells (defaults and the "
        "SALANALYSIS_MAX_<NAME> variables: salanalysis.limits)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import salanalysis.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"salanalysis.commands.{info.name}")
        module.register(sub)
    return parser


def _limit_arg(text: str) -> tuple[str, int]:
    from salanalysis.limits import parse_limit

    try:
        return parse_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from salanalysis.limits import limits

    # the limits first: the types of --bootstrap, --jobs and --input-size check against them
    pre = argparse.ArgumentParser(prog="salanalysis", add_help=False)
    pre.add_argument("--limit", action="append", type=_limit_arg, default=[])
    given = dict(pre.parse_known_args(argv)[0].limit)
    with limits(given):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # an unknown option: the usage of the (sub)command it was given to, exit 2
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        print("salanalysis: error: a COMMAND is required (salanalysis --help lists them)", file=sys.stderr)
        return 2
    out = sys.stdout = _ClosedPipeSafe(sys.stdout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", InputWarning)
            default_show = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, InputWarning):
                    print(f"salanalysis: warning: {message}", file=sys.stderr)
                else:
                    default_show(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            cluster = getattr(args, "cluster", None)
            if cluster is None:
                return int(args.func(args) or 0)
            from salanalysis._cluster import use_cluster

            with use_cluster(cluster):
                return int(args.func(args) or 0)
    except InputError as exc:
        print(f"salanalysis: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"salanalysis: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except RecursionError:  # a file nested too deeply for a reader this package does not guard
        print("salanalysis: error: an input is nested too deeply to read", file=sys.stderr)
        return 2
    except MemoryError:
        print("salanalysis: error: out of memory (an input asks for more than this machine has; "
              "see salanalysis.limits)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salanalysis: interrupted", file=sys.stderr)
        return 130
    finally:
        if sys.stdout is out:
            sys.stdout = out.stream
        out.detach_if_closed()


class _ClosedPipeSafe:
    """stdout that outlives its reader: ``salanalysis metrics ... | head -1`` is not a failure.

    When the reader closes the pipe, what the command still prints is dropped and
    the command carries on (its outputs are written, the exit status is its own),
    instead of stopping at the next ``print`` with "Broken pipe".
    """

    def __init__(self, stream) -> None:
        self.stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True

    def detach_if_closed(self) -> None:
        """After a closed pipe, point file descriptor 1 at /dev/null: nothing fails at exit."""
        if not self.closed_pipe:
            return
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a real file (a test's capture)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the deepest sub-command named in ``args`` (``salanalysis saliency evaluate``'s)."""
    current = parser
    for dest in ("command", "saliency_command"):
        name = getattr(args, dest, None)
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not name or not subs or name not in subs[0].choices:
            break
        current = subs[0].choices[name]
    return current


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: ``<path>: <cause>`` (``[Errno 28] No space left ...``)."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is not None and exc.strerror:
        cause = f"{cause} ({errno.errorcode.get(exc.errno, exc.errno)})"
    paths = [os.fspath(p) for p in (exc.filename, exc.filename2) if p is not None]
    text = f"{' -> '.join(paths)}: {cause}" if paths else cause
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
