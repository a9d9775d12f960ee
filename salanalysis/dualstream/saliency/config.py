"""Options of ``salanalysis train-saliency`` (torch-free, so the command line can build its flags).

:class:`SaliencyTrainConfig` lists every option; TOML config files use the same
keys (top level or a ``[train_saliency]`` table) and the command line the same
names as ``--flags`` (dashes for underscores), through the one mechanism of
:mod:`salanalysis.dualstream.options` (:data:`SPEC`). :func:`resolve_saliency_config`
validates a mapping (unknown keys, types and choices are one-line
InputErrors), :func:`load_saliency_config` reads a TOML file. The old keys
``input_height`` / ``input_width`` are read as the parts of ``input_size``
(a TOML file using them gets a note). The training itself is
:func:`salanalysis.dualstream.saliency.train.train_saliency`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salanalysis.dualstream.options import RUN_HELP, RUN_RESUME_OVERRIDABLE, ConfigSpec, RunOptions
from salanalysis.errors import InputError

__all__ = [
    "SaliencyTrainConfig",
    "SALIENCY_CONFIG_HELP",
    "RESUME_OVERRIDABLE",
    "CHOICES",
    "SPEC",
    "resolve_saliency_config",
    "load_saliency_config",
]


@dataclass
class SaliencyTrainConfig(RunOptions):
    """Every option of ``salanalysis train-saliency`` (TOML keys and ``--flags`` share the names).

    The shared run options come from :class:`~salanalysis.dualstream.options.RunOptions`
    (with other defaults for ``out``, ``batch_size``, ``lr`` and ``lr_step``).
    """

    train_images: str = ""
    train_maps: str = ""
    train_fixations: str | None = None
    val_images: str | None = None
    val_maps: str | None = None
    val_fixations: str | None = None
    out: str = "runs/saliency"
    readout_hidden: int = 0
    input_size: tuple[int, int] = (480, 640)
    w_kld: float = 1.0
    w_cc: float = 0.0
    w_nss: float = 0.0
    optimizer: str = "sgd"
    batch_size: int = 8
    lr: float = 1e-3
    lr_step: int = 5
    hflip: bool = False


SALIENCY_CONFIG_HELP: dict[str, str] = {
    **RUN_HELP,
    "train_images": "folder of the training images (SALICON images/train)",
    "train_maps": "folder of the training ground-truth maps (SALICON maps/train)",
    "train_fixations": "training fixations (2015 .json, 2017 .mat file or folder); needed for w_nss",
    "val_images": "folder of the validation images (per-epoch metrics; optional)",
    "val_maps": "folder of the validation ground-truth maps",
    "val_fixations": "validation fixations (NSS and AUC-Judd; optional)",
    "readout_hidden": "0: one 1x1 conv D->1 (D = 2048 for ResNet-50); k: 3x3 conv D->k, ReLU, 1x1 conv k->1",
    "input_size": "network input, SIZE or HEIGHT WIDTH (480 640: SALICON's images)",
    "w_kld": "weight of the KL divergence KL(ground truth || prediction)",
    "w_cc": "weight of (1 - CC)",
    "w_nss": "weight of -NSS (needs fixations)",
    "optimizer": "'sgd' (momentum, weight decay) or 'adam' (weight decay as L2)",
    "weight_decay": "weight decay",
    "hflip": "random horizontal flips of image, map and fixations",
    "missing": "maps whose image file is absent: 'error' (default) or 'skip' (left out and counted; the old "
               "spelling --missing-images is accepted with a note)",
}

RESUME_OVERRIDABLE = {*RUN_RESUME_OVERRIDABLE, "train_maps", "train_fixations", "val_maps", "val_fixations"}

_CHOICES = {"optimizer": ("sgd", "adam")}

_PATHS = ("train_images", "train_maps", "train_fixations", "val_images", "val_maps", "val_fixations")
METAVARS = {k: "PATH" for k in _PATHS}


def _validate(cfg: SaliencyTrainConfig, where: str | None) -> None:
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
    if cfg.readout_hidden < 0:
        raise InputError("option 'readout_hidden' must be >= 0", where)


#: How :class:`SaliencyTrainConfig` is read, checked and turned into flags.
SPEC = ConfigSpec(
    SaliencyTrainConfig, "train_saliency", choices=_CHOICES, helps=SALIENCY_CONFIG_HELP, metavars=METAVARS,
    validate=_validate, resume_overridable=frozenset(RESUME_OVERRIDABLE),
    renamed={"input_height": ("input_size", 0), "input_width": ("input_size", 1)},
)
#: Allowed values of the options that have a fixed set.
CHOICES = SPEC.choices


def resolve_saliency_config(
    config: SaliencyTrainConfig | Mapping[str, Any] | None = None, where: str | None = None, **overrides: Any
) -> SaliencyTrainConfig:
    """A validated :class:`SaliencyTrainConfig` (unknown keys, types, choices: one-line InputErrors)."""
    return SPEC.resolve(config, where, **overrides)


def load_saliency_config(path: str | os.PathLike, **overrides: Any) -> SaliencyTrainConfig:
    """Read a TOML file of :class:`SaliencyTrainConfig` keys (top level or a ``[train_saliency]`` table)."""
    return SPEC.load(path, **overrides)
