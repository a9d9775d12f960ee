"""``salanalysis train-saliency``: train the saliency network (the branch's phase 0) on SALICON."""

from __future__ import annotations

import argparse
import os

from salanalysis.dualstream.config import add_config_flags, given_options
from salanalysis.dualstream.saliency_config import (
    CHOICES,
    SALIENCY_CONFIG_HELP,
    SaliencyTrainConfig,
)

_PATHS = ("train_images", "train_maps", "train_fixations", "val_images", "val_maps", "val_fixations", "out")
_METAVAR = {**{k: "PATH" for k in _PATHS}, "weights": "imagenet|none|PATH", "lr": "LR", "device": "auto|cpu|cuda"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-saliency",
        help="train the saliency network (ResNet-50 + readout) on SALICON maps (torch)",
        description="Train the single-scale SALICON-style saliency network: ResNet-50, a readout "
        "to one channel, bilinear upsampling, softmax over pixels; KLD loss (CC and NSS terms "
        "optional). Options come from --config (TOML, top level or a [train_saliency] table) and "
        "are overridden by flags. Checkpoints out/last.pt (resume with --resume) and out/model.pt "
        "(for 'salanalysis saliency predict' and 'salanalysis train --phase 1b --branch-init'). "
        "Run under torchrun for several processes.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file of options")
    p.add_argument("--resume", metavar="FILE", help="continue from a last.pt checkpoint")
    add_config_flags(p, SaliencyTrainConfig, SALIENCY_CONFIG_HELP, CHOICES, _METAVAR)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.saliency_config import load_saliency_config, resolve_saliency_config
    from salanalysis.dualstream.saliency_train import train_saliency

    flags = given_options(args, SaliencyTrainConfig)
    if args.config:
        cfg = load_saliency_config(args.config, **flags)
    elif args.resume:
        from salanalysis.dualstream.engine import load_checkpoint

        # the checkpoint's resolved config, with any flag overriding it
        saved = load_checkpoint(args.resume).get("config") or {}
        cfg = resolve_saliency_config(saved, where=args.resume, **flags) if flags else None
    else:
        cfg = resolve_saliency_config(flags)
    result = train_saliency(cfg, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    if result.model_path is not None:
        print(f"saliency network: {result.model_path} (checkpoint {result.checkpoint})")
    else:
        print(f"stopped at step {result.step}: resume with --resume {result.checkpoint}")
    if result.metrics:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if k != "n_images")
        print(f"validation ({result.metrics.get('n_images', 0)} images): {shown}")
    return 0
