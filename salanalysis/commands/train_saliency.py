"""``salanalysis train-saliency``: train the saliency network (the branch's phase 0) on SALICON."""

from __future__ import annotations

import argparse
import os


def _flag_type(ftype: str):
    if ftype.startswith("int"):
        return int
    if ftype.startswith("float"):
        return float
    return str


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
    _add_config_flags(p)
    p.set_defaults(func=run)


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    # Field names and help are static data of the library module, which imports torch;
    # argparse needs them at registration, so they are listed here without importing it.
    for name, ftype, help_text in _FIELDS:
        flag = "--" + name.replace("_", "-")
        if ftype.startswith("bool"):
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, dest=name, type=_flag_type(ftype), default=None, help=help_text)


# (name, type, help) of every SaliencyTrainConfig field; tests check this list against the dataclass.
_FIELDS: list[tuple[str, str, str]] = [
    ("train_images", "str", "folder of the training images (SALICON images/train)"),
    ("train_maps", "str", "folder of the training ground-truth maps (SALICON maps/train)"),
    ("train_fixations", "str | None", "training fixations (.json, .mat file or folder); needed for --w-nss"),
    ("val_images", "str | None", "folder of the validation images (per-epoch metrics)"),
    ("val_maps", "str | None", "folder of the validation ground-truth maps"),
    ("val_fixations", "str | None", "validation fixations (NSS, AUC-Judd)"),
    ("out", "str", "output folder (default runs/saliency)"),
    ("weights", "str", "backbone init: imagenet (default), none or a local file"),
    ("readout_hidden", "int", "0 (default): 1x1 conv 2048->1; k: 3x3 conv 2048->k, ReLU, 1x1 conv"),
    ("input_height", "int", "network input height (default 480)"),
    ("input_width", "int", "network input width (default 640)"),
    ("w_kld", "float", "weight of KL(ground truth || prediction) (default 1)"),
    ("w_cc", "float", "weight of (1 - CC) (default 0)"),
    ("w_nss", "float", "weight of -NSS (default 0; needs fixations)"),
    ("optimizer", "str", "sgd (default) or adam"),
    ("epochs", "int", "epochs (default 10)"),
    ("batch_size", "int", "global batch size (default 8)"),
    ("lr", "float", "learning rate (default 1e-3)"),
    ("momentum", "float", "SGD momentum (default 0.9)"),
    ("weight_decay", "float", "weight decay (default 1e-4)"),
    ("scheduler", "str", "none (default), step or cosine"),
    ("lr_step", "int", "epochs between lr steps (default 5)"),
    ("lr_gamma", "float", "lr step factor (default 0.1)"),
    ("hflip", "bool", "random horizontal flips (default off)"),
    ("missing_images", "str", "error (default) or skip maps without an image"),
    ("workers", "int", "DataLoader workers per process (default 4)"),
    ("persistent_workers", "bool", "keep workers between epochs (default on)"),
    ("pin_memory", "bool | None", "pin host memory (default: on CUDA)"),
    ("device", "str", "auto (default), cpu or cuda"),
    ("amp", "str", "bf16 (default; autocast on CUDA) or none"),
    ("channels_last", "bool | None", "channels_last memory format (default: on CUDA)"),
    ("compile", "bool", "torch.compile the model"),
    ("seed", "int", "seed (default 0)"),
    ("checkpoint_every", "int", "also checkpoint every N steps (default 0: epoch ends)"),
    ("log_every", "int", "log a step row every N steps (default 10)"),
    ("log_format", "str", "csv (default) or jsonl"),
    ("max_steps", "int | None", "stop after N steps in total"),
    ("progress", "bool", "progress bar (default on)"),
]


def run(args: argparse.Namespace) -> int:
    from salanalysis.dualstream.saliency_train import (
        load_saliency_config,
        resolve_saliency_config,
        train_saliency,
    )

    flags = {name: getattr(args, name) for name, _, _ in _FIELDS if getattr(args, name) is not None}
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
