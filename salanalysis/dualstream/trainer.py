"""The skeleton both trainers share (``salanalysis train`` and ``salanalysis train-saliency``).

:func:`run_training` is a trainer's ``main``: the configuration (resumed from
a checkpoint or not, :meth:`~salanalysis.dualstream.options.ConfigSpec.for_run`),
the processes (:func:`~salanalysis.dualstream.distributed.setup_distributed`),
the seed, then :func:`fit`: data, model, optimizer, scheduler, resumed state,
DDP / compile wrapping, loaders, ``out/config.json``, the log, the epochs
(:func:`~salanalysis.dualstream.loop.run_epochs`), ``out/last.pt`` checkpoints
and ``out/model.pt``. What differs between the two is a :class:`Task`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from salanalysis.dualstream.checkpoint import (
    load_checkpoint,
    restore_training_state,
    save_model_file,
    save_training_checkpoint,
    seed_everything,
)
from salanalysis.dualstream.distributed import (
    DistInfo,
    barrier,
    cleanup_distributed,
    setup_distributed,
)
from salanalysis.dualstream.loop import (
    LoopState,
    Prepare,
    RunLog,
    RunResult,
    batch_plan,
    grad_scaler,
    make_loaders,
    make_scheduler,
    run_epochs,
    runtime_options,
    to_device,
    use_sync_bn,
    wrap_model,
    write_run_config,
)
from salanalysis.dualstream.options import ConfigSpec

__all__ = ["Task", "fit", "run_training", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "salanalysis.dualstream/1"


class Task:
    """What one trainer supplies to :func:`fit` (subclass and override).

    Attributes
    ----------
    cfg
        The resolved configuration (``out``, ``seed``, ``epochs``, ``batch_size``,
        the run options of :data:`~salanalysis.dualstream.options.RUN_HELP`).
    log_columns, tb_keys
        The log's columns; those also written to TensorBoard (when ``cfg.tensorboard``).
    what
        What the training items are, for messages ("training images").
    carry_loss
        Whether an epoch's summed loss survives a mid-epoch resume (see
        :func:`~salanalysis.dualstream.loop.run_epochs`).
    """

    log_columns: list[str] = []
    tb_keys: tuple[str, ...] = ()
    what = "training items"
    carry_loss = False

    def __init__(self, cfg: Any, resume: str | os.PathLike | None = None) -> None:
        self.cfg = cfg
        self.resume = resume  # the checkpoint being resumed, for messages
        self.skipped: dict[str, int] = {}  # items left out because their file is absent, per split

    def check_checkpoint(self, ckpt: Mapping[str, Any], path: str | os.PathLike) -> None:
        """Raise InputError when a checkpoint to resume is not this trainer's."""

    def datasets(self, device: torch.device) -> tuple[Any, Any, str | None]:
        """``(training dataset, validation dataset or None, file named when too few items)`` for ``device``."""
        raise NotImplementedError

    def build_model(self, ckpt: Mapping[str, Any] | None, train_ds) -> tuple[nn.Module, dict]:
        """``(model on the CPU, its description)``: restored from ``ckpt`` or built fresh."""
        raise NotImplementedError

    def parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters to train (default: those requiring gradients)."""
        return [p for p in model.parameters() if p.requires_grad]

    def optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def criterion(self, output: torch.Tensor, *targets: torch.Tensor):
        """``(loss, terms)`` of a batch (see :func:`~salanalysis.dualstream.loop.train_one_epoch`)."""
        raise NotImplementedError

    def prepare(self, device: torch.device, memory_format: torch.memory_format, train: bool) -> Prepare:
        """Loader batches -> ``(inputs, targets)`` on the device (training or evaluation batches)."""
        return to_device(device, memory_format)

    def collate_fn(self) -> Callable | None:
        """The DataLoader's ``collate_fn`` (None: torch's default)."""
        return None

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def evaluate(self, model: nn.Module, loader, prepare: Prepare, device: torch.device,
                 amp: bool) -> tuple[dict, dict]:
        """``(metrics, epoch-row columns)`` of the validation data."""
        raise NotImplementedError

    def kept_metrics(self, metrics: Mapping[str, Any]) -> dict:
        """The metrics stored in checkpoints (plain numbers)."""
        return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}

    def run_config(self, train_ds, val_ds) -> dict:
        """Extra entries of ``out/config.json``."""
        return {}

    def checkpoint_extra(self, state: LoopState, batches: int) -> dict:
        """Extra entries of ``last.pt``."""
        return {}

    def seed(self) -> int:
        """The seed of the run's data order, augmentation and initialisation (default ``cfg.seed``)."""
        return int(self.cfg.seed)


def run_training(
    spec: ConfigSpec,
    make_task: Callable[..., Task],
    config: Any = None,
    *,
    resume: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> RunResult:
    """Resolve the configuration (resuming or not), start the processes, seed, :func:`fit`, clean up."""
    ckpt = None
    if resume is not None:
        ckpt = load_checkpoint(resume)
        make_task(None, resume).check_checkpoint(ckpt, resume)
        cfg = spec.for_run(config, saved=ckpt["config"], where=resume, overrides=overrides)
    else:
        cfg = spec.for_run(config, overrides=overrides)
    info = setup_distributed(cfg.device)
    try:
        task = make_task(cfg, resume)
        seed_everything(task.seed() + info.rank)
        return fit(task, info, ckpt, on_step=on_step, report=report)
    finally:
        cleanup_distributed()


def fit(task: Task, info: DistInfo, ckpt: Mapping[str, Any] | None = None, *,
        on_step: Callable[[int], None] | None = None, report: Callable[[str], None] | None = None) -> RunResult:
    """Train ``task`` on this process (one of ``info.world_size``); see the module docstring."""
    from salanalysis._progress import interactive

    cfg = task.cfg
    device = info.device
    out = Path(cfg.out)
    amp, cl, pin, fmt = runtime_options(cfg, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels

    train_ds, val_ds, where = task.datasets(device)
    per_rank, steps_per_epoch = batch_plan(len(train_ds), cfg.batch_size, info.world_size, task.what, where)
    model, meta = task.build_model(ckpt, train_ds)
    sync_bn = use_sync_bn(getattr(cfg, "sync_bn", None), device.type, info.world_size, per_rank)
    if sync_bn:  # same parameter and buffer names: checkpoints load into the plain model
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = task.parameters(model)
    model.to(device, memory_format=fmt)
    optimizer = task.optimizer(params)
    scheduler = make_scheduler(optimizer, cfg)
    scaler = grad_scaler(amp, device)
    state = LoopState(metrics=dict(ckpt.get("metrics") or {}) if ckpt is not None else {})
    if ckpt is not None:
        state.epoch, state.step, state.done = restore_training_state(ckpt, optimizer, scheduler, info)
        state.loss_sum = float(ckpt.get("epoch_loss_sum", 0.0))
        if scaler is not None and ckpt.get("grad_scaler"):
            scaler.load_state_dict(ckpt["grad_scaler"])
    run = wrap_model(model, info, cfg.compile)
    sampler, loader, val_loader = make_loaders(train_ds, val_ds, info, cfg, per_rank, steps_per_epoch, pin,
                                               task.collate_fn(), seed=task.seed())

    write_run_config(out, info, {**asdict(cfg), "world_size": info.world_size, "seed_resolved": task.seed(),
                                 "amp_resolved": amp or "none", "sync_bn_resolved": sync_bn,
                                 **task.run_config(train_ds, val_ds)})
    log = RunLog(out, cfg.log_format, task.log_columns, info.is_main, state.step if ckpt is not None else None,
                 tensorboard=getattr(cfg, "tensorboard", False), tb_keys=task.tb_keys)
    history_start = len(log.rows)
    last = out / "last.pt"

    def checkpoint(st: LoopState, ep: int, batches: int) -> None:
        save_training_checkpoint(
            last, info, fmt=CHECKPOINT_FORMAT, model=model, optimizer=optimizer, scheduler=scheduler,
            sampler=sampler, epoch=ep, batches=batches, per_rank=per_rank, step=st.step, config=asdict(cfg),
            meta=meta, metrics=task.kept_metrics(st.metrics), **task.checkpoint_extra(st, batches),
            **({"grad_scaler": scaler.state_dict()} if scaler is not None else {}),
        )

    def validate() -> tuple[dict, dict]:
        return task.evaluate(model, val_loader, task.prepare(device, fmt, False), device, amp)

    run_epochs(
        state, model=run, loader=loader, sampler=sampler, optimizer=optimizer, scheduler=scheduler,
        criterion=task.criterion, log=log, info=info, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
        per_rank=per_rank, checkpoint=checkpoint, train_mode=lambda: task.train_mode(model),
        prepare=task.prepare(device, fmt, True), amp=amp, scaler=scaler, evaluate=validate if val_loader is not None else None,
        progress=cfg.progress if cfg.progress is not None else interactive(), log_every=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every, max_steps=cfg.max_steps or None, carry_loss=task.carry_loss,
        on_step=on_step, report=report,
    )
    model_path = out / "model.pt" if state.epoch >= cfg.epochs else None
    if model_path is not None and info.is_main:
        save_model_file(model_path, fmt=CHECKPOINT_FORMAT, model=model, meta=meta, config=asdict(cfg),
                        epoch=state.epoch, step=state.step, metrics=task.kept_metrics(state.metrics))
    barrier()
    log.close()
    return RunResult(out=out, checkpoint=last, model_path=model_path, step=state.step, epoch=state.epoch,
                     history=log.rows[history_start:], metrics=state.metrics, skipped=dict(task.skipped))
