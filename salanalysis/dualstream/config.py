"""Training options of :mod:`salanalysis.dualstream.train` (torch-free, so the CLI can build flags).

:class:`TrainConfig` lists every option; TOML config files use the same keys
(top level or a ``[train]`` table) and the command line the same names as
``--flags`` (dashes for underscores). :func:`resolve_config` validates a mapping
(unknown keys, types and choices are one-line InputErrors), :func:`load_config`
reads a TOML file.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from salanalysis.errors import InputError

__all__ = [
    "PHASES",
    "PHASE_LR",
    "TrainConfig",
    "CONFIG_HELP",
    "RUN_HELP",
    "RUN_RESUME_OVERRIDABLE",
    "RESUME_OVERRIDABLE",
    "CHOICES",
    "resolve_config",
    "load_config",
    "learning_rate",
]

PHASES = ("1", "1b", "2", "3")
PHASE_LR = {"1": 1e-3, "1b": 1e-3, "2": 1e-5, "3": 1e-6}


@dataclass
class TrainConfig:
    """Every training option (TOML keys and ``--flags`` share these names; see :data:`CONFIG_HELP`)."""

    phase: str = "1"
    variant: str = "saliency"
    train_annotations: str = ""
    train_images: str = ""
    val_annotations: str | None = None
    val_images: str | None = None
    out: str = "runs/train"
    weights: str = "imagenet"
    branch_init: str | None = None
    trunk: str | None = None
    branch: str | None = None
    init: str | None = None
    fc_init: str = "average"
    pooling: str = "max"
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "none"
    lr_step: int = 10
    lr_gamma: float = 0.1
    image_size: int = 224
    resize_size: int | None = None
    augment: bool = True
    include_empty: bool = True
    include_crowd: bool = True
    missing_images: str = "error"
    workers: int = 4
    persistent_workers: bool = True
    pin_memory: bool | None = None
    device: str = "auto"
    amp: str = "bf16"
    channels_last: bool | None = None
    compile: bool = False
    bn: str = "train"
    seed: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    log_format: str = "csv"
    tensorboard: bool = True
    max_steps: int | None = None
    progress: bool = True


#: Help of the options both trainers share (the run's engineering).
RUN_HELP: dict[str, str] = {
    "out": "output folder (checkpoints, log, config)",
    "epochs": "number of epochs",
    "batch_size": "global batch size (split over processes)",
    "momentum": "SGD momentum",
    "scheduler": "'none', 'step' (x lr_gamma every lr_step epochs) or 'cosine' (over the epochs)",
    "lr_step": "epochs between steps of the step scheduler",
    "lr_gamma": "factor of the step scheduler",
    "workers": "DataLoader worker processes (per process)",
    "persistent_workers": "keep DataLoader workers alive between epochs",
    "pin_memory": "pin host memory (default: on CUDA)",
    "device": "'auto', 'cpu' or 'cuda'",
    "amp": "'bf16' (autocast on CUDA) or 'none'",
    "channels_last": "channels_last memory format (default: on CUDA)",
    "compile": "torch.compile the model",
    "seed": "seed of data order, augmentation and initialisation",
    "checkpoint_every": "also checkpoint every N steps (0: at epoch ends only)",
    "log_every": "log a step row every N steps",
    "log_format": "'csv' or 'jsonl'",
    "progress": "show a progress bar",
}

CONFIG_HELP: dict[str, str] = {
    "phase": "1 (trunk), 1b (branch), 2 (linear layer only, lr 1e-5), 3 (everything, lr 1e-6)",
    "variant": "'saliency' (branch from the saliency network) or 'baseline' (the dual-stream baseline)",
    "train_annotations": "COCO instances JSON of the training images",
    "train_images": "folder of the training images",
    "val_annotations": "COCO instances JSON for the per-epoch mAP (optional)",
    "val_images": "folder of the validation images",
    "weights": "phase 1 backbone: 'imagenet' (torchvision), 'none' or a local file",
    "branch_init": "phase 1b: classifier checkpoint / state dict converted from the saliency network",
    "trunk": "phase 2: phase-1 checkpoint",
    "branch": "phase 2: phase-1b checkpoint",
    "init": "phase 3: phase-2 checkpoint",
    "fc_init": "phase 2 linear layer start: 'average' of the two baselines or 'random'",
    "pooling": "global spatial pooling: 'max' (paper) or 'avg'",
    "lr": "learning rate (default per phase: 1e-3, 1e-3, 1e-5, 1e-6)",
    "weight_decay": "SGD weight decay",
    "image_size": "crop size (224 in the paper)",
    "resize_size": "evaluation resize (default image_size * 256 / 224)",
    "augment": "random resized crop + flip for training (else the evaluation transform)",
    "include_empty": "keep images without annotations as all-negative",
    "include_crowd": "crowd annotations make a label positive",
    "missing_images": "'error' or 'skip' images whose file is absent",
    "bn": "'train' (BatchNorm statistics updated) or 'frozen' (eval-mode BatchNorm)",
    "tensorboard": "write TensorBoard events when tensorboard is installed",
    "max_steps": "stop after this many steps in total, checkpoint written (0: no limit)",
    **RUN_HELP,
}

#: Options of both trainers a resumed run may change without breaking exact continuation.
RUN_RESUME_OVERRIDABLE = frozenset({
    "epochs", "max_steps", "workers", "persistent_workers", "pin_memory", "progress", "out",
    "checkpoint_every", "log_every", "log_format", "compile", "train_images", "val_images", "device",
})

#: Options a resumed run may change without breaking exact continuation.
RESUME_OVERRIDABLE = {*RUN_RESUME_OVERRIDABLE, "tensorboard", "val_annotations"}

CHOICES = {
    "phase": PHASES,
    "variant": ("saliency", "baseline"),
    "fc_init": ("average", "random"),
    "pooling": ("max", "avg"),
    "scheduler": ("none", "step", "cosine"),
    "missing_images": ("error", "skip"),
    "amp": ("bf16", "none"),
    "bn": ("train", "frozen"),
    "log_format": ("csv", "jsonl"),
}



# ---------------------------------------------------------------------- config
def coerce_option(cls: type, choices: Mapping[str, tuple], name: str, value: Any, where: str | None) -> Any:
    """``value`` converted to the type of field ``name`` of dataclass ``cls`` and checked against ``choices``."""
    ftype = {f.name: f.type for f in fields(cls)}[name]
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
    if name in choices and value not in choices[name]:
        raise InputError(f"option {name!r} must be one of {', '.join(choices[name])}, got {value!r}", where)
    return value


def build_options(cls: type, choices: Mapping[str, tuple], config: Any, where: str | None,
                  overrides: Mapping[str, Any]) -> Any:
    """An instance of dataclass ``cls`` from an instance or mapping plus ``overrides``.

    Keys may use dashes for underscores; unknown keys, bad types and bad choices
    are one-line InputErrors naming ``where``. Cross-option checks are the caller's.
    """
    base = asdict(config) if isinstance(config, cls) else dict(config or {})
    base.update(overrides)
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, val in base.items():
        k = key.replace("-", "_")
        if k not in names:
            raise InputError(f"unknown option {key!r}", where)
        values[k] = coerce_option(cls, choices, k, val, where)
    return cls(**values)


def read_toml_options(path: str | os.PathLike, table: str) -> dict[str, Any]:
    """The keys of a TOML file: its top level merged with (and overridden by) a ``[table]`` table."""
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
    return data


def resolve_config(config: TrainConfig | Mapping[str, Any] | None = None, where: str | None = None,
                   **overrides: Any) -> TrainConfig:
    """A validated :class:`TrainConfig` from a config, a mapping and/or keyword overrides.

    Unknown keys, bad types and bad choices are one-line InputErrors (naming
    ``where``, e.g. the TOML file).
    """
    cfg = build_options(TrainConfig, CHOICES, config, where, overrides)
    if cfg.phase == "1b" and cfg.variant == "saliency" and not cfg.branch_init:
        raise InputError("phase 1b needs branch_init (--branch-init), or variant 'baseline'", where)
    if cfg.phase == "2" and not (cfg.trunk and cfg.branch):
        raise InputError("phase 2 needs trunk and branch checkpoints (--trunk, --branch)", where)
    if cfg.phase == "3" and not cfg.init:
        raise InputError("phase 3 needs the phase-2 checkpoint (--init)", where)
    if not cfg.train_annotations or not cfg.train_images:
        raise InputError("training needs train_annotations and train_images", where)
    if bool(cfg.val_annotations) != bool(cfg.val_images):
        raise InputError("give both val_annotations and val_images, or neither", where)
    for key in ("epochs", "batch_size", "image_size", "log_every"):
        if getattr(cfg, key) < 1:
            raise InputError(f"option {key!r} must be >= 1", where)
    if cfg.checkpoint_every < 0 or cfg.workers < 0:
        raise InputError("checkpoint_every and workers must be >= 0", where)
    if cfg.lr is not None and not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise InputError("lr must be positive", where)
    return cfg


def load_config(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a TOML file of :class:`TrainConfig` keys (top level or a ``[train]`` table).

    Relative paths in the file are taken relative to the working directory, as on
    the command line; ``overrides`` (e.g. explicit flags) win over the file.
    """
    data = read_toml_options(path, "train")
    return resolve_config(data, where=str(path), **overrides)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, helps: Mapping[str, str],
                     choices: Mapping[str, tuple], metavars: Mapping[str, str]) -> None:
    """One ``--flag`` per field of dataclass ``cls`` (dashes for underscores), default None.

    Booleans get ``--x/--no-x``; other values stay strings for the resolver to
    convert and validate. ``metavars`` names values of fields without choices ("N" otherwise).
    """
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        helptext = f"{helps.get(f.name, '')} (default: {f.default})"
        if f.type.startswith("bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=helptext)
        else:
            parser.add_argument(flag, dest=f.name, default=None, choices=choices.get(f.name), help=helptext,
                                metavar=None if f.name in choices else metavars.get(f.name, "N"))


def given_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of dataclass ``cls`` set (not None) in parsed ``args``."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name) is not None}


def learning_rate(cfg: TrainConfig) -> float:
    """The configured lr, else the phase default (:data:`PHASE_LR`)."""
    return float(cfg.lr) if cfg.lr is not None else PHASE_LR[cfg.phase]


