"""The training loop, torchvision-references style: :func:`train_one_epoch` and the epoch driver.

:func:`train_one_epoch(model, loader, optimizer, criterion, ...) <train_one_epoch>`
    One pass over a loader: for every batch, ``prepare`` (to the device, and
    the device-side part of the input pipeline; on CUDA the next batch's while
    the model works, :func:`~salanalysis.dualstream.pipeline.prefetch`), forward under
    :func:`autocast`, ``criterion``, backward, optimizer step; step rows
    logged every ``log_every`` steps; mid-epoch checkpoints; ``max_steps``.
    Losses stay on the device between log rows (no host synchronisation per
    step), are averaged over ranks, and a non-finite one stops the run with
    ``FloatingPointError``.
:func:`run_epochs`
    Epochs of :func:`train_one_epoch` with the sampler's epoch and resume
    position, progress bar, scheduler step, per-epoch evaluation, epoch row
    (loss, lr, images/s, seconds) and epoch-end checkpoint, over a
    :class:`LoopState`.
Scaffolding shared by the trainers
    :func:`autocast`, :func:`runtime_options`, :func:`batch_plan`,
    :func:`make_scheduler`, :func:`wrap_model`, :func:`make_loaders`,
    :func:`write_run_config`, :class:`RunLog` (``log.csv`` / ``log.jsonl``,
    optional TensorBoard), :class:`RunResult`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from salanalysis.dualstream.distributed import DistInfo, barrier, mean_over_ranks
from salanalysis.dualstream.pipeline import prefetch
from salanalysis.errors import InputError

__all__ = [
    "AMP_MODES",
    "resolve_amp",
    "bf16_supported",
    "autocast",
    "grad_scaler",
    "runtime_options",
    "use_sync_bn",
    "batch_plan",
    "make_scheduler",
    "wrap_model",
    "make_loaders",
    "write_run_config",
    "to_device",
    "inference",
    "RunLog",
    "RunResult",
    "LoopState",
    "EpochStats",
    "train_one_epoch",
    "run_epochs",
]

#: ``criterion(output, *targets) -> (loss, terms)``: the loss to minimise and named
#: scalar tensors logged beside it (e.g. the parts of a weighted loss).
Criterion = Callable[..., tuple[torch.Tensor, Mapping[str, torch.Tensor]]]
#: ``prepare(batch) -> (inputs, targets)``: a loader batch on the device, ready for the model.
Prepare = Callable[[Any], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]


# ------------------------------------------------------------------ autocast
#: The mixed-precision modes (``--amp``).
AMP_MODES = ("auto", "bf16", "fp16", "none")


def resolve_amp(amp: bool | str | None, device_type: str, bf16_supported: bool) -> Literal["bf16", "fp16"] | None:
    """The autocast dtype of an ``amp`` setting on a device: ``"bf16"``, ``"fp16"`` or None (float32).

    A pure function of the setting and the device's capabilities (so it is
    tested without a GPU). Only CUDA devices use mixed precision. ``"auto"``
    (and ``True``) is bf16 on a GPU with bfloat16 (Ampere and later), else fp16,
    which training pairs with a gradient scaler (V100, T4: see :func:`grad_scaler`);
    ``"bf16"`` on a GPU without bfloat16 is an InputError; ``"none"``,
    ``False`` and ``None`` are float32.
    """
    if amp in (False, None, "none"):
        return None
    if amp not in (True, *AMP_MODES):
        raise InputError(f"amp must be one of {', '.join(AMP_MODES)}, got {amp!r}")
    if device_type != "cuda":
        return None
    if amp in (True, "auto"):
        return "bf16" if bf16_supported else "fp16"
    if amp == "bf16" and not bf16_supported:
        raise InputError("amp 'bf16': this GPU has no bfloat16 support; use 'auto' (fp16 with a gradient "
                         "scaler) or 'none'")
    return amp  # type: ignore[return-value]


def bf16_supported(device: torch.device | str) -> bool:
    """Whether ``device`` is a CUDA GPU with native bfloat16 (not emulated)."""
    device = torch.device(device)
    if device.type != "cuda":
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch: no including_emulation
        return bool(torch.cuda.is_bf16_supported())


def autocast(device: torch.device | str, enabled: bool | str | None = True) -> contextlib.AbstractContextManager:
    """Autocast on CUDA in the dtype :func:`resolve_amp` gives for ``enabled``; a null context on CPU or when off."""
    device = torch.device(device)
    mode = resolve_amp(enabled, device.type, bf16_supported(device)) if device.type == "cuda" else None
    if mode is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.float16 if mode == "fp16" else torch.bfloat16)


def grad_scaler(amp: str | None, device: torch.device | str):
    """A ``torch.amp.GradScaler`` for fp16 training (``amp == "fp16"``), else None.

    fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none.
    """
    if amp != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


# ------------------------------------------------------------ run scaffolding
def runtime_options(cfg: Any, device: torch.device) -> tuple[str | None, bool, bool, torch.memory_format]:
    """``(amp mode, channels_last, pin_memory, memory_format)`` of a config on ``device`` (None: on CUDA).

    The amp mode is :func:`resolve_amp` of ``cfg.amp`` on ``device``: ``"bf16"``, ``"fp16"`` or None.
    """
    amp = resolve_amp(cfg.amp, device.type, bf16_supported(device))
    cl = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    pin = cfg.pin_memory if cfg.pin_memory is not None else device.type == "cuda"
    return amp, cl, pin, torch.channels_last if cl else torch.contiguous_format


def use_sync_bn(option: bool | None, device_type: str, world_size: int, per_rank: int) -> bool:
    """Whether to convert BatchNorm to ``SyncBatchNorm``: ``option`` when given, else automatically.

    Automatic (``None``): on in a multi-GPU run (CUDA, ``world_size > 1``)
    whose per-GPU batch is below 16 images, where per-GPU BatchNorm statistics
    get noisy (the global batch 32 on 8 GPUs gives BatchNorm 4 images).
    SyncBatchNorm needs GPUs: elsewhere (one process, CPU/gloo) it is off.
    """
    if device_type != "cuda" or world_size < 2:
        return False
    return bool(option) if option is not None else per_rank < 16


def batch_plan(n_items: int, batch_size: int, world_size: int, what: str,
               where: str | os.PathLike | None) -> tuple[int, int]:
    """``(per-rank batch, full steps per epoch)`` for a global ``batch_size``; InputError when impossible."""
    if batch_size % world_size:
        raise InputError(f"batch_size {batch_size} is not divisible by {world_size} processes")
    steps_per_epoch = n_items // batch_size
    if steps_per_epoch < 1:
        raise InputError(f"{n_items} {what} are fewer than one batch of {batch_size}", where)
    return batch_size // world_size, steps_per_epoch


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: Any):
    """The lr schedule of ``cfg.scheduler``: ``"step"``, ``"cosine"`` (over the epochs) or constant."""
    from torch.optim import lr_scheduler

    if cfg.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    if cfg.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def wrap_model(model: nn.Module, info: DistInfo, compile: bool = False) -> nn.Module:
    """``model`` under DistributedDataParallel when distributed, then ``torch.compile`` when asked."""
    from torch.nn.parallel import DistributedDataParallel

    run: nn.Module = model
    if info.distributed:
        dev = info.device
        run = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if compile:
        run = torch.compile(run)
    return run


def make_loaders(train_ds, val_ds, info: DistInfo, cfg: Any, per_rank: int, steps_per_epoch: int, pin: bool,
                 collate_fn: Callable | None = None, seed: int | None = None):
    """``(sampler, loader, val_loader)``: seeded, shuffled training batches; validation in order (or None).

    Both shard the items by global rank (:class:`~salanalysis.dualstream.data.SeededSampler`),
    seeded with ``seed`` (default ``cfg.seed``). Only the training loader keeps
    its workers alive between epochs (``cfg.persistent_workers``): the
    validation loader, used once an epoch, starts its workers when it runs and
    ends them after, so a run does not hold a second set of worker processes
    (and their memory) for its whole length.
    """
    from salanalysis.dualstream.data import SeededSampler, make_loader

    seed = cfg.seed if seed is None else seed
    kw = dict(workers=cfg.workers, pin_memory=pin, collate_fn=collate_fn)
    sampler = SeededSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=seed,
                            max_items=steps_per_epoch * per_rank)
    loader = make_loader(train_ds, sampler, per_rank, persistent_workers=cfg.persistent_workers, **kw)
    val_loader = None
    if val_ds is not None:
        vs = SeededSampler(val_ds, info.world_size, info.rank, shuffle=False, seed=seed)
        vs.set_epoch(0)
        val_loader = make_loader(val_ds, vs, per_rank, persistent_workers=False, **kw)
    return sampler, loader, val_loader


def write_run_config(out: Path, info: DistInfo, payload: Mapping[str, Any]) -> None:
    """Create ``out`` and write ``out/config.json`` on the main rank; all ranks wait."""
    from salanalysis.io import write_json

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", dict(payload))
    barrier()


def to_device(device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> Prepare:
    """The plain ``prepare``: ``(inputs, *targets, index)`` batches moved to ``device`` (non-blocking)."""

    def prepare(batch) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        x, *targets, _ = batch
        x = x.to(device, non_blocking=True, memory_format=memory_format)
        return x, tuple(t.to(device, non_blocking=True) for t in targets)

    return prepare


def inference(model: nn.Module, loader: Iterable, device: torch.device | str, *, amp: bool | str | None = False,
              prepare: Prepare | None = None) -> Iterator[tuple[Any, torch.Tensor]]:
    """``(batch, model output as float32)`` for every batch of ``loader``, in eval mode without gradients.

    ``prepare`` puts a batch on the device (default :func:`to_device`); the
    model runs under :func:`autocast` on CUDA when ``amp`` (``True``/``"auto"``,
    ``"bf16"``, ``"fp16"``; see :func:`resolve_amp`).
    """
    device = torch.device(device)
    prepare = prepare or to_device(device)
    model.eval()
    for batch, (inputs, _) in prefetch(loader, prepare, device):
        # no_grad around the forward pass only: a context held across ``yield`` would leak into the caller
        with torch.no_grad(), autocast(device, amp):
            output = model(inputs)
        yield batch, output.float()


# ------------------------------------------------------------------------ log
class RunLog:
    """The run's ``log.csv`` / ``log.jsonl`` (main rank) with fixed ``columns``, optionally TensorBoard.

    On resume (``resume_step``) rows after that step are dropped; otherwise an
    old log is removed. ``rows`` keeps every row logged by this process.
    """

    def __init__(self, out: Path, fmt: str, columns: list[str], active: bool, resume_step: int | None,
                 tensorboard: bool = False, tb_keys: tuple[str, ...] = ()) -> None:
        self.active = active
        self.fmt = fmt
        self.columns = list(columns)
        self.tb_keys = tb_keys
        self.path = out / ("log.csv" if fmt == "csv" else "log.jsonl")
        self.rows: list[dict] = []
        self.tb = None
        if not active:
            return
        if resume_step is not None and self.path.exists():
            kept = [r for r in self._read() if r.get("step") not in (None, "") and int(float(r["step"])) <= resume_step]
            self._rewrite(kept)
        elif self.path.exists():
            self.path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except Exception:  # tensorboard not installed: CSV/JSONL only
                self.tb = None

    def _read(self) -> list[dict]:
        import csv
        import json

        text = self.path.read_text(encoding="utf-8")
        if self.fmt == "jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return list(csv.DictReader(text.splitlines()))

    def _rewrite(self, rows: list[dict]) -> None:
        import json

        from salanalysis.io import write_text

        if self.fmt == "jsonl":
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))
        else:
            cols = self.columns
            lines = [",".join(cols)] + [",".join(str(r.get(c, "") or "") for c in cols) for r in rows]
            write_text(self.path, "\n".join(lines) + "\n")

    def log(self, row: dict) -> None:
        import csv
        import json

        row = {c: row.get(c) for c in self.columns}
        self.rows.append(row)
        if not self.active:
            return
        new = not self.path.exists()
        with open(self.path, "a", encoding="utf-8", newline="") as fh:
            if self.fmt == "jsonl":
                fh.write(json.dumps(row) + "\n")
            else:
                w = csv.DictWriter(fh, self.columns)
                if new:
                    w.writeheader()
                w.writerow({k: ("" if v is None else v) for k, v in row.items()})
        if self.tb is not None:
            for key in self.tb_keys:
                if row.get(key) is not None:
                    self.tb.add_scalar(f"{row['kind']}/{key}", row[key], row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


@dataclass
class RunResult:
    """What a trainer returns (on every rank): ``out`` folder, ``checkpoint`` (``out/last.pt``),
    ``model_path`` (``out/model.pt``, None when the run stopped early), global ``step``,
    completed ``epoch``, the ``history`` of log rows, the last evaluation's ``metrics`` and
    ``skipped``: items left out because their file is absent (``{"train": n, "val": n}``,
    with ``missing="skip"``)."""

    out: Path
    checkpoint: Path
    model_path: Path | None
    step: int
    epoch: int
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)


# ----------------------------------------------------------------- the loop
@dataclass
class LoopState:
    """Where a training run stands: epochs completed, global ``step``, batches ``done`` in the
    current epoch, the epoch's summed loss and the last evaluation's ``metrics``."""

    epoch: int = 0
    step: int = 0
    done: int = 0
    loss_sum: float = 0.0
    metrics: dict = field(default_factory=dict)


@dataclass
class EpochStats:
    """What one :func:`train_one_epoch` call did: ``steps``, ``images`` (all ranks),
    ``seconds``, and whether it ``stopped`` at ``max_steps``."""

    steps: int = 0
    images: int = 0
    seconds: float = 0.0
    stopped: bool = False

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.seconds > 0 else None


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    criterion: Criterion,
    *,
    device: torch.device | str = "cpu",
    prepare: Prepare | None = None,
    amp: bool | str | None = False,
    scaler: Any = None,
    state: LoopState | None = None,
    info: DistInfo | None = None,
    steps_per_epoch: int | None = None,
    log: RunLog | None = None,
    log_every: int = 10,
    checkpoint: Callable[[LoopState], None] | None = None,
    checkpoint_every: int = 0,
    max_steps: int | None = None,
    on_step: Callable[[int], None] | None = None,
    bar: Any = None,
) -> EpochStats:
    """Train ``model`` on every batch of ``loader`` once; updates ``state`` (step, done).

    Parameters
    ----------
    model
        The module to train (DDP- or compile-wrapped as it runs), in the wanted mode.
    loader
        Batches; ``prepare(batch)`` gives ``(inputs, targets)`` on the device
        (default :func:`to_device`: ``(inputs, *targets, index)`` batches moved
        as they are).
    optimizer, criterion
        ``criterion(model(inputs), *targets)`` returns ``(loss, terms)``; the
        model runs under :func:`autocast` on CUDA when ``amp`` (see
        :func:`resolve_amp`); the criterion gets its output as it is (cast it
        to float32 there).
    scaler
        A ``torch.amp.GradScaler`` (fp16 training, :func:`grad_scaler`): the
        loss is scaled before backward, the step unscales (and skips a step
        whose gradients overflowed), then the scale is updated. None: plain
        ``backward`` and ``step``.
    state
        Global ``step`` and batches ``done`` in this epoch, advanced per step,
        and ``loss_sum``, to which each step's loss is added (a fresh
        :class:`LoopState` when None).
    info
        The process's :class:`~salanalysis.dualstream.distributed.DistInfo`;
        logged values are means over ranks, images are counted over ranks.
    steps_per_epoch
        The epoch's full length (the last step is always logged); default: the loader's.
    log, log_every
        A ``step`` row (``epoch``, ``step``, ``loss``, ``lr`` and the terms) every
        ``log_every`` steps and at the epoch's last step.
    checkpoint, checkpoint_every, max_steps
        ``checkpoint(state)`` is called every ``checkpoint_every`` steps within
        the epoch and when stopping at ``max_steps`` before the epoch's end.
    on_step
        Called with the global step after each step (after its checkpoint).
    bar
        A progress bar (``update``, ``set_postfix``) or None.

    Returns
    -------
    EpochStats

    Raises
    ------
    FloatingPointError
        A non-finite loss (the run diverged), named with the step it was read at.
    """
    state = state if state is not None else LoopState()
    info = info if info is not None else DistInfo()
    device = torch.device(device)
    prepare = prepare or to_device(device)
    steps_per_epoch = steps_per_epoch or len(loader)  # type: ignore[arg-type]
    stats = EpochStats()
    # the epoch's summed loss, kept on the device and read at log rows (in the order of a plain sum)
    total = torch.tensor(float(state.loss_sum), dtype=torch.float64, device=device)
    t0 = time.perf_counter()

    def read(vec: torch.Tensor, names: list[str]) -> tuple[float, dict]:
        values = vec.tolist()  # the host waits for the device here only
        if not all(map(_finite, values)):
            raise FloatingPointError(
                f"training diverged: loss {values[0]} at step {state.step} (lower the learning rate)"
            )
        _check_sum(float(total))
        return values[0], dict(zip(names, values[1:]))

    def _check_sum(value: float) -> None:
        if not _finite(value):
            raise FloatingPointError(
                f"training diverged: a loss up to step {state.step} was not finite (lower the learning rate)"
            )

    for _, (inputs, targets) in prefetch(loader, prepare, device):
        with autocast(device, amp):
            output = model(inputs)
        loss, terms = criterion(output, *targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        names = sorted(terms)
        vec = mean_over_ranks(torch.stack([loss.detach().double(), *(terms[k].detach().double() for k in names)]),
                              info)
        total += vec[0]
        state.step += 1
        state.done += 1
        stats.steps += 1
        stats.images += int(inputs.shape[0]) * info.world_size
        if bar is not None:
            bar.update(1)
        if max_steps is not None and state.step >= max_steps:
            stats.stopped = True
        mid_epoch = state.done < steps_per_epoch
        at_checkpoint = mid_epoch and checkpoint is not None and (
            stats.stopped or (checkpoint_every and state.step % checkpoint_every == 0))
        if state.step % log_every == 0 or state.done == steps_per_epoch or at_checkpoint:
            value, named = read(vec, names)
            if bar is not None:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)  # redrawn at the bar's own pace
            if log is not None and (state.step % log_every == 0 or state.done == steps_per_epoch):
                log.log({"kind": "step", "epoch": state.epoch + 1, "step": state.step, "loss": value,
                         "lr": optimizer.param_groups[0]["lr"], **named})
        if at_checkpoint:
            state.loss_sum = float(total)
            checkpoint(state)
        if on_step is not None:
            on_step(state.step)
        if stats.stopped:
            break
    state.loss_sum = float(total)
    _check_sum(state.loss_sum)
    stats.seconds = time.perf_counter() - t0
    return stats


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))


def run_epochs(
    state: LoopState,
    *,
    model: nn.Module,
    loader,
    sampler,
    optimizer,
    scheduler,
    criterion: Criterion,
    log: RunLog,
    info: DistInfo,
    epochs: int,
    steps_per_epoch: int,
    per_rank: int,
    checkpoint: Callable[[LoopState, int, int], None],
    train_mode: Callable[[], None],
    prepare: Prepare | None = None,
    amp: bool | str | None = False,
    scaler: Any = None,
    evaluate: Callable[[], tuple[dict, dict]] | None = None,
    progress: bool = True,
    log_every: int = 10,
    checkpoint_every: int = 0,
    max_steps: int | None = None,
    carry_loss: bool = False,
    on_step: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> LoopState:
    """Epochs of :func:`train_one_epoch` until ``epochs`` are done or ``max_steps``; updates ``state``.

    Per epoch: the sampler's epoch and resume position, ``train_mode()``, the
    epoch (a progress bar on the main rank when ``progress``), the scheduler
    step, ``evaluate()`` (``(metrics, epoch-row columns)``), an ``epoch`` row
    (mean loss, lr, images/s over all ranks, seconds) and ``checkpoint(state,
    epoch, 0)``; mid-epoch checkpoints are ``checkpoint(state, epoch,
    batches done)``. With ``carry_loss`` the epoch's summed loss survives a
    mid-epoch resume (``state.loss_sum``) and the epoch row's loss is its mean
    over ``steps_per_epoch``; without, the sum restarts with each call and is
    averaged over the steps this call made. ``report`` (main rank) receives
    one line per epoch: its images/s, loss and evaluation.
    """
    from salanalysis._progress import progress_bar

    stopped = False
    while state.epoch < epochs and not stopped:
        sampler.set_epoch(state.epoch)
        sampler.set_start(state.done * per_rank)
        train_mode()
        bar = progress_bar(total=steps_per_epoch, initial=state.done, desc=f"epoch {state.epoch + 1}/{epochs}",
                           disable=not (progress and info.is_main), leave=False)
        if not (carry_loss and state.done):
            state.loss_sum = 0.0
        try:
            stats = train_one_epoch(
                model, loader, optimizer, criterion, device=info.device, prepare=prepare, amp=amp, scaler=scaler,
                state=state,
                info=info, steps_per_epoch=steps_per_epoch, log=log, log_every=log_every,
                checkpoint=lambda st: checkpoint(st, st.epoch, st.done), checkpoint_every=checkpoint_every,
                max_steps=max_steps, on_step=on_step, bar=bar,
            )
        finally:
            bar.close()
        stopped = stats.stopped
        if state.done < steps_per_epoch:
            break
        lr_now = optimizer.param_groups[0]["lr"]
        scheduler.step()
        state.epoch += 1
        state.done = 0
        row = {"kind": "epoch", "epoch": state.epoch, "step": state.step,
               "loss": state.loss_sum / max(1, steps_per_epoch if carry_loss else stats.steps),
               "lr": lr_now, "images_per_s": stats.images_per_s, "seconds": stats.seconds}
        if evaluate is not None:
            state.metrics, columns = evaluate()
            row.update(columns)
        log.log(row)
        if report is not None and info.is_main:
            report(_epoch_line(row, epochs))
        checkpoint(state, state.epoch, 0)
    return state


def _epoch_line(row: Mapping[str, Any], epochs: int) -> str:
    rate = row.get("images_per_s")
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}",
             f"{rate:,.0f} images/s" if rate else "", f"{row['seconds']:.1f} s"]
    parts += [f"{k} {v:.4f}" for k, v in row.items()
              if k not in ("kind", "epoch", "step", "loss", "lr", "images_per_s", "seconds")
              and isinstance(v, float)]
    return ", ".join(p for p in parts if p)
