"""Checkpoints and random state: atomic files, weights-only loading, exact resume.

:func:`save_checkpoint(path, state) <save_checkpoint>`
    ``torch.save`` to a temporary file next to ``path``, then ``os.replace``:
    an interrupted write never leaves a partial checkpoint under ``path``.
:func:`load_checkpoint(path) <load_checkpoint>`
    ``torch.load(..., weights_only=True, map_location="cpu")`` with one-line
    :class:`~salanalysis.errors.InputError` on a missing or unreadable file.
:func:`capture_rng_state` / :func:`restore_rng_state`
    Python, NumPy, torch CPU and CUDA generator states as weights-only-loadable
    plain data (lists, dicts, tensors). :func:`seed_everything`.
:func:`save_training_checkpoint` / :func:`restore_training_state`
    A resumable ``last.pt`` as torchvision's references keep it: model,
    optimizer, scheduler, epoch and the resolved arguments (``config``), plus
    the global step, the batches done in the epoch, every rank's RNG states,
    the sampler state and the model description (``meta``); written by rank 0.
:func:`save_model_file`
    The final ``model.pt``: weights, description, config, epoch, step, metrics.
:class:`PartialResults`
    How a resumable inference job (``predict``, the ``cam`` scan) keeps what it
    computed: saved at most every so many seconds and when interrupted,
    deleted when the input is bad.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from salanalysis.dualstream.distributed import DistInfo, all_gather_objects, barrier
from salanalysis.errors import InputError
from salanalysis.io import atomic_path

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "seed_everything",
    "save_training_checkpoint",
    "restore_training_state",
    "save_model_file",
    "PartialResults",
]


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


# ------------------------------------------------------------- training state
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


def restore_training_state(ckpt: Mapping[str, Any], optimizer, scheduler, info: DistInfo) -> tuple[int, int, int]:
    """Load optimizer, scheduler and this rank's RNG states; return ``(epoch, step, batches_done)``."""
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt.get("rng") or []
    if rng:
        restore_rng_state(rng[info.rank] if len(rng) == info.world_size else rng[0])
    return int(ckpt["epoch"]), int(ckpt["step"]), int(ckpt["batches_done"])


class PartialResults:
    """Context manager keeping a resumable job's partial results in ``path`` (None: keep nothing).

    ``save(n)`` writes the first ``n`` results (atomically); :meth:`done`
    reports progress and saves when ``every`` seconds passed since the last
    save. On leaving: bad input (:class:`~salanalysis.errors.InputError`)
    deletes the file (the input has to change, nothing to continue from); any
    other exception (an interrupt, a crash) saves what was not saved yet.
    """

    def __init__(self, path: str | os.PathLike | None, save: Callable[[int], None], start: int,
                 every: float) -> None:
        self.path = Path(path) if path is not None else None
        self.save, self.every = save, every
        self.n = self.saved = start
        self.saved_at = time.monotonic()

    def done(self, n: int) -> None:
        self.n = n
        if self.path is not None and time.monotonic() - self.saved_at >= self.every:
            self.save(n)
            self.saved_at, self.saved = time.monotonic(), n

    def discard(self) -> None:
        """Delete the partial file (e.g. results that are not worth continuing from)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> PartialResults:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or self.path is None:
            return
        if issubclass(exc_type, InputError):
            self.discard()
        elif self.n > self.saved:
            self.save(self.n)
