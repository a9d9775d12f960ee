"""Training options of :mod:`salanalysis.dualstream.train` (torch-free, so the CLI can build flags).

:class:`TrainConfig` lists every option; TOML config files use the same keys
(top level or a ``[train]`` table) and the command line the same names as
``--flags`` (dashes for underscores), through the one mechanism of
:mod:`salanalysis.dualstream.options` (:data:`SPEC`). :func:`resolve_config`
validates a mapping (unknown keys, types and choices are one-line
InputErrors), :func:`load_config` reads a TOML file. The old key
``image_size`` is read as ``input_size`` (a TOML file using it gets a note).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from salanalysis.dualstream.options import (
    EVAL_CROPS,
    PIPELINES,
    RUN_HELP,
    RUN_RESUME_OVERRIDABLE,
    TRAIN_CROPS,
    ConfigSpec,
    RunOptions,
)
from salanalysis.errors import InputError

__all__ = [
    "PHASES",
    "PHASE_LR",
    "TrainConfig",
    "CONFIG_HELP",
    "RESUME_OVERRIDABLE",
    "SPEC",
    "CHOICES",
    "resolve_config",
    "load_config",
    "learning_rate",
    "phase_seed",
]

PHASES = ("1", "1b", "2", "3")
PHASE_LR = {"1": 1e-3, "1b": 1e-3, "2": 1e-5, "3": 1e-6}


@dataclass
class TrainConfig(RunOptions):
    """Every training option (TOML keys and ``--flags`` share these names; see :data:`CONFIG_HELP`).

    The shared run options (output, schedule, engineering) come from
    :class:`~salanalysis.dualstream.options.RunOptions`.
    """

    phase: str = "1"
    variant: str = "saliency"
    train_annotations: str = ""
    train_images: str = ""
    val_annotations: str | None = None
    val_images: str | None = None
    branch_init: str | None = None
    trunk: str | None = None
    branch: str | None = None
    init: str | None = None
    fc_init: str = "average"
    pooling: str = "max"
    input_size: int = 224
    resize_size: int | None = None
    augment: bool = True
    train_crop: str = "random-resized"
    crop_scale: float = 0.08
    eval_crop: str = "center"
    pipeline: str = "auto"
    include_empty: bool = True
    include_crowd: bool = True
    bn: str = "train"
    tensorboard: bool = True


CONFIG_HELP: dict[str, str] = {
    **RUN_HELP,
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
    "lr": "learning rate (default per phase: 1e-3, 1e-3 (ours: the paper gives none), 1e-5, 1e-6 (paper))",
    "epochs": "number of epochs (default 10: ours, the paper gives none)",
    "batch_size": "global batch size, split over processes (default 32: ours, the paper gives none)",
    "scheduler": "'none' (default: ours, the paper names no schedule), 'step' (x lr_gamma every lr_step "
                 "epochs) or 'cosine' (over the epochs, the multi-label literature's usual choice)",
    "momentum": "SGD momentum (0.9: paper)",
    "weight_decay": "SGD weight decay (1e-4: paper)",
    "input_size": "network input: the square crop's side (224 in the paper)",
    "resize_size": "evaluation resize of the short side (default input_size * 256 / 224)",
    "augment": "training augmentation (train_crop + flip; off: the evaluation transform)",
    "train_crop": "training crop (ours; the paper gives none): 'random-resized' (ImageNet-style, area "
                  "crop_scale-1; can cut labelled objects out) or 'whole' (multi-label-safe: the whole image "
                  "resized to the square)",
    "crop_scale": "smallest area fraction of a 'random-resized' training crop (torchvision's 0.08)",
    "eval_crop": "evaluation crop (ours): 'center' (short side to resize_size, center square: a 640x480 "
                 "image loses a third of its width) or 'whole' (the whole image resized to the square)",
    "pipeline": "input pipeline: 'cpu' (Pillow decoding and crops in the DataLoader workers, normalised on "
                "the device), 'gpu' (experimental, unverified on a GPU so far: workers read bytes; nvJPEG "
                "decodes, crops and flips batches on the GPU) or 'auto' (= cpu)",
    "include_empty": "keep images without annotations as all-negative",
    "include_crowd": "crowd annotations make a label positive",
    "bn": "'train' (BatchNorm statistics updated) or 'frozen' (eval-mode BatchNorm)",
    "tensorboard": "write TensorBoard events when tensorboard is installed",
}

#: Options a resumed run may change without breaking exact continuation.
RESUME_OVERRIDABLE = {*RUN_RESUME_OVERRIDABLE, "tensorboard", "val_annotations", "pipeline"}

_CHOICES = {
    "phase": PHASES,
    "variant": ("saliency", "baseline"),
    "fc_init": ("average", "random"),
    "pooling": ("max", "avg"),
    "bn": ("train", "frozen"),
    "pipeline": PIPELINES,
    "train_crop": TRAIN_CROPS,
    "eval_crop": EVAL_CROPS,
}

_PATHS = ("train_annotations", "train_images", "val_annotations", "val_images", "branch_init", "trunk",
          "branch", "init")
METAVARS = {**{k: "PATH" for k in _PATHS}, "crop_scale": "X"}


def _validate(cfg: TrainConfig, where: str | None) -> None:
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
    if not 0 < cfg.crop_scale <= 1:
        raise InputError(f"crop_scale must lie in (0, 1], got {cfg.crop_scale}", where)


#: How :class:`TrainConfig` is read, checked and turned into flags.
SPEC = ConfigSpec(
    TrainConfig, "train", choices=_CHOICES, helps=CONFIG_HELP, metavars=METAVARS, validate=_validate,
    resume_overridable=frozenset(RESUME_OVERRIDABLE), renamed={"image_size": ("input_size", None)},
    square_input=True,
)
#: Allowed values of the options that have a fixed set.
CHOICES = SPEC.choices


def resolve_config(config: TrainConfig | Any = None, where: str | None = None, **overrides: Any) -> TrainConfig:
    """A validated :class:`TrainConfig` from a config, a mapping and/or keyword overrides.

    Unknown keys, bad types and bad choices are one-line InputErrors (naming
    ``where``, e.g. the TOML file).
    """
    return SPEC.resolve(config, where, **overrides)


def load_config(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a TOML file of :class:`TrainConfig` keys (top level or a ``[train]`` table).

    Relative paths in the file are taken relative to the working directory, as on
    the command line; ``overrides`` (e.g. explicit flags) win over the file.
    """
    return SPEC.load(path, **overrides)


def learning_rate(cfg: TrainConfig) -> float:
    """The configured lr, else the phase default (:data:`PHASE_LR`)."""
    return float(cfg.lr) if cfg.lr is not None else PHASE_LR[cfg.phase]


def phase_seed(seed: int, phase: str) -> int:
    """The seed a phase runs with: ``seed`` itself, except phase 1b, which derives its own.

    Phase 1b's branch must differ from phase 1's trunk even when both start from
    the same weights (the dual-stream baseline, ``variant="baseline"``: both from
    ImageNet) and the user keeps the default ``seed``: a shared seed gives the
    same data order, augmentation and ``fc`` initialisation, i.e. the same
    network twice. Phase 1b's seed is a 31-bit hash of ``(seed, "1b")``
    (NumPy's ``SeedSequence``), so it differs from every small seed phase 1 is
    likely to use and is still a pure function of the configuration (resuming
    gives the same).
    """
    if phase != "1b":
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence([int(seed) % 2**32, 0x1B]).generate_state(1)[0] >> 1)



