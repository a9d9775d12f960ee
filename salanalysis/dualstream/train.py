r"""Training: the paper's three phases (Sec. 5.1), resumable, distributed, mixed precision.

Phases
------
``"1"``  the trunk: a Baseline whose ResNet-50 starts from ``weights`` (ImageNet
         by default) fine-tuned on COCO; everything trained.
``"1b"`` the branch: a Baseline initialised from ``branch_init`` (the saliency
         network of issue 10 converted to a classifier: a checkpoint or state
         dict; its ``fc`` is used when the shape matches) fine-tuned on COCO;
         everything trained. With ``variant="baseline"`` (the paper's
         "dual-stream baseline", branch *not* saliency-trained) the branch starts
         from ``weights`` instead, like phase 1 (use another ``seed``).
``"2"``  a DualStream from the phase-1 (``trunk``) and phase-1b (``branch``)
         checkpoints; trunk and branch frozen (parameters without gradients,
         BatchNorm statistics fixed), only the final ``Linear(4096, 2C)`` trained,
         lr 1e-5. Its start is ``fc_init``: ``"average"`` (default,
         ``0.5 [W_t, W_b]``, i.e. the mean of the two baselines' logits) or ``"random"``.
``"3"``  the phase-2 checkpoint (``init``) fine-tuned with everything trained, lr 1e-6.

SGD with momentum 0.9 and weight decay 1e-4 (He et al., as the paper); the MCE
loss (:func:`~salanalysis.dualstream.loss.mce_loss`). The paper gives no
learning rate for phases 1/1b: the default here is 1e-3 (the summed MCE loss
has C times the gradient of a mean BCE).

Engineering
-----------
* ``batch_size`` is the **global** batch: each of N processes takes
  ``batch_size / N``; an epoch is ``len(dataset) // batch_size`` full steps on
  every world size, and (with :class:`~salanalysis.dualstream.data.SeededSampler`)
  the union of the N per-rank batches of a step is the single-process batch.
* Checkpoints (``out/last.pt``, atomic) every ``checkpoint_every`` steps and at each
  epoch's end hold the model, optimizer, scheduler, epoch, batches done in the
  epoch, global step, every rank's RNG states, the sampler state, the resolved
  config and the model description. ``resume`` continues exactly: same order
  (seeded per epoch), consumed batches skipped, augmentation seeded per (epoch,
  image), optimizer momentum and RNG restored.
* ``out/model.pt`` (weights + description, for ``salanalysis predict``),
  ``out/config.json`` (resolved config), ``out/log.csv`` or ``out/log.jsonl``
  (one ``step`` row every ``log_every`` steps, one ``epoch`` row per epoch with
  train loss, val loss and mAP through :func:`salanalysis.metrics.average_precision`),
  TensorBoard events when ``tensorboard`` is importable.
* bf16 autocast and channels_last on CUDA, optional ``torch.compile``,
  DistributedDataParallel under ``torchrun`` (NCCL on GPU, gloo on CPU), evaluation
  gathered over ranks without the sampler's padding duplicates.
* ``bn="frozen"`` keeps BatchNorm layers in eval mode (running statistics used
  and not updated; affine parameters still trained). Then per-rank batch size
  does not change the maths, so N processes reproduce one process up to
  floating-point summation order.

Example: the paper's recipe
---------------------------
::

    # phase 1: the trunk (ImageNet ResNet-50 fine-tuned on COCO train2014)
    salanalysis train --phase 1 --weights imagenet \
        --train-annotations instances_train2014.json --train-images train2014/ \
        --val-annotations instances_val2014.json --val-images val2014/ --out runs/trunk
    # phase 1b: the branch (saliency network converted to a classifier, fine-tuned)
    salanalysis train --phase 1b --branch-init saliency_classifier.pt ... --out runs/branch
    #   (the dual-stream baseline: --phase 1b --variant baseline --seed 1, branch from ImageNet)
    # phase 2: only the final linear layer, lr 1e-5
    salanalysis train --phase 2 --trunk runs/trunk/model.pt --branch runs/branch/model.pt ... --out runs/p2
    # phase 3: everything, lr 1e-6
    salanalysis train --phase 3 --init runs/p2/model.pt ... --out runs/p3
    # scores for the analyses
    salanalysis predict --checkpoint runs/p3/model.pt --annotations instances_val2014.json \
        --images val2014/ --out dualstream.csv

On N GPUs: ``torchrun --nproc_per_node N -m salanalysis train ...`` (same options;
``--batch-size`` stays the global batch). Resume: ``salanalysis train --resume runs/p3/last.pt``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from salanalysis.coco import Annotations
from salanalysis.dualstream.config import (
    PHASE_LR,
    PHASES,
    RESUME_OVERRIDABLE,
    TrainConfig,
    learning_rate,
    load_config,
    resolve_config,
)
from salanalysis.dualstream.data import (
    CocoMultiLabel,
    eval_transform,
    train_transform,
)
from salanalysis.dualstream.engine import (
    DistInfo,
    LoopState,
    RunLog,
    RunResult,
    all_gather_objects,
    autocast,
    barrier,
    batch_plan,
    check_resume_config,
    cleanup_distributed,
    iter_bn,
    load_checkpoint,
    load_weights_into,
    make_loaders,
    make_scheduler,
    read_state_dict,
    restore_training_state,
    run_epochs,
    runtime_options,
    save_model_file,
    save_training_checkpoint,
    seed_everything,
    setup_distributed,
    wrap_model,
    write_run_config,
)
from salanalysis.dualstream.loss import mce_loss
from salanalysis.dualstream.models import (
    Backbone,
    Baseline,
    DualStream,
    model_from_meta,
    model_meta,
    probabilities,
)
from salanalysis.errors import InputError

__all__ = [
    "TrainConfig",
    "TrainResult",
    "PHASE_LR",
    "load_config",
    "resolve_config",
    "build_phase_model",
    "set_phase",
    "set_train_mode",
    "evaluate",
    "train",
    "RESUME_OVERRIDABLE",
]

CHECKPOINT_FORMAT = "salanalysis.dualstream/1"
LOG_COLUMNS = ["kind", "epoch", "step", "loss", "lr", "val_loss", "mAP", "images_per_s", "seconds"]


@dataclass
class TrainResult(RunResult):
    """What :func:`train` returns (on every rank).

    Attributes
    ----------
    out
        The output folder.
    checkpoint
        ``out/last.pt``.
    model_path
        ``out/model.pt`` (None when the run stopped before its end, e.g. ``max_steps``).
    step, epoch
        Global steps done; epochs completed.
    history
        The log rows of this call (dicts with :data:`LOG_COLUMNS`).
    metrics
        The last evaluation: ``mAP``, ``val_loss``, ``AP`` (per class, NaN without positives).
    """


# ---------------------------------------------------------------------- models
def _classes_of(path: str) -> dict | None:
    try:
        ck = load_checkpoint(path)
    except InputError:
        raise
    return ck.get("meta") if isinstance(ck.get("meta"), dict) else None


def _check_classes(meta: dict | None, category_ids: np.ndarray, path: str) -> None:
    if meta and meta.get("category_ids") is not None:
        if [int(c) for c in meta["category_ids"]] != [int(c) for c in category_ids]:
            raise InputError(
                f"checkpoint was trained on {len(meta['category_ids'])} categories that differ from "
                f"the annotations' {len(category_ids)}",
                path,
            )


def build_phase_model(cfg: TrainConfig, num_classes: int, category_ids: np.ndarray | None = None) -> nn.Module:
    """The model a phase starts from (on CPU), initialised as the phase prescribes."""
    from salanalysis.dualstream.engine import load_resnet50

    ids = category_ids if category_ids is not None else np.arange(num_classes)
    if cfg.phase == "1" or (cfg.phase == "1b" and cfg.variant == "baseline"):
        return Baseline(num_classes, cfg.pooling, Backbone(load_resnet50(cfg.weights)))
    if cfg.phase == "1b":
        model = Baseline(num_classes, cfg.pooling)
        _check_classes(_classes_of(cfg.branch_init), ids, cfg.branch_init)
        load_weights_into(model, cfg.branch_init, stream="branch")
        return model
    if cfg.phase == "2":
        parts = []
        for path in (cfg.trunk, cfg.branch):
            meta = _classes_of(path)
            _check_classes(meta, ids, path)
            pooling = (meta or {}).get("pooling", cfg.pooling)
            b = Baseline(num_classes, pooling)
            skipped = load_weights_into(b, path)
            if skipped and cfg.fc_init == "average":
                raise InputError(
                    "has no linear layer for these classes: fc_init 'average' needs trained baselines "
                    "(or use fc_init 'random')",
                    path,
                )
            parts.append(b)
        return DualStream.from_baselines(parts[0], parts[1], cfg.fc_init)
    # phase 3
    meta = _classes_of(cfg.init)
    _check_classes(meta, ids, cfg.init)
    if meta and meta.get("arch") not in (None, "dualstream"):
        raise InputError(f"phase 3 starts from a DualStream, got a {meta['arch']!r} checkpoint", cfg.init)
    model = DualStream(num_classes, (meta or {}).get("pooling", cfg.pooling))
    sd = read_state_dict(cfg.init)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise InputError(f"not a DualStream checkpoint: {str(exc).splitlines()[0]}", cfg.init) from exc
    return model


def set_phase(model: nn.Module, phase: str) -> list[nn.Parameter]:
    """Set ``requires_grad`` for ``phase`` (phase 2: only ``fc``); return the trainable parameters."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}")
    for p in model.parameters():
        p.requires_grad_(phase != "2")
    if phase == "2":
        for p in model.fc.parameters():
            p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model: nn.Module, phase: str, bn: str = "train") -> None:
    """``model.train()``, except frozen backbones (phase 2) and, with ``bn="frozen"``, BatchNorm."""
    model.train()
    if phase == "2":
        for b in model.backbones:
            b.eval()
    if bn == "frozen":
        for m in iter_bn(model):
            m.eval()


# ------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device,
    *,
    amp: bool = True,
    channels_last: bool = False,
    labels: np.ndarray | None = None,
) -> dict:
    """Probabilities of every item, gathered over ranks without padding duplicates, and mAP.

    Returns a dict: ``index`` (item rows, ascending), ``probs`` (N, C), ``val_loss``
    (mean MCE over the N items), and when ``labels`` (all items' (N_all, C)) is given
    ``AP`` (C,) and ``mAP`` (mean over classes with a positive) from
    :func:`salanalysis.metrics.average_precision`.
    """
    from salanalysis.metrics import average_precision

    model.eval()
    idx, probs, losses = [], [], []
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for images, targets, index in loader:
        images = images.to(device, non_blocking=True, memory_format=fmt)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(images)
        logits = logits.float()
        losses.append(mce_loss(logits, targets, reduction="none").cpu().numpy())
        probs.append(probabilities(logits).cpu().numpy())
        idx.append(index.numpy())
    local = (
        np.concatenate(idx) if idx else np.zeros(0, np.int64),
        np.concatenate(probs) if probs else np.zeros((0, 0)),
        np.concatenate(losses) if losses else np.zeros(0),
    )
    parts = all_gather_objects(local)
    all_idx = np.concatenate([p[0] for p in parts])
    all_probs = np.concatenate([p[1] for p in parts if p[1].size])
    all_loss = np.concatenate([p[2] for p in parts])
    uniq, first = np.unique(all_idx, return_index=True)  # drops the sampler's padding repeats
    out = {"index": uniq, "probs": all_probs[first].astype(np.float64), "val_loss": float(all_loss[first].mean())}
    if not np.isfinite(out["probs"]).all():
        raise FloatingPointError(
            "evaluation gave NaN or infinite probabilities: the model diverged, or its BatchNorm "
            "running statistics do not fit its weights yet (e.g. a few steps from random weights)"
        )
    if labels is not None:
        ap = average_precision(labels[uniq].astype(bool), out["probs"])
        out["AP"] = ap
        out["mAP"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return out


# ------------------------------------------------------------------------ train
def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    resume: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Run one training phase (on 1 process, or N under ``torchrun``).

    Parameters
    ----------
    config
        A :class:`TrainConfig` or mapping of its keys. With ``resume`` and no
        config, the checkpoint's resolved config is used.
    resume
        A ``last.pt`` checkpoint: continue exactly where it stopped. Options in
        :data:`RESUME_OVERRIDABLE` may differ from the checkpoint's; any other
        difference is an InputError.
    overrides
        Options applied on top of ``config`` (or of the checkpoint's config when
        resuming without one), e.g. the command line's explicit flags.
    on_step
        Called with the global step after each optimisation step (and after any
        checkpoint of that step): a hook for tests and monitoring.
    """
    ckpt = None
    if resume is not None:
        ckpt = load_checkpoint(resume)
        if ckpt.get("format") != CHECKPOINT_FORMAT or "optimizer" not in ckpt:
            raise InputError("not a training checkpoint of salanalysis (no optimizer state)", resume)
        saved = resolve_config(ckpt["config"], where=str(resume))
        cfg = resolve_config(saved if config is None else config, **dict(overrides or {}))
        check_resume_config(cfg, saved, RESUME_OVERRIDABLE, resume)
    else:
        if config is None:
            raise ValueError("give a config or a checkpoint to resume")
        cfg = resolve_config(config, **dict(overrides or {}))
    info = setup_distributed(cfg.device)
    try:
        return _train(cfg, info, ckpt, resume, on_step)
    finally:
        cleanup_distributed()


def _train(cfg: TrainConfig, info: DistInfo, ckpt: dict | None, resume, on_step) -> TrainResult:
    device = info.device
    out = Path(cfg.out)
    seed_everything(cfg.seed + info.rank)
    amp, cl, pin, fmt = runtime_options(cfg, device)

    # data
    ann = Annotations.load(cfg.train_annotations)
    tf = train_transform(cfg.image_size) if cfg.augment else eval_transform(cfg.image_size, cfg.resize_size)
    train_ds = CocoMultiLabel(ann, cfg.train_images, tf, include_empty=cfg.include_empty,
                              include_crowd=cfg.include_crowd, missing=cfg.missing_images)
    per_rank, steps_per_epoch = batch_plan(len(train_ds), cfg.batch_size, info.world_size, "training images",
                                           cfg.train_annotations)
    val_ds = None
    if cfg.val_annotations:
        val_ds = CocoMultiLabel(cfg.val_annotations, cfg.val_images,
                                eval_transform(cfg.image_size, cfg.resize_size),
                                include_empty=cfg.include_empty, include_crowd=cfg.include_crowd,
                                missing=cfg.missing_images)
        if list(val_ds.category_ids) != list(train_ds.category_ids):
            raise InputError("validation categories differ from the training categories", cfg.val_annotations)

    # model and optimisation
    if ckpt is not None:
        _check_classes(ckpt["meta"], train_ds.category_ids, str(resume))
        model = model_from_meta(ckpt["meta"])
        model.load_state_dict(ckpt["model"])
    else:
        model = build_phase_model(cfg, train_ds.num_classes, train_ds.category_ids)
    meta = model_meta(model, train_ds.category_ids, train_ds.category_names)
    params = set_phase(model, cfg.phase)
    model.to(device, memory_format=fmt)
    optimizer = torch.optim.SGD(params, lr=learning_rate(cfg), momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg)
    state = LoopState()
    if ckpt is not None:
        state.epoch, state.step, state.done = restore_training_state(ckpt, optimizer, scheduler, info)
        state.loss_sum = float(ckpt.get("epoch_loss_sum", 0.0))
    raw = model
    run = wrap_model(model, info, cfg.compile)
    sampler, loader, val_loader = make_loaders(train_ds, val_ds, info, cfg, per_rank, steps_per_epoch, pin)

    write_run_config(out, info, {**asdict(cfg), "world_size": info.world_size, "lr_resolved": learning_rate(cfg)})
    log = RunLog(out, cfg.log_format, LOG_COLUMNS, info.is_main, state.step if ckpt is not None else None,
                 tensorboard=cfg.tensorboard, tb_keys=("loss", "lr", "val_loss", "mAP", "images_per_s"))
    history_start = len(log.rows)
    last = out / "last.pt"

    def kept(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if k in ("mAP", "val_loss")}

    def checkpoint(st: LoopState, ep: int, batches: int) -> None:
        save_training_checkpoint(
            last, info, fmt=CHECKPOINT_FORMAT, model=raw, optimizer=optimizer, scheduler=scheduler,
            sampler=sampler, epoch=ep, batches=batches, per_rank=per_rank, step=st.step, config=asdict(cfg),
            meta=meta, metrics=kept(st.metrics), epoch_loss_sum=st.loss_sum if batches else 0.0,
        )

    def train_step(batch, at_step: int) -> tuple[float, dict, int]:
        images, targets, _ = batch
        images = images.to(device, non_blocking=True, memory_format=fmt)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = run(images)
        loss = mce_loss(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = _mean_over_ranks(loss.detach(), info)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"training diverged: loss {value} at step {at_step} (lower the learning rate)"
            )
        return value, {}, images.shape[0]

    def validate() -> tuple[dict, dict]:
        metrics = evaluate(raw, val_loader, device, amp=amp, channels_last=cl, labels=val_ds.labels)
        return metrics, {"val_loss": metrics["val_loss"], "mAP": metrics["mAP"]}

    run_epochs(
        state, loader=loader, sampler=sampler, optimizer=optimizer, scheduler=scheduler, log=log, info=info,
        epochs=cfg.epochs, steps_per_epoch=steps_per_epoch, per_rank=per_rank, train_step=train_step,
        checkpoint=checkpoint, train_mode=lambda: set_train_mode(raw, cfg.phase, cfg.bn),
        evaluate=validate if val_loader is not None else None, progress=cfg.progress, log_every=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every, max_steps=cfg.max_steps or None, carry_loss=True, on_step=on_step,
    )
    model_path = None
    if state.epoch >= cfg.epochs and info.is_main:
        model_path = out / "model.pt"
        save_model_file(model_path, fmt=CHECKPOINT_FORMAT, model=raw, meta=meta, config=asdict(cfg),
                        epoch=state.epoch, step=state.step, metrics=kept(state.metrics))
    barrier()
    log.close()
    return TrainResult(out=out, checkpoint=last, model_path=model_path, step=state.step, epoch=state.epoch,
                       history=log.rows[history_start:], metrics=state.metrics)


def _mean_over_ranks(value: torch.Tensor, info: DistInfo) -> float:
    if info.distributed:
        import torch.distributed as dist

        v = value.clone().float()
        dist.all_reduce(v, op=dist.ReduceOp.SUM)
        return float(v.item()) / info.world_size
    return float(value.item())

