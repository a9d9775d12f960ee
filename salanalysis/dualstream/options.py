"""One configuration mechanism for both trainers (torch-free, so the command line can build its flags).

A trainer's options are a dataclass (:class:`~salanalysis.dualstream.config.TrainConfig`,
:class:`~salanalysis.dualstream.saliency.config.SaliencyTrainConfig`) described by a
:class:`ConfigSpec`: the same names are TOML keys (top level or the spec's
``[table]``), ``--flags`` (dashes for underscores) and keyword arguments.

:meth:`ConfigSpec.resolve`
    A validated instance from an instance or mapping plus overrides: unknown
    keys, bad types and bad choices are one-line InputErrors naming the file;
    then the trainer's own cross-option checks.
:meth:`ConfigSpec.load`
    Read a TOML file (old key spellings accepted with a note on stderr).
:meth:`ConfigSpec.for_run`
    The configuration of a run: from a config, or from a checkpoint being
    resumed (its resolved config, then the caller's config and overrides; an
    option outside ``resume_overridable`` that differs is an InputError).
:meth:`ConfigSpec.add_flags` / :meth:`ConfigSpec.given`
    The command line: one flag per option, and the options given as flags.

The network input size is one option, ``input_size``: one integer (a square)
or ``[height, width]``; a spec with ``square_input`` (the classifiers, which
take a square crop) refuses two different values.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from salanalysis.dualstream.backbones import BACKBONES
from salanalysis.errors import InputError

__all__ = ["RunOptions", "ConfigSpec", "parse_input_size", "check_resume_config", "read_toml_options",
           "RUN_HELP", "RUN_RESUME_OVERRIDABLE", "RUN_CHOICES", "RUN_METAVARS", "PIPELINES", "TRAIN_CROPS",
           "EVAL_CROPS", "RUN_RENAMED"]


@dataclass
class RunOptions:
    """The options both trainers share: output, backbone, optimisation schedule and the run's engineering.

    Each trainer's options dataclass derives from it (and may change a default).
    """

    out: str = "runs/train"
    weights: str = "imagenet"
    backbone: str = "resnet50"
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "none"
    lr_step: int = 10
    lr_gamma: float = 0.1
    missing: str = "error"
    workers: int = 4
    persistent_workers: bool = True
    pin_memory: bool | None = None
    device: str = "auto"
    amp: str = "auto"
    sync_bn: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    log_format: str = "csv"
    max_steps: int | None = None
    progress: bool | None = None


def validate_run(cfg: RunOptions, where: str | os.PathLike | None) -> None:
    """The checks of :class:`RunOptions` (InputError naming the option)."""
    for key in ("epochs", "batch_size", "log_every", "lr_step"):
        if getattr(cfg, key) < 1:
            raise InputError(f"option {key!r} must be >= 1", where)
    for key in ("checkpoint_every", "workers"):
        if getattr(cfg, key) < 0:
            raise InputError(f"option {key!r} must be >= 0", where)
    if cfg.lr is not None and not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise InputError("lr must be positive", where)

#: Help of the options both trainers share (the run's engineering).
RUN_HELP: dict[str, str] = {
    "out": "output folder (checkpoints, log, config)",
    "weights": "backbone initialisation: 'imagenet' (torchvision), 'none' or a local file",
    "backbone": "backbone network (the registry of salanalysis.dualstream.backbones)",
    "lr": "learning rate",
    "weight_decay": "SGD weight decay",
    "missing": "items whose image file is absent: 'error' (default) or 'skip' (left out and counted; the old "
               "spelling --missing-images is accepted with a note)",
    "max_steps": "stop after this many steps in total, checkpoint written (0: no limit)",
    "epochs": "number of epochs",
    "batch_size": "global batch size (split over processes)",
    "momentum": "SGD momentum",
    "scheduler": "'none', 'step' (x lr_gamma every lr_step epochs) or 'cosine' (over the epochs)",
    "lr_step": "epochs between steps of the step scheduler",
    "lr_gamma": "factor of the step scheduler",
    "workers": "DataLoader worker processes per training process (0: load in the training process)",
    "persistent_workers": "keep the training DataLoader's workers alive between epochs (the validation "
                          "loader's end after each evaluation)",
    "pin_memory": "pin host memory (default: on CUDA)",
    "device": "'auto', 'cpu' or 'cuda'",
    "amp": "mixed precision on CUDA: 'auto' (default: bf16 autocast on a GPU with bfloat16, else fp16 with "
           "a gradient scaler, e.g. V100, T4), 'bf16', 'fp16' or 'none' (float32; the CPU is always float32)",
    "sync_bn": "SyncBatchNorm across GPUs (default: on in a multi-GPU run whose per-GPU batch is below 16)",
    "channels_last": "channels_last memory format (default: on CUDA)",
    "compile": "torch.compile the model",
    "seed": "seed of data order, augmentation and initialisation",
    "checkpoint_every": "also checkpoint every N steps (0: at epoch ends only)",
    "log_every": "log a step row every N steps",
    "log_format": "'csv' or 'jsonl'",
    "progress": "show a progress bar (default: when stderr is a terminal)",
}

#: Options of both trainers a resumed run may change without breaking exact continuation.
RUN_RESUME_OVERRIDABLE = frozenset({
    "epochs", "max_steps", "workers", "persistent_workers", "pin_memory", "progress", "out",
    "checkpoint_every", "log_every", "log_format", "compile", "train_images", "val_images", "device",
    "sync_bn",
})

#: Old spellings of shared options: ``old key -> (new key, None)`` (see :class:`ConfigSpec`).
RUN_RENAMED: dict[str, tuple[str, int | None]] = {"missing_images": ("missing", None)}

#: The input pipelines (:mod:`salanalysis.dualstream.pipeline`): names, here where torch is not needed.
PIPELINES = ("auto", "cpu", "gpu")
#: Training and evaluation crops of the classifiers' input pipeline (``train_crop``, ``eval_crop``).
TRAIN_CROPS = ("random-resized", "whole")
EVAL_CROPS = ("center", "whole")

RUN_METAVARS: dict[str, str] = {"out": "PATH", "weights": "imagenet|none|PATH", "lr": "LR", "momentum": "X",
                                "weight_decay": "X", "lr_gamma": "X", "device": "auto|cpu|cuda"}

RUN_CHOICES: dict[str, tuple[str, ...]] = {
    "backbone": tuple(BACKBONES),
    "scheduler": ("none", "step", "cosine"),
    "missing": ("error", "skip"),
    "amp": ("auto", "bf16", "fp16", "none"),
    "log_format": ("csv", "jsonl"),
}


def parse_input_size(value: Any, where: str | os.PathLike | None = None, *, square: bool = False,
                     name: str = "input_size") -> int | tuple[int, int]:
    """``input_size`` from an int, ``"H W"`` / ``"HxW"``, or a list of 1-2 ints (each >= 32).

    Returns ``(height, width)``, or with ``square`` one int (two different
    values are an InputError: the classifiers take a square crop).
    """
    if isinstance(value, str):
        parts: list[Any] = value.lower().replace("x", " ").replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    try:
        if isinstance(value, bool) or not 1 <= len(parts) <= 2:
            raise ValueError(value)
        ints = []
        for p in parts:
            if isinstance(p, bool) or (isinstance(p, float) and not p.is_integer()):
                raise ValueError(p)
            ints.append(int(p))
    except (TypeError, ValueError):
        raise InputError(f"option {name!r} takes SIZE or [HEIGHT, WIDTH], got {value!r}", where) from None
    if min(ints) < 32:
        raise InputError(f"option {name!r} must be at least 32, got {value!r}", where)
    from salanalysis.limits import get_limit

    if max(ints) > get_limit("input_size"):  # 100000 would ask for tens of GB per batch
        raise InputError(f"option {name!r} = {max(ints)} is over the limit of {get_limit('input_size')} "
                         "(raise it with salanalysis --limit input_size=N or SALANALYSIS_MAX_INPUT_SIZE)", where)
    h, w = (ints[0], ints[0]) if len(ints) == 1 else (ints[0], ints[1])
    if square:
        if h != w:
            raise InputError(f"option {name!r}: the classifier takes a square crop, got {h} x {w} "
                             "(give one SIZE)", where)
        return h
    return (h, w)


def check_resume_config(cfg: Any, saved: Any, overridable: set[str] | frozenset[str],
                        where: str | os.PathLike) -> None:
    """InputError naming the first option (outside ``overridable``) where ``cfg`` differs from ``saved``."""
    diffs = [k for k in asdict(cfg) if getattr(cfg, k) != getattr(saved, k) and k not in overridable]
    if diffs:
        raise InputError(
            f"cannot resume with a different {diffs[0]!r} ({getattr(saved, diffs[0])!r} in the "
            f"checkpoint, {getattr(cfg, diffs[0])!r} now)",
            where,
        )


def read_toml_options(path: str | os.PathLike, table: str, renamed: Mapping[str, Any] = ()) -> dict[str, Any]:
    """The keys of a TOML file: its top level merged with (and overridden by) a ``[table]`` table.

    Keys spelled the old way (``renamed``) are kept and noted on stderr.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise InputError("reading a TOML config on Python 3.10 needs 'pip install tomli'", path) from None

    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed TOML: {exc}", path) from exc
    if table in data and isinstance(data[table], dict):
        data = {**{k: v for k, v in data.items() if k != table}, **data[table]}
    for key in data:
        old = key.replace("-", "_")
        if old in renamed:
            print(f"salanalysis: note: {path}: key {key!r} is now spelled {renamed[old][0]!r}", file=sys.stderr)
    return data


@dataclass(frozen=True, eq=False)
class ConfigSpec:
    """How one trainer's options dataclass is read, checked and turned into flags.

    Attributes
    ----------
    cls
        The dataclass of options (string annotations: ``"int"``, ``"str | None"``, ...).
    table
        The TOML table that may hold the keys (``[train]``).
    choices, helps, metavars
        Allowed values, help texts and flag metavars per option (those of the
        shared :class:`RunOptions`, :data:`RUN_CHOICES`, :data:`RUN_HELP` and
        :data:`RUN_METAVARS`, are added).
    validate
        ``validate(cfg, where)``: the cross-option checks (raise InputError).
    resume_overridable
        Options a resumed run may change (with :data:`RUN_RESUME_OVERRIDABLE`).
    renamed
        Old spellings: ``old key -> (new key, part)``; ``part`` None for a
        plain rename, 0 / 1 for the height / width of ``input_size``.
    square_input
        ``input_size`` must be a square (stored as one int).
    """

    cls: type
    table: str
    choices: Mapping[str, tuple] = field(default_factory=dict)
    helps: Mapping[str, str] = field(default_factory=dict)
    metavars: Mapping[str, str] = field(default_factory=dict)
    validate: Callable[[Any, str | None], None] | None = None
    resume_overridable: frozenset[str] = frozenset()
    renamed: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)
    square_input: bool = False

    def __post_init__(self) -> None:
        shared = issubclass(self.cls, RunOptions)
        for name, run in (("choices", RUN_CHOICES), ("helps", RUN_HELP), ("metavars", RUN_METAVARS)):
            object.__setattr__(self, name, {**(run if shared else {}), **getattr(self, name)})
        extra = RUN_RESUME_OVERRIDABLE if shared else frozenset()
        object.__setattr__(self, "resume_overridable", frozenset(self.resume_overridable) | extra)
        if shared:  # one spelling of the shared options (old keys of checkpoints and TOML files read too)
            object.__setattr__(self, "renamed", {**RUN_RENAMED, **self.renamed})

    # ------------------------------------------------------------ values
    def _types(self) -> dict[str, str]:
        return {f.name: str(f.type) for f in fields(self.cls)}

    def coerce(self, name: str, value: Any, where: str | None) -> Any:
        """``value`` converted to the type of option ``name`` and checked against its choices."""
        ftype = self._types()[name]
        if name == "input_size":
            return parse_input_size(value, where, square=self.square_input)
        if value is None:
            if "None" in ftype:
                return None
            raise InputError(f"option {name!r} cannot be empty", where)
        try:
            if ftype.startswith("bool"):
                if isinstance(value, str):
                    low = value.lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    return low in ("true", "1", "yes")
                return bool(value)
            if ftype.startswith("int"):
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                return int(value)
            if ftype.startswith("float"):
                return float(value)
            value = str(value)
        except (TypeError, ValueError):
            raise InputError(f"option {name!r}: cannot use {value!r} as {ftype}", where) from None
        if name in self.choices and value not in self.choices[name]:
            raise InputError(f"option {name!r} must be one of {', '.join(self.choices[name])}, got {value!r}",
                             where)
        return value

    def _merge(self, base: dict[str, Any], layer: Mapping[str, Any], where: str | None) -> dict[str, Any]:
        """``base`` updated by ``layer``, old spellings of ``layer`` mapped to their new keys."""
        layer = {str(k).replace("-", "_"): v for k, v in dict(layer).items()}
        out = dict(base)
        parts: dict[int, Any] = {}
        for key, value in layer.items():
            if key not in self.renamed:
                out[key] = value
                continue
            new, part = self.renamed[key]
            if new in layer:
                raise InputError(f"give {new!r} or its old spelling {key!r}, not both", where)
            if part is None:
                out[new] = value
            else:
                parts[part] = value
        if parts:
            default = {f.name: f.default for f in fields(self.cls)}["input_size"]
            size = list(parse_input_size(out.get("input_size", default), where))
            for part, value in parts.items():
                size[part] = value
            out["input_size"] = size
        return out

    def resolve(self, config: Any = None, where: str | None = None, **overrides: Any) -> Any:
        """A validated instance from an instance or mapping plus ``overrides`` (which win)."""
        base = asdict(config) if isinstance(config, self.cls) else dict(config or {})
        merged = self._merge(self._merge({}, base, where), overrides, where)
        names = {f.name for f in fields(self.cls)}
        values: dict[str, Any] = {}
        for key, val in merged.items():
            if key not in names:
                raise InputError(f"unknown option {key!r}", where)
            values[key] = self.coerce(key, val, where)
        cfg = self.cls(**values)
        if isinstance(cfg, RunOptions):
            validate_run(cfg, where)
        if self.validate is not None:
            self.validate(cfg, where)
        return cfg

    def load(self, path: str | os.PathLike, **overrides: Any) -> Any:
        """Read a TOML file of options (top level or ``[table]``); ``overrides`` (e.g. flags) win.

        Relative paths in the file are taken relative to the working directory, as on the command line.
        """
        data = read_toml_options(path, self.table, self.renamed)
        return self.resolve(self._merge({}, data, str(path)), where=str(path), **overrides)

    def for_run(self, config: Any = None, *, saved: Mapping[str, Any] | None = None,
                where: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> Any:
        """The configuration of a run.

        Without ``saved``: ``config`` (required) with ``overrides``. Resuming
        (``saved``: the checkpoint's config, ``where``: its path): the saved
        config, replaced by ``config`` when given, with ``overrides``; any
        difference from the saved config outside ``resume_overridable`` is an
        InputError naming the option.
        """
        if saved is None:
            if config is None:
                raise ValueError("give a config or a checkpoint to resume")
            return self.resolve(config, **dict(overrides or {}))
        before = self.resolve(saved, where=str(where))
        cfg = self.resolve(before if config is None else config, **dict(overrides or {}))
        check_resume_config(cfg, before, self.resume_overridable, where)
        return cfg

    # ------------------------------------------------------------ command line
    def add_flags(self, parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ("input_size", "progress")) -> None:
        """One ``--flag`` per option (dashes for underscores), default None, except ``exclude``.

        Booleans get ``--x/--no-x``; other values stay strings for :meth:`resolve`
        to convert and validate. The trainer's own options come first, then the
        shared :class:`RunOptions`.
        """
        own = list(getattr(self.cls, "__annotations__", {}))
        order = {name: i for i, name in enumerate(own + [f.name for f in fields(self.cls) if f.name not in own])}
        for f in sorted(fields(self.cls), key=lambda f: order[f.name]):
            if f.name in exclude:
                continue
            flag = "--" + f.name.replace("_", "-")
            helptext = self.helps.get(f.name, "")
            if "default" not in helptext:
                helptext += f" (default: {f.default})"
            if str(f.type).startswith("bool"):
                parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                    help=helptext)
            else:
                parser.add_argument(flag, dest=f.name, default=None, choices=self.choices.get(f.name),
                                    help=helptext,
                                    metavar=None if f.name in self.choices else self.metavars.get(f.name, "N"))

    def given(self, args: argparse.Namespace) -> dict[str, Any]:
        """The options set (not None) in parsed ``args``, old spellings included under their old names."""
        names = [f.name for f in fields(self.cls)] + list(self.renamed)
        return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
