"""Options of ``salanalysis train-saliency`` (torch-free, so the command line can build its flags).

:class:`SaliencyTrainConfig` lists every option; TOML config files use the same
keys (top level or a ``[train_saliency]`` table) and the command line the same
names as ``--flags`` (dashes for underscores). :func:`resolve_saliency_config`
validates a mapping (unknown keys, types and choices are one-line
InputErrors), :func:`load_saliency_config` reads a TOML file. The training
itself is :func:`salanalysis.dualstream.saliency_train.train_saliency`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salanalysis.dualstream.config import (
    RUN_HELP,
    RUN_RESUME_OVERRIDABLE,
    build_options,
    read_toml_options,
)
from salanalysis.errors import InputError

__all__ = [
    "SaliencyTrainConfig",
    "SALIENCY_CONFIG_HELP",
    "RESUME_OVERRIDABLE",
    "CHOICES",
    "resolve_saliency_config",
    "load_saliency_config",
]


@dataclass
class SaliencyTrainConfig:
    """Every option of ``salanalysis train-saliency`` (TOML keys and ``--flags`` share the names)."""

    train_images: str = ""
    train_maps: str = ""
    train_fixations: str | None = None
    val_images: str | None = None
    val_maps: str | None = None
    val_fixations: str | None = None
    out: str = "runs/saliency"
    weights: str = "imagenet"
    readout_hidden: int = 0
    input_height: int = 480
    input_width: int = 640
    w_kld: float = 1.0
    w_cc: float = 0.0
    w_nss: float = 0.0
    optimizer: str = "sgd"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "none"
    lr_step: int = 5
    lr_gamma: float = 0.1
    hflip: bool = False
    missing_images: str = "error"
    workers: int = 4
    persistent_workers: bool = True
    pin_memory: bool | None = None
    device: str = "auto"
    amp: str = "bf16"
    channels_last: bool | None = None
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    log_format: str = "csv"
    max_steps: int | None = None
    progress: bool = True


SALIENCY_CONFIG_HELP: dict[str, str] = {
    "train_images": "folder of the training images (SALICON images/train)",
    "train_maps": "folder of the training ground-truth maps (SALICON maps/train)",
    "train_fixations": "training fixations (2015 .json, 2017 .mat file or folder); needed for w_nss",
    "val_images": "folder of the validation images (per-epoch metrics; optional)",
    "val_maps": "folder of the validation ground-truth maps",
    "val_fixations": "validation fixations (NSS and AUC-Judd; optional)",
    "weights": "backbone initialisation: 'imagenet' (torchvision), 'none' or a local file",
    "readout_hidden": "0: one 1x1 conv 2048->1; k: 3x3 conv 2048->k, ReLU, 1x1 conv k->1",
    "input_height": "network input height (480, SALICON's)",
    "input_width": "network input width (640, SALICON's)",
    "w_kld": "weight of the KL divergence KL(ground truth || prediction)",
    "w_cc": "weight of (1 - CC)",
    "w_nss": "weight of -NSS (needs fixations)",
    "optimizer": "'sgd' (momentum, weight decay) or 'adam' (weight decay as L2)",
    "lr": "learning rate",
    "weight_decay": "weight decay",
    "hflip": "random horizontal flips of image, map and fixations",
    "missing_images": "'error' or 'skip' maps whose image file is absent",
    "max_steps": "stop after this many steps in total (checkpoint written)",
    **RUN_HELP,
}

RESUME_OVERRIDABLE = {*RUN_RESUME_OVERRIDABLE, "train_maps", "train_fixations", "val_maps", "val_fixations"}

CHOICES = {
    "optimizer": ("sgd", "adam"),
    "scheduler": ("none", "step", "cosine"),
    "missing_images": ("error", "skip"),
    "amp": ("bf16", "none"),
    "log_format": ("csv", "jsonl"),
}


def resolve_saliency_config(
    config: SaliencyTrainConfig | Mapping[str, Any] | None = None, where: str | None = None, **overrides: Any
) -> SaliencyTrainConfig:
    """A validated :class:`SaliencyTrainConfig` (unknown keys, types, choices: one-line InputErrors)."""
    cfg = build_options(SaliencyTrainConfig, CHOICES, config, where, overrides)
    if not cfg.train_images or not cfg.train_maps:
        raise InputError("training needs train_images and train_maps", where)
    if bool(cfg.val_images) != bool(cfg.val_maps):
        raise InputError("give both val_images and val_maps, or neither", where)
    if cfg.val_fixations and not cfg.val_maps:
        raise InputError("val_fixations needs val_images and val_maps", where)
    if cfg.w_nss and not cfg.train_fixations:
        raise InputError("w_nss > 0 needs train_fixations", where)
    if cfg.w_kld < 0 or cfg.w_cc < 0 or cfg.w_nss < 0 or not (cfg.w_kld or cfg.w_cc or cfg.w_nss):
        raise InputError("loss weights must be >= 0 and not all 0", where)
    for key in ("epochs", "batch_size", "log_every", "lr_step"):
        if getattr(cfg, key) < 1:
            raise InputError(f"option {key!r} must be >= 1", where)
    if cfg.input_height < 32 or cfg.input_width < 32:
        raise InputError("input_height and input_width must be >= 32", where)
    if cfg.checkpoint_every < 0 or cfg.workers < 0 or cfg.readout_hidden < 0:
        raise InputError("checkpoint_every, workers and readout_hidden must be >= 0", where)
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise InputError("lr must be positive", where)
    return cfg


def load_saliency_config(path: str | os.PathLike, **overrides: Any) -> SaliencyTrainConfig:
    """Read a TOML file of :class:`SaliencyTrainConfig` keys (top level or a ``[train_saliency]`` table)."""
    data = read_toml_options(path, "train_saliency")
    return resolve_saliency_config(data, where=str(path), **overrides)
