"""``salanalysis train``: one phase of the paper's training recipe (torch; needs the ``train`` extra).

Every option of :class:`salanalysis.dualstream.config.TrainConfig` is a flag
(``--batch-size`` for ``batch_size``) and a key of the ``--config`` TOML file;
flags given on the command line override the file. The same command runs on one
process or on N under ``torchrun --nproc_per_node N -m salanalysis train ...``.
"""

from __future__ import annotations

import argparse

from salanalysis.dualstream.config import (
    CHOICES,
    CONFIG_HELP,
    TrainConfig,
    add_config_flags,
    given_options,
)

_PATHS = ("train_annotations", "train_images", "val_annotations", "val_images", "out", "branch_init",
          "trunk", "branch", "init")
_METAVAR = {**{k: "PATH" for k in _PATHS}, "weights": "imagenet|none|PATH", "lr": "LR",
            "momentum": "X", "weight_decay": "X", "lr_gamma": "X", "device": "auto|cpu|cuda"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the ResNet-50 baseline / dual-stream model (phases 1, 1b, 2, 3)",
        description="Train one phase of the dual-stream recipe on COCO: 1 (trunk: ImageNet ResNet-50 "
        "fine-tuned), 1b (branch: saliency network converted to a classifier, fine-tuned), 2 (only "
        "the final linear layer of the dual-stream model, lr 1e-5), 3 (everything, lr 1e-6). "
        "Checkpoints, log and resolved config go to --out; --resume continues exactly. "
        "Run under torchrun for several processes.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file of options (flags override it)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a last.pt checkpoint")
    add_config_flags(p, TrainConfig, CONFIG_HELP, CHOICES, _METAVAR)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.config import load_config, resolve_config
    from salanalysis.dualstream.train import train
    from salanalysis.errors import InputError

    given = given_options(args, TrainConfig)
    try:
        if args.resume:
            cfg = load_config(args.config) if args.config else None
            result = train(cfg, resume=args.resume, overrides=given)
        else:
            cfg = load_config(args.config, **given) if args.config else resolve_config(given)
            result = train(cfg)
    except FloatingPointError as exc:  # divergence: one line, exit status 2, like bad input
        raise InputError(str(exc), args.out or args.resume or args.config) from exc
    m = result.metrics.get("mAP")
    msg = f"trained {result.step} steps ({result.epoch} epochs); checkpoint {result.checkpoint}"
    if result.model_path is not None:
        msg += f"; model {result.model_path}"
    if m is not None:
        msg += f"; mAP {m:.4f}"
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        print(msg)
    return 0
