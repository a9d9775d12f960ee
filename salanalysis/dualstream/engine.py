"""Reusable training machinery: distributed setup, checkpoints, RNG state, autocast, weights.

Stable API (also used by the saliency network of issue 10)
----------------------------------------------------------
:func:`setup_distributed` -> :class:`DistInfo`
    Reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; initialises the
    process group (NCCL on CUDA, gloo on CPU) when ``WORLD_SIZE > 1``; picks the
    device. The same code runs on 1 or N processes. :func:`cleanup_distributed`.
:func:`save_checkpoint(path, state) <save_checkpoint>`
    ``torch.save`` to a temporary file next to ``path``, then ``os.replace``:
    an interrupted write never leaves a partial checkpoint under ``path``.
:func:`load_checkpoint(path) <load_checkpoint>`
    ``torch.load(..., weights_only=True, map_location="cpu")`` with one-line
    :class:`~salanalysis.errors.InputError` on a missing or unreadable file.
:func:`capture_rng_state` / :func:`restore_rng_state`
    Python, NumPy, torch CPU and CUDA generator states as weights-only-loadable
    plain data (lists, dicts, tensors).
:func:`autocast(device, enabled) <autocast>`
    bf16 autocast on CUDA; a no-op context elsewhere.
:func:`load_resnet50(weights) <load_resnet50>`
    torchvision ResNet-50: ``"imagenet"`` (torchvision weights API, IMAGENET1K_V1;
    downloads when online, offline -> one-line InputError), ``"none"`` (random) or a
    local file (``torch.load(..., weights_only=True)``; a torchvision state dict or
    one of this package's checkpoints).
:func:`load_weights_into(model, path) <load_weights_into>`
    Initialise a Baseline / DualStream (or any module) from a checkpoint or state
    dict file, strictly for backbones, and for the final linear layer when its
    shape matches.
:func:`unwrap_model`, :func:`seed_everything`, :func:`all_gather_objects`, :func:`barrier`.

Training-loop scaffolding shared by ``train`` and ``train-saliency``
--------------------------------------------------------------------
:func:`check_resume_config`, :func:`runtime_options`, :func:`batch_plan`,
:func:`make_scheduler`, :func:`restore_training_state`, :func:`wrap_model`,
:func:`make_loaders`, :func:`write_run_config`, :func:`save_training_checkpoint`
(``last.pt``), :func:`save_model_file` (``model.pt``) and :class:`RunLog`
(``log.csv`` / ``log.jsonl``, optional TensorBoard); :func:`run_epochs` (the
epoch loop: progress bar, step/epoch log rows, ``max_steps``, periodic and
epoch-end checkpoints, per-epoch evaluation) over a :class:`LoopState`.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from salanalysis.errors import InputError
from salanalysis.io import atomic_path

__all__ = [
    "DistInfo",
    "setup_distributed",
    "cleanup_distributed",
    "barrier",
    "all_gather_objects",
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "autocast",
    "load_resnet50",
    "read_state_dict",
    "load_weights_into",
    "unwrap_model",
    "seed_everything",
    "resolve_device",
    "check_resume_config",
    "runtime_options",
    "batch_plan",
    "make_scheduler",
    "restore_training_state",
    "wrap_model",
    "make_loaders",
    "write_run_config",
    "save_training_checkpoint",
    "save_model_file",
    "RunLog",
    "LoopState",
    "RunResult",
    "run_epochs",
]


# ----------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available, else CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' requested but CUDA is not available")
        return torch.device("cuda", local_rank)
    return torch.device(device)


def setup_distributed(device: str = "auto", backend: str | None = None) -> DistInfo:
    """Initialise ``torch.distributed`` from torchrun's environment variables.

    Without ``WORLD_SIZE`` (or with 1) nothing is initialised and a
    single-process :class:`DistInfo` is returned. With more, the process group
    uses ``backend`` (default: ``"nccl"`` on CUDA, ``"gloo"`` on CPU) and each
    process takes ``cuda:LOCAL_RANK`` on GPU.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, None)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, dev, backend)


def cleanup_distributed() -> None:
    """Destroy the process group if one was initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """``dist.barrier()`` when distributed, else nothing."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# ----------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically (temporary file + ``os.replace``).

    ``state`` should hold only weights-only-loadable data (tensors, numbers,
    strings, lists, dicts): what :func:`load_checkpoint` accepts.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.exists():
        raise InputError("checkpoint not found", path)
    if path.is_dir():
        raise InputError("expected a checkpoint file, got a directory", path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle, zip and weights-only errors have many types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"cannot read checkpoint: {type(exc).__name__}: {msg}", path) from exc
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint holds a {type(obj).__name__}, expected a dict", path)
    return obj


# ---------------------------------------------------------------------- RNG
def capture_rng_state() -> dict:
    """Python, NumPy, torch and CUDA RNG states as weights-only-loadable data."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": _to_plain(random.getstate()),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"]).astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured (CUDA states only when present)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": int(n["pos"])},
            "has_gauss": int(n["has_gauss"]),
            "gauss": float(n["gauss"]),
        }
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_plain(o) for o in obj]
    return obj


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ autocast
def autocast(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``enabled``; a null context on CPU or when disabled."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------- weights
_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a file: a bare state dict, or a checkpoint holding one.

    Checkpoints of this package (``{"model": ...}``) and common ``{"state_dict": ...}``
    wrappers are unwrapped; ``module.`` (DDP) and ``_orig_mod.`` (torch.compile)
    prefixes are removed. Loaded with ``weights_only=True``.
    """
    path = Path(path)
    obj = load_checkpoint(path)
    for key in ("model", "state_dict", "model_state_dict"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise InputError(f"not a state dict: entry {k!r} is a {type(v).__name__}", path)
        for p in _PREFIXES:
            while k.startswith(p):
                k = k[len(p):]
        sd[k] = v
    if not sd:
        raise InputError("state dict is empty", path)
    return sd


def _backbone_part(sd: Mapping[str, torch.Tensor], stream: str = "trunk") -> dict[str, torch.Tensor]:
    """The ResNet part of a state dict: strip ``backbone.`` / ``trunk.`` (or ``branch.``)."""
    for prefix in ("backbone.", f"{stream}.", "trunk."):
        part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if part:
            return part
    return dict(sd)


def load_resnet50(weights: str | os.PathLike | None = "imagenet", *, stream: str = "trunk") -> nn.Module:
    """A torchvision ResNet-50 (with its 1000-class ``fc``), initialised per ``weights``.

    Parameters
    ----------
    weights
        ``"imagenet"``: torchvision's ``ResNet50_Weights.IMAGENET1K_V1`` (the
        original weights of He et al.), through the weights API and torch hub's
        cache; offline without a cached copy raises a one-line InputError.
        ``"none"`` (or None): random initialisation. Anything else: a local file,
        read with ``torch.load(..., weights_only=True)``: a torchvision ResNet-50
        state dict (``fc.*`` optional) or a checkpoint of this package (the
        ``backbone.`` / ``trunk.`` part is used; ``stream="branch"`` takes a
        DualStream's branch).
    """
    from torchvision.models import ResNet50_Weights, resnet50

    if weights is None or str(weights).lower() == "none":
        return resnet50(weights=None)
    if str(weights).lower() == "imagenet":
        w = ResNet50_Weights.IMAGENET1K_V1
        try:
            return resnet50(weights=w, progress=False)
        except (OSError, RuntimeError, ValueError) as exc:
            cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"cannot load torchvision's ImageNet ResNet-50 weights ({first}); no cached copy "
                "and no download possible (offline?): pass --weights PATH to a local copy "
                f"(e.g. {w.url}) or --weights none",
                cache,
            ) from exc
    path = Path(weights)
    sd = _backbone_part(read_state_dict(path), stream)
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    model = resnet50(weights=None)
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing:
        raise InputError(
            f"not a ResNet-50 state dict: {len(missing)} backbone entries missing, e.g. {missing[0]!r}", path
        )
    if result.unexpected_keys:
        raise InputError(
            f"not a ResNet-50 state dict: {len(result.unexpected_keys)} unexpected entries, "
            f"e.g. {result.unexpected_keys[0]!r}",
            path,
        )
    return model


def load_weights_into(model: nn.Module, path: str | os.PathLike, *, stream: str = "trunk") -> list[str]:
    """Initialise ``model`` from a file; returns the names of what was *not* loaded.

    For a Baseline / DualStream, every backbone must load completely (a mismatch is
    an InputError naming the file); the final ``fc`` loads when the file has one of
    the same shape and is otherwise left as is (its names are returned). Files may
    hold a Baseline, a DualStream (``stream`` picks which backbone feeds a
    Baseline) or a bare torchvision ResNet-50.
    """
    path = Path(path)
    sd = read_state_dict(path)
    own = model.state_dict()
    if all(k in sd and sd[k].shape == v.shape for k, v in own.items()):
        model.load_state_dict({k: sd[k] for k in own})
        return []
    skipped: list[str] = []
    backbones = getattr(model, "backbones", None)
    if backbones is None:
        raise InputError("state dict does not match the model", path)
    names = ["backbone"] if len(backbones) == 1 else ["trunk", "branch"]
    for name, bb in zip(names, backbones):
        want = stream if name == "backbone" else name
        part = _backbone_part(sd, want)
        part = {k: v for k, v in part.items() if not k.startswith("fc.")}
        try:
            bb.load_state_dict(part, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputError(f"cannot load the {name} ResNet-50 from it: {first}", path) from exc
    fc = getattr(model, "fc", None)
    if fc is not None:
        w, b = sd.get("fc.weight"), sd.get("fc.bias")
        if w is not None and b is not None and w.shape == fc.weight.shape and b.shape == fc.bias.shape:
            with torch.no_grad():
                fc.weight.copy_(w)
                fc.bias.copy_(b)
        else:
            skipped += ["fc.weight", "fc.bias"]
    return skipped


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def iter_bn(model: nn.Module) -> Iterator[nn.Module]:
    """Every BatchNorm module of ``model``."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            yield m


# ------------------------------------------------------------ training scaffolding
# Shared by ``salanalysis.dualstream.train`` and ``salanalysis.dualstream.saliency_train``.
def check_resume_config(cfg: Any, saved: Any, overridable: set[str], where: str | os.PathLike) -> None:
    """InputError naming the first option (outside ``overridable``) where ``cfg`` differs from ``saved``."""
    from dataclasses import asdict

    diffs = [k for k in asdict(cfg) if getattr(cfg, k) != getattr(saved, k) and k not in overridable]
    if diffs:
        raise InputError(
            f"cannot resume with a different {diffs[0]!r} ({getattr(saved, diffs[0])!r} in the "
            f"checkpoint, {getattr(cfg, diffs[0])!r} now)",
            where,
        )


def runtime_options(cfg: Any, device: torch.device) -> tuple[bool, bool, bool, torch.memory_format]:
    """``(amp, channels_last, pin_memory, memory_format)`` of a config on ``device`` (None: on CUDA)."""
    amp = cfg.amp == "bf16"
    cl = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    pin = cfg.pin_memory if cfg.pin_memory is not None else device.type == "cuda"
    return amp, cl, pin, torch.channels_last if cl else torch.contiguous_format


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


def restore_training_state(ckpt: Mapping[str, Any], optimizer, scheduler, info: DistInfo) -> tuple[int, int, int]:
    """Load optimizer, scheduler and this rank's RNG states; return ``(epoch, step, batches_done)``."""
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt.get("rng") or []
    if rng:
        restore_rng_state(rng[info.rank] if len(rng) == info.world_size else rng[0])
    return int(ckpt["epoch"]), int(ckpt["step"]), int(ckpt["batches_done"])


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


def make_loaders(train_ds, val_ds, info: DistInfo, cfg: Any, per_rank: int, steps_per_epoch: int, pin: bool):
    """``(sampler, loader, val_loader)``: seeded, shuffled training batches; validation in order (or None)."""
    from salanalysis.dualstream.data import SeededSampler, make_loader

    sampler = SeededSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=cfg.seed,
                            max_items=steps_per_epoch * per_rank)
    loader = make_loader(train_ds, sampler, per_rank, workers=cfg.workers, pin_memory=pin,
                         persistent_workers=cfg.persistent_workers)
    val_loader = None
    if val_ds is not None:
        vs = SeededSampler(val_ds, info.world_size, info.rank, shuffle=False, seed=cfg.seed)
        vs.set_epoch(0)
        val_loader = make_loader(val_ds, vs, per_rank, workers=cfg.workers, pin_memory=pin,
                                 persistent_workers=cfg.persistent_workers)
    return sampler, loader, val_loader


def write_run_config(out: Path, info: DistInfo, payload: Mapping[str, Any]) -> None:
    """Create ``out`` and write ``out/config.json`` on the main rank; all ranks wait."""
    from salanalysis.io import write_json

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", dict(payload))
    barrier()


def save_training_checkpoint(path: Path, info: DistInfo, *, fmt: str, model: nn.Module, optimizer, scheduler,
                             sampler, epoch: int, batches: int, per_rank: int, step: int, config: Mapping,
                             meta: Mapping, metrics: Mapping, **extra: Any) -> None:
    """Gather every rank's RNG state and write a resumable ``last.pt`` (main rank); all ranks wait."""
    rngs = all_gather_objects(capture_rng_state())
    if info.is_main:
        save_checkpoint(path, {
            "format": fmt,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "batches_done": batches,
            "step": step,
            "rng": rngs,
            "sampler": {**sampler.state_dict(), "epoch": epoch, "start": batches * per_rank},
            "config": dict(config),
            "meta": meta,
            "world_size": info.world_size,
            "metrics": dict(metrics),
            **extra,
        })
    barrier()


def save_model_file(path: Path, *, fmt: str, model: nn.Module, meta: Mapping, config: Mapping, epoch: int,
                    step: int, metrics: Mapping) -> Path:
    """The final ``model.pt``: weights, description, config, epoch, step and metrics."""
    return save_checkpoint(path, {"format": fmt, "model": model.state_dict(), "meta": meta,
                                  "config": dict(config), "epoch": epoch, "step": step, "metrics": dict(metrics)})


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
    completed ``epoch``, the ``history`` of log rows and the last evaluation's ``metrics``."""

    out: Path
    checkpoint: Path
    model_path: Path | None
    step: int
    epoch: int
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


@dataclass
class LoopState:
    """Where a training run stands: epochs completed, global ``step``, batches ``done`` in the
    current epoch, the epoch's summed loss and the last evaluation's ``metrics``."""

    epoch: int = 0
    step: int = 0
    done: int = 0
    loss_sum: float = 0.0
    metrics: dict = field(default_factory=dict)


def run_epochs(
    state: LoopState,
    *,
    loader,
    sampler,
    optimizer,
    scheduler,
    log: RunLog,
    info: DistInfo,
    epochs: int,
    steps_per_epoch: int,
    per_rank: int,
    train_step: Callable[[Any, int], tuple[float, dict, int]],
    checkpoint: Callable[[LoopState, int, int], None],
    train_mode: Callable[[], None],
    evaluate: Callable[[], tuple[dict, dict]] | None = None,
    progress: bool = True,
    log_every: int = 10,
    checkpoint_every: int = 0,
    max_steps: int | None = None,
    carry_loss: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> LoopState:
    """The epoch loop shared by the trainers; updates and returns ``state``.

    ``train_step(batch, step)`` makes one optimisation step (``step``: the global
    step it makes) and returns ``(loss averaged over ranks, extra step-row
    columns, images on this rank)``. ``checkpoint(state, epoch, batches)`` writes
    ``last.pt``: every ``checkpoint_every`` steps and when stopping at
    ``max_steps`` within an epoch, and at each epoch's end (``batches=0``).
    ``evaluate()`` returns ``(metrics, epoch-row columns)`` after each epoch.
    Logs a ``step`` row every ``log_every`` steps and at an epoch's last step,
    an ``epoch`` row per epoch. With ``carry_loss`` the epoch's summed loss
    survives a mid-epoch resume (``state.loss_sum``) and the epoch row's loss is
    its mean over ``steps_per_epoch``; without, the sum restarts with each call
    and is averaged over the steps this call made.
    """
    from salanalysis._progress import progress_bar

    stopped = False
    while state.epoch < epochs and not stopped:
        sampler.set_epoch(state.epoch)
        sampler.set_start(state.done * per_rank)
        train_mode()
        bar = progress_bar(total=steps_per_epoch, initial=state.done, desc=f"epoch {state.epoch + 1}/{epochs}",
                   disable=not (progress and info.is_main), leave=False)
        t0, seen, n_steps = time.perf_counter(), 0, 0
        if state.done == 0 or not carry_loss:
            state.loss_sum = 0.0
        for batch in loader:
            value, terms, n = train_step(batch, state.step + 1)
            state.step += 1
            state.done += 1
            n_steps += 1
            seen += n * info.world_size
            state.loss_sum += value
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)  # redraw at the bar's own pace
            if state.step % log_every == 0 or state.done == steps_per_epoch:
                log.log({"kind": "step", "epoch": state.epoch + 1, "step": state.step, "loss": value,
                         "lr": optimizer.param_groups[0]["lr"], **terms})
            if max_steps is not None and state.step >= max_steps:
                stopped = True
            mid_epoch = state.done < steps_per_epoch
            if mid_epoch and (stopped or (checkpoint_every and state.step % checkpoint_every == 0)):
                checkpoint(state, state.epoch, state.done)
            if on_step is not None:
                on_step(state.step)
            if stopped:
                break
        bar.close()
        if state.done < steps_per_epoch:
            break
        seconds = time.perf_counter() - t0
        lr_now = optimizer.param_groups[0]["lr"]
        scheduler.step()
        state.epoch += 1
        state.done = 0
        row = {"kind": "epoch", "epoch": state.epoch, "step": state.step,
               "loss": state.loss_sum / max(1, steps_per_epoch if carry_loss else n_steps),
               "lr": lr_now, "images_per_s": seen / seconds if seconds > 0 else None, "seconds": seconds}
        if evaluate is not None:
            state.metrics, columns = evaluate()
            row.update(columns)
        log.log(row)
        checkpoint(state, state.epoch, 0)
    return state
