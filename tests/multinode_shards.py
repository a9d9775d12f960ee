"""Run by test_dualstream_train.py under two torchrun agents (``--nnodes 2``, one process each, gloo).

Not a test module (no ``test_`` prefix): each process builds the trainer's loaders for a small
dataset, gathers which items every rank took at each step, and writes a checkpoint the way the
trainers do; rank 0 writes what it saw to ``OUT/shards.json``, and each rank the number of
gloo threads still running after ``cleanup_distributed()`` to ``OUT/gloo_threads.RANK``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.utils.data import Dataset

from salanalysis.dualstream.checkpoint import save_training_checkpoint
from salanalysis.dualstream.distributed import (
    all_gather_objects,
    cleanup_distributed,
    setup_distributed,
)
from salanalysis.dualstream.loop import batch_plan, make_loaders, make_scheduler


class Items(Dataset):
    def __len__(self) -> int:
        return 23

    def __getitem__(self, key):
        index = key[0] if isinstance(key, (tuple, list)) else key
        return torch.tensor(int(index))


def main(out: Path) -> None:
    info = setup_distributed("cpu")
    try:
        cfg = SimpleNamespace(workers=0, persistent_workers=False, seed=5, scheduler="none", epochs=1)
        per_rank, steps = batch_plan(23, 4, info.world_size, "items", None)
        sampler, loader, val_loader = make_loaders(Items(), Items(), info, cfg, per_rank, steps, False)
        sampler.set_epoch(1)
        train = all_gather_objects([b.tolist() for b in loader])
        val = all_gather_objects([b.tolist() for b in val_loader])
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        save_training_checkpoint(out / "last.pt", info, fmt="test", model=model, optimizer=opt,
                                 scheduler=make_scheduler(opt, cfg), sampler=sampler, epoch=1, batches=0,
                                 per_rank=per_rank, step=steps, config={}, meta={}, metrics={})
        ranks = all_gather_objects((info.rank, info.local_rank, info.world_size, info.backend))
        if info.is_main:
            (out / "shards.json").write_text(json.dumps({"train": train, "val": val, "ranks": ranks,
                                                         "steps": steps, "per_rank": per_rank}))
    finally:
        cleanup_distributed()
    # gloo's worker threads left alive here run into interpreter shutdown and can abort the process
    (out / f"gloo_threads.{info.rank}").write_text(str(len(_gloo_threads())))


def _gloo_threads() -> list[str]:
    """Names of this process's native gloo threads (Linux: /proc/self/task/*/comm)."""
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            names.append(comm.read_text().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return [n for n in names if "gloo" in n]


if __name__ == "__main__":
    main(Path(sys.argv[1]))
