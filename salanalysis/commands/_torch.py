"""Command-line pieces of the torch commands (``train``, ``train-saliency``, ``predict``, ``cam``,
``saliency predict``); not a command itself.

:func:`add_inference_options` gives the options every inference command
shares (``--device``, ``--batch-size``, ``--amp``, ``--input-size``, progress).
The two trainers take ``--config FILE`` (TOML; flags override it), ``--resume
CHECKPOINT``, one flag per option of their
:class:`~salanalysis.dualstream.options.ConfigSpec`, ``--input-size`` and
``--progress/--no-progress/--quiet`` from :mod:`salanalysis.commands._common`,
and the old spellings of the input size (accepted with a note). Imports nothing
heavy: torch loads when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from salanalysis.commands._common import (
    _RenamedOption,
    add_input_size_option,
    add_progress_options,
    input_side,
    positive_int,
)

__all__ = ["add_training_arguments", "run_training_command", "add_old_input_size", "add_inference_options",
           "amp_enabled", "add_missing_option", "MISSING_CHOICES", "skipped_line"]


class _OldSwitch(_RenamedOption):
    """An old switch (no value): stores its ``const`` into the new option, with a note."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, self.const, option_string)


def add_inference_options(p: argparse.ArgumentParser, *, input_help: str, batch_size: int | None = None,
                          amp: bool = True, old_input: tuple[str, ...] = (), checkpoint: str | None = None,
                          images: str | None = None) -> None:
    """``--device``, ``--input-size`` (old spellings ``old_input`` accepted with a note), progress
    flags, and ``--checkpoint FILE`` / ``--images DIR`` / ``--batch-size`` / ``--amp`` when the
    command has them (help texts ``checkpoint``, ``images``)."""
    if checkpoint is not None:
        p.add_argument("--checkpoint", required=True, metavar="FILE", help=checkpoint)
    if images is not None:
        p.add_argument("--images", required=True, metavar="DIR", help=images)
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                   help="'auto' (default: CUDA when available), 'cpu' or 'cuda'")
    if batch_size is not None:
        p.add_argument("--batch-size", type=positive_int, default=batch_size, metavar="N",
                       help=f"images per forward pass (default {batch_size})")
    if amp:
        p.add_argument("--amp", choices=("auto", "bf16", "fp16", "none"), default="auto",
                       help="mixed precision on CUDA: 'auto' (default: bf16 where the GPU has bfloat16, else "
                       "fp16), 'bf16', 'fp16' or 'none' (float32; the CPU is always float32)")
        p.add_argument("--no-amp", dest="amp", action=_OldSwitch, nargs=0, new="--amp none",
                       const="none", help=argparse.SUPPRESS)
    add_input_size_option(p, input_help)
    add_old_input_size(p, {k: None for k in old_input}, dest="input_size")
    add_progress_options(p)


def amp_enabled(args: argparse.Namespace) -> str:
    """The ``--amp`` setting (``"auto"``, ``"bf16"``, ``"fp16"`` or ``"none"``), for
    :func:`salanalysis.dualstream.loop.autocast`."""
    return str(getattr(args, "amp", "auto"))


def add_old_input_size(p: argparse.ArgumentParser, renamed: Iterable[str], dest: str | None = None) -> None:
    """Hidden flags for old spellings of ``--input-size`` (``--image-size``, ``--input-height``...).

    Each stores its value under its own name (or ``dest``) and prints a note on stderr.
    """
    for key in renamed:
        p.add_argument("--" + key.replace("_", "-"), dest=dest or key, type=input_side, action=_RenamedOption,
                       new="--input-size", help=argparse.SUPPRESS)


#: ``--missing`` of the torch commands (train, train-saliency, predict, cam): one spelling, one meaning.
MISSING_CHOICES = ("error", "skip")


def add_missing_option(p: argparse.ArgumentParser, default: str, help: str, dest: str = "missing") -> None:
    """``--missing {error,skip}`` (images whose file is absent); the old ``--missing-images`` is
    accepted for one release with a note on stderr."""
    p.add_argument("--missing", dest=dest, choices=MISSING_CHOICES, default=default, help=help)
    p.add_argument("--missing-images", dest=dest, choices=MISSING_CHOICES, action=_RenamedOption,
                   new="--missing", help=argparse.SUPPRESS)


def add_training_arguments(p: argparse.ArgumentParser, spec, input_help: str) -> None:
    """``--config``, ``--resume``, every option of ``spec`` as a flag, ``--input-size``, progress flags."""
    p.add_argument("--config", metavar="FILE", help="TOML file of options (flags override it)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue exactly from a last.pt checkpoint (its options; flags may change those "
                   "a resumed run allows, e.g. --epochs, --workers, --device)")
    spec.add_flags(p)
    add_input_size_option(p, input_help)
    add_progress_options(p)
    add_old_input_size(p, [k for k, (new, _) in spec.renamed.items() if new == "input_size"])
    for old, (new, _) in spec.renamed.items():
        if new != "input_size":  # e.g. --missing-images: stored under its old name, merged by the spec
            p.add_argument("--" + old.replace("_", "-"), dest=old, choices=spec.choices.get(new),
                           action=_RenamedOption, new="--" + new.replace("_", "-"), help=argparse.SUPPRESS)


def run_training_command(args: argparse.Namespace, spec, train: Callable[..., Any],
                         describe: Callable[[Any], Iterable[str]]) -> int:
    """Resolve the options of ``args``, run ``train`` and print ``describe(result)`` (rank 0 only),
    then how many images ``--missing skip`` left out, if any.

    Per-epoch lines (images/s, loss, validation) go to stderr unless ``--quiet``.
    A diverged run (``FloatingPointError``) is a one-line error with exit status 2.
    """
    from salanalysis.errors import InputError

    given = spec.given(args)
    if args.quiet:
        given["progress"] = False
    if args.config:
        config, overrides = spec.load(args.config, **given), {}
    else:
        config, overrides = (None if args.resume else {}), given
    report = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        result = train(config, resume=args.resume, overrides=overrides, report=report)
    except FloatingPointError as exc:  # divergence: one line, exit status 2, like bad input
        raise InputError(str(exc), getattr(args, "out", None) or args.resume or args.config) from exc
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 reports
        for line in describe(result):
            print(line)
        line = skipped_line(getattr(result, "skipped", {}) or {})
        if line:
            print(line)
    return 0


def skipped_line(skipped: dict[str, int]) -> str:
    """``"skipped 3 training and 1 validation images whose file is absent (--missing skip)"``, or ``""``."""
    names = {"train": "training", "val": "validation"}
    parts = [f"{n} {names.get(k, k)}" for k, n in skipped.items() if n]
    if not parts:
        return ""
    return f"skipped {' and '.join(parts)} images whose file is absent (--missing skip)"
