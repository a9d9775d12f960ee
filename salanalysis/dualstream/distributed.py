"""Processes and devices: torchrun's environment, the process group, gathering over ranks.

:func:`setup_distributed` -> :class:`DistInfo`
    Reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` /
    ``LOCAL_WORLD_SIZE``; initialises the process group (NCCL on CUDA, gloo on
    CPU) when ``WORLD_SIZE > 1``; picks the device (``cuda:LOCAL_RANK`` on GPU).
    The same code runs on 1 process, N processes on one machine, or N processes
    on each of several machines (``torchrun --nnodes``): ranks are global, the
    data is sharded by global rank (:class:`~salanalysis.dualstream.data.SeededSampler`),
    and only rank 0 writes files. More processes on a machine than it has GPUs
    is a one-line :class:`~salanalysis.errors.InputError` raised on every rank
    before any process group is formed.
:func:`cleanup_distributed`, :func:`barrier`, :func:`all_gather_objects`,
:func:`mean_over_ranks`, :func:`gather_unique` (rows gathered over ranks, the
sampler's padding repeats dropped).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from salanalysis.errors import InputError

__all__ = [
    "DistInfo",
    "resolve_device",
    "setup_distributed",
    "cleanup_distributed",
    "barrier",
    "all_gather_objects",
    "mean_over_ranks",
    "gather_unique",
]


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


def _check_gpus_per_node(local_rank: int, local_world: int) -> None:
    """One GPU per process: more processes on this machine than GPUs is an InputError."""
    n_gpus = torch.cuda.device_count()
    if max(local_world, local_rank + 1) > n_gpus:
        raise InputError(
            f"{max(local_world, local_rank + 1)} processes on this machine but {n_gpus} GPU(s): start "
            f"at most {n_gpus} (torchrun --nproc_per_node {n_gpus}), or run on the CPU with --device cpu "
            "(gloo)"
        )


def setup_distributed(device: str = "auto", backend: str | None = None) -> DistInfo:
    """Initialise ``torch.distributed`` from torchrun's environment variables.

    Without ``WORLD_SIZE`` (or with 1) nothing is initialised and a
    single-process :class:`DistInfo` is returned. With more, the process group
    uses ``backend`` (default: ``"nccl"`` on CUDA, ``"gloo"`` on CPU) and each
    process takes ``cuda:LOCAL_RANK`` on GPU; more processes per machine
    (``LOCAL_WORLD_SIZE``) than GPUs is an InputError on every rank.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and resolve_device(device).type == "cuda":
        _check_gpus_per_node(local, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    dev = resolve_device(device, local)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, None)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        # torch._dynamo (imported by torch.optim) imported after the group exists keeps the group
        # alive past destroy_process_group(): gloo's worker threads then ran into interpreter
        # shutdown and aborted the process ("terminate called without an active exception") after
        # its work was done, so torchrun reported a failure. Imported first, the group is freed.
        import torch._dynamo as _dynamo  # noqa: F401  (binds only _dynamo: torch stays the module)

        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, dev, backend)


def cleanup_distributed() -> None:
    """Destroy the process group if one was initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """``dist.barrier()`` when distributed, else nothing."""
    import torch.distributed as dist

    if _initialized():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` when not distributed)."""
    import torch.distributed as dist

    if not _initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean over ranks of a small float64 vector (no host synchronisation on the GPU)."""
    v = values.detach().double()
    if info.distributed:
        import torch.distributed as dist

        v = v.to(info.device)
        dist.all_reduce(v, op=dist.ReduceOp.SUM)
        v = v / info.world_size
    return v


def gather_unique(index: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(index, *columns)`` of every rank, each item once, sorted by index.

    The distributed sampler pads the last batches by repeating items; the rows
    of all ranks are concatenated in rank order and each index keeps its first
    row, which drops those repeats. ``columns`` are arrays with one row per
    entry of ``index``.
    """
    parts = all_gather_objects((np.asarray(index), *[np.asarray(c) for c in columns]))
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return (np.asarray(index), *[np.asarray(c) for c in columns])
    all_idx = np.concatenate([p[0] for p in parts])
    uniq, first = np.unique(all_idx, return_index=True)
    return (uniq, *[np.concatenate([p[k] for p in parts])[first] for k in range(1, len(columns) + 1)])
