r"""Training: the paper's three phases (Sec. 5.1), resumable, distributed, mixed precision.

Phases
------
``"1"``  the trunk: a Baseline whose ResNet-50 starts from ``weights`` (ImageNet
         by default) fine-tuned on COCO; everything trained.
``"1b"`` the branch: a Baseline initialised from ``branch_init`` (the saliency
         network (:mod:`salanalysis.dualstream.saliency`) converted to a classifier: a checkpoint or state
         dict; its ``fc`` is used when the shape matches) fine-tuned on COCO;
         everything trained. With ``variant="baseline"`` (the paper's
         "dual-stream baseline", branch *not* saliency-trained) the branch starts
         from ``weights`` instead, like phase 1. Phase 1b runs with a seed
         derived from ``seed`` (:func:`~salanalysis.dualstream.config.phase_seed`),
         so with the default seed its data order, augmentation and ``fc`` start
         differ from phase 1's and the two streams are two networks.
``"2"``  a DualStream from the phase-1 (``trunk``) and phase-1b (``branch``)
         checkpoints; trunk and branch frozen (parameters without gradients,
         BatchNorm statistics fixed), only the final ``Linear(4096, 2C)`` trained,
         lr 1e-5. Its start is ``fc_init``: ``"average"`` (default,
         ``0.5 [W_t, W_b]``, i.e. the mean of the two baselines' logits) or ``"random"``.
         A branch checkpoint whose weights equal the trunk's is an InputError
         (the model would concatenate one network twice).
``"3"``  the phase-2 checkpoint (``init``) fine-tuned with everything trained, lr 1e-6.

SGD with momentum 0.9 and weight decay 1e-4 (He et al., as the paper); the MCE
loss (:func:`~salanalysis.dualstream.loss.mce_loss`). The paper gives no
learning rate for phases 1/1b: the default here is 1e-3 (the summed MCE loss
has C times the gradient of a mean BCE). Nor does it give epochs, batch size,
schedule or augmentation: the defaults (10 epochs, batch 32, constant lr,
RandomResizedCrop + flip, center-crop evaluation) are ours.
``analyses/train_paper.toml`` marks every value "paper" or "ours (why)";
``train_crop="whole"`` / ``eval_crop="whole"`` keep every labelled object in
the crop.

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
* Mixed precision on CUDA (``amp="auto"``: bf16 autocast where the GPU has
  bfloat16, else fp16 with a gradient scaler, e.g. V100/T4; backbones only:
  pooling, the linear layer and the loss stay float32), SyncBatchNorm
  (``sync_bn``; on by default in a multi-GPU run whose per-GPU batch is
  below 16), channels_last and cuDNN autotuning on CUDA, optional ``torch.compile``,
  DistributedDataParallel under ``torchrun`` (NCCL on GPU, gloo on CPU), evaluation
  gathered over ranks without the sampler's padding duplicates; non-finite
  evaluation probabilities are named (images, classes) in a warning, not fatal.
* The input pipeline (``pipeline``, :mod:`salanalysis.dualstream.pipeline`):
  ``"gpu"`` decodes the JPEGs with nvJPEG and crops on the device, ``"cpu"``
  in the DataLoader workers; ``"auto"`` is ``"cpu"`` (``"gpu"`` is
  experimental until ``make gpu-check`` verifies it on a GPU). The next batch
  is prepared on a side CUDA stream while the model runs; the loss is read
  back only every ``log_every`` steps. Each epoch row logs images/s (all
  ranks), which ``salanalysis train`` also prints.
* Several machines: ``torchrun --nnodes M --nproc_per_node N --rdzv_backend c10d
  --rdzv_endpoint HOST:PORT -m salanalysis train ...`` on each; ranks are
  global, the data is sharded by global rank, rank 0 writes the checkpoints
  and logs (``out`` must be on a file system every machine sees for
  ``--resume``).
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
    #   (the dual-stream baseline: --phase 1b --variant baseline, branch from ImageNet, its own seed)
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

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from salanalysis.coco import Annotations
from salanalysis.dualstream.checkpoint import load_checkpoint
from salanalysis.dualstream.config import (
    PHASE_LR,
    PHASES,
    RESUME_OVERRIDABLE,
    SPEC,
    TrainConfig,
    learning_rate,
    load_config,
    phase_seed,
    resolve_config,
)
from salanalysis.dualstream.data import CocoMultiLabel
from salanalysis.dualstream.distributed import gather_unique
from salanalysis.dualstream.loop import LoopState, Prepare, RunResult, inference
from salanalysis.dualstream.loss import mce_loss
from salanalysis.dualstream.models import (
    Baseline,
    DualStream,
    build_backbone,
    describe_nonfinite,
    model_from_meta,
    model_meta,
    probabilities,
)
from salanalysis.dualstream.pipeline import InputPipeline, resolve_pipeline
from salanalysis.dualstream.trainer import CHECKPOINT_FORMAT, Task, run_training
from salanalysis.dualstream.weights import iter_bn, load_weights_into, read_state_dict
from salanalysis.errors import InputError

__all__ = [
    "TrainConfig",
    "TrainResult",
    "PHASE_LR",
    "load_config",
    "resolve_config",
    "build_phase_model",
    "same_weights",
    "set_phase",
    "set_train_mode",
    "evaluate",
    "ClassifierTask",
    "train",
    "RESUME_OVERRIDABLE",
]

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
    ids = category_ids if category_ids is not None else np.arange(num_classes)
    if cfg.phase == "1" or (cfg.phase == "1b" and cfg.variant == "baseline"):
        return Baseline(num_classes, cfg.pooling, build_backbone(cfg.backbone, cfg.weights))
    if cfg.phase == "1b":
        model = Baseline(num_classes, cfg.pooling, cfg.backbone)
        _check_classes(_classes_of(cfg.branch_init), ids, cfg.branch_init)
        load_weights_into(model, cfg.branch_init, stream="branch")
        return model
    if cfg.phase == "2":
        parts = []
        for path in (cfg.trunk, cfg.branch):
            meta = _classes_of(path)
            _check_classes(meta, ids, path)
            pooling = (meta or {}).get("pooling", cfg.pooling)
            b = Baseline(num_classes, pooling, (meta or {}).get("backbone", cfg.backbone))
            skipped = load_weights_into(b, path)
            if skipped and cfg.fc_init == "average":
                raise InputError(
                    "has no linear layer for these classes: fc_init 'average' needs trained baselines "
                    "(or use fc_init 'random')",
                    path,
                )
            parts.append(b)
        if same_weights(parts[0], parts[1]):
            raise InputError(
                "the branch checkpoint holds the same weights as the trunk: the dual-stream model would "
                "concatenate one network twice (train the branch with phase 1b)",
                cfg.branch,
            )
        return DualStream.from_baselines(parts[0], parts[1], cfg.fc_init)
    # phase 3
    meta = _classes_of(cfg.init)
    _check_classes(meta, ids, cfg.init)
    if meta and meta.get("arch") not in (None, "dualstream"):
        raise InputError(f"phase 3 starts from a DualStream, got a {meta['arch']!r} checkpoint", cfg.init)
    name = (meta or {}).get("backbone", cfg.backbone)
    model = DualStream(num_classes, (meta or {}).get("pooling", cfg.pooling), name, name)
    sd = read_state_dict(cfg.init)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise InputError(f"not a DualStream checkpoint: {str(exc).splitlines()[0]}", cfg.init) from exc
    return model


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two models hold bit-identical state dicts (same keys, shapes and values)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa)


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
def evaluate(model: nn.Module, loader, device: torch.device, *, amp: bool = True, labels: np.ndarray | None = None,
             prepare: Prepare | None = None) -> dict:
    """Probabilities of every item, gathered over ranks without padding duplicates, and mAP.

    ``loader`` yields ``(images, targets, index)`` batches, which ``prepare``
    puts on the device (default: moved as they are).
    Returns a dict: ``index`` (item rows, ascending), ``probs`` (N, C), ``val_loss``
    (mean MCE over the N items), ``nonfinite`` (``""``, or which images and classes
    have NaN or infinite probabilities, see
    :func:`~salanalysis.dualstream.models.describe_nonfinite`), and when ``labels``
    (all items' (N_all, C)) is given ``AP`` (C,) and ``mAP`` (mean over classes with
    a positive) from :func:`salanalysis.metrics.average_precision`.

    Non-finite probabilities do not stop the evaluation (nor the training run
    that calls it): they are named in a ``RuntimeWarning`` and ``nonfinite``,
    the AP of their classes and the mAP are NaN.
    """
    from salanalysis.metrics import average_precision

    idx, probs, losses = [], [], []
    for (_, targets, index), logits in inference(model, loader, device, amp=amp, prepare=prepare):
        losses.append(mce_loss(logits, targets.to(logits.device), reduction="none").cpu().numpy())
        probs.append(probabilities(logits).cpu().numpy())
        idx.append(index.numpy())
    uniq, all_probs, all_loss = gather_unique(
        np.concatenate(idx) if idx else np.zeros(0, np.int64),
        np.concatenate(probs) if probs else np.zeros((0, 0)),
        np.concatenate(losses) if losses else np.zeros(0),
    )
    out = {"index": uniq, "probs": all_probs.astype(np.float64), "val_loss": float(all_loss.mean())}
    ds = getattr(loader, "dataset", None)
    ids = getattr(ds, "image_ids", None)
    problem = describe_nonfinite(out["probs"], None if ids is None else np.asarray(ids)[uniq],
                                 getattr(ds, "category_names", None))
    out["nonfinite"] = problem
    if problem:
        import warnings

        warnings.warn(f"evaluation: the model gives {problem}: its weights diverged, or its BatchNorm running "
                      "statistics do not fit them yet (e.g. a few steps from random weights); mAP and AP of "
                      "those classes are NaN", RuntimeWarning, stacklevel=2)
    if labels is not None:
        y = labels[uniq].astype(bool)
        finite = np.isfinite(out["probs"]).all(axis=0)
        ap = np.full(y.shape[1], np.nan)
        if finite.any():
            ap[finite] = average_precision(y[:, finite], out["probs"][:, finite])
        out["AP"] = ap
        out["mAP"] = float(np.nanmean(ap)) if np.isfinite(ap).any() and not problem else float("nan")
    return out


# ------------------------------------------------------------------------ train
class ClassifierTask(Task):
    """The classifiers' training (:func:`train`): COCO data, phase models, MCE loss, mAP."""

    log_columns = LOG_COLUMNS
    tb_keys = ("loss", "lr", "val_loss", "mAP", "images_per_s")
    what = "training images"
    carry_loss = True

    def check_checkpoint(self, ckpt, path) -> None:
        if ckpt.get("format") != CHECKPOINT_FORMAT or "optimizer" not in ckpt:
            raise InputError("not a training checkpoint of salanalysis (no optimizer state)", path)
        if (ckpt.get("meta") or {}).get("arch") not in ("baseline", "dualstream"):
            raise InputError("not a Baseline/DualStream training checkpoint", path)

    def datasets(self, device):
        cfg = self.cfg
        kind = resolve_pipeline(cfg.pipeline, device)
        self.pipes = [InputPipeline(kind, cfg.input_size, train=train, resize=cfg.resize_size,
                                    train_crop=cfg.train_crop, crop_scale=cfg.crop_scale, eval_crop=cfg.eval_crop)
                      for train in (cfg.augment, False)]
        ann = Annotations.load(cfg.train_annotations)
        train_ds = CocoMultiLabel(ann, cfg.train_images, self.pipes[0], include_empty=cfg.include_empty,
                                  include_crowd=cfg.include_crowd, missing=cfg.missing)
        self.skipped = {"train": train_ds.n_missing}
        val_ds = None
        if cfg.val_annotations:
            val_ds = CocoMultiLabel(cfg.val_annotations, cfg.val_images, self.pipes[1],
                                    include_empty=cfg.include_empty, include_crowd=cfg.include_crowd,
                                    missing=cfg.missing)
            self.skipped["val"] = val_ds.n_missing
            if list(val_ds.category_ids) != list(train_ds.category_ids):
                raise InputError("validation categories differ from the training categories", cfg.val_annotations)
        return train_ds, val_ds, cfg.train_annotations

    def seed(self) -> int:
        return phase_seed(self.cfg.seed, self.cfg.phase)

    def build_model(self, ckpt, train_ds):
        if ckpt is not None:
            _check_classes(ckpt["meta"], train_ds.category_ids, str(self.resume))
            model = model_from_meta(ckpt["meta"])
            model.load_state_dict(ckpt["model"])
        else:
            model = build_phase_model(self.cfg, train_ds.num_classes, train_ds.category_ids)
        return model, model_meta(model, train_ds.category_ids, train_ds.category_names)

    def parameters(self, model):
        return set_phase(model, self.cfg.phase)

    def optimizer(self, params):
        cfg = self.cfg
        return torch.optim.SGD(params, lr=learning_rate(cfg), momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def criterion(self, logits, targets):
        return mce_loss(logits.float(), targets), {}

    def prepare(self, device, memory_format, train):
        return self.pipes[0 if train else 1].prepare_fn(device, memory_format)

    def collate_fn(self):
        return self.pipes[0].collate_fn()

    def train_mode(self, model):
        set_train_mode(model, self.cfg.phase, self.cfg.bn)

    def evaluate(self, model, loader, prepare, device, amp):
        metrics = evaluate(model, loader, device, amp=amp, labels=loader.dataset.labels, prepare=prepare)
        return metrics, {"val_loss": metrics["val_loss"], "mAP": metrics["mAP"]}

    def kept_metrics(self, metrics):
        return {k: v for k, v in metrics.items() if k in ("mAP", "val_loss")}

    def run_config(self, train_ds, val_ds):
        return {"lr_resolved": learning_rate(self.cfg), "n_missing_images": dict(self.skipped)}

    def checkpoint_extra(self, state: LoopState, batches: int) -> dict:
        return {"epoch_loss_sum": state.loss_sum if batches else 0.0}


def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    resume: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
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
    report
        Called (main rank) with one line per epoch: loss, images/s, seconds and
        the validation metrics (the command line prints it on stderr).
    """
    result = run_training(SPEC, ClassifierTask, config, resume=resume, overrides=overrides, on_step=on_step,
                          report=report)
    return TrainResult(**result.__dict__)
