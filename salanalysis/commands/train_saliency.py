"""``salanalysis train-saliency``: train the saliency network (the branch's phase 0) on SALICON."""

from __future__ import annotations

import argparse

from salanalysis.commands._torch import add_training_arguments, run_training_command
from salanalysis.dualstream.saliency.config import SPEC


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-saliency",
        help="train the saliency network (ResNet-50 + readout) on SALICON maps (torch)",
        description="Train the single-scale SALICON-style saliency network: ResNet-50, a readout "
        "to one channel, bilinear upsampling, softmax over pixels; KLD loss (CC and NSS terms "
        "optional). Options come from --config (TOML, top level or a [train_saliency] table) and "
        "are overridden by flags. Checkpoints out/last.pt (resume with --resume) and out/model.pt "
        "(for 'salanalysis saliency predict' and 'salanalysis train --phase 1b --branch-init'). "
        "Each epoch prints its loss, images/s and validation metrics on stderr. "
        "Run under torchrun for several processes.",
    )
    add_training_arguments(p, SPEC, "network input, SIZE or HEIGHT WIDTH (default 480 640, SALICON's)")
    p.set_defaults(func=run)


def _describe(result) -> list[str]:
    if result.model_path is not None:
        lines = [f"saliency network: {result.model_path} (checkpoint {result.checkpoint})"]
    else:
        lines = [f"stopped at step {result.step}: resume with --resume {result.checkpoint}"]
    if result.metrics:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if k != "n_images")
        lines.append(f"validation ({result.metrics.get('n_images', 0)} images): {shown}")
    return lines


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.saliency.train import train_saliency

    return run_training_command(args, SPEC, train_saliency, _describe)
