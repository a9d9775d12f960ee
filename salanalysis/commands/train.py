"""``salanalysis train``: one phase of the paper's training recipe (torch; needs the ``train`` extra).

Every option of :class:`salanalysis.dualstream.config.TrainConfig` is a flag
(``--batch-size`` for ``batch_size``) and a key of the ``--config`` TOML file;
flags given on the command line override the file. The same command runs on one
process or on N under ``torchrun --nproc_per_node N -m salanalysis train ...``.
"""

from __future__ import annotations

import argparse

from salanalysis.commands._torch import add_training_arguments, run_training_command
from salanalysis.dualstream.config import SPEC


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the ResNet-50 baseline / dual-stream model (phases 1, 1b, 2, 3)",
        description="Train one phase of the dual-stream recipe on COCO: 1 (trunk: ImageNet ResNet-50 "
        "fine-tuned), 1b (branch: saliency network converted to a classifier, fine-tuned), 2 (only "
        "the final linear layer of the dual-stream model, lr 1e-5), 3 (everything, lr 1e-6). "
        "Checkpoints, log and resolved config go to --out; --resume continues exactly. Each epoch "
        "prints its loss, images/s and validation metrics on stderr. "
        "Run under torchrun for several processes. The paper states the backbone, 224 px, max pooling, "
        "momentum 0.9, weight decay 1e-4 and the phase 2/3 rates; the defaults for epochs, batch size, "
        "the phase 1/1b rate, schedule and crops are ours (analyses/train_paper.toml marks each value). "
        "Phase 1b runs with a seed derived from --seed, so the dual-stream baseline's branch "
        "(--variant baseline) differs from the trunk.",
    )
    add_training_arguments(p, SPEC, "network input: the square crop's side (default 224; "
                           "the classifiers refuse HEIGHT WIDTH that differ)")
    p.set_defaults(func=run)


def _describe(result) -> list[str]:
    msg = f"trained {result.step} steps ({result.epoch} epochs); checkpoint {result.checkpoint}"
    if result.model_path is not None:
        msg += f"; model {result.model_path}"
    m = result.metrics.get("mAP")
    if m is not None:
        msg += f"; mAP {m:.4f}"
    return [msg]


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.train import train

    return run_training_command(args, SPEC, train, _describe)
