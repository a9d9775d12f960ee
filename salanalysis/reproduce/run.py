"""The stage runner of :func:`salanalysis.reproduce.reproduce`: keys, cache look-up, the stage log."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from salanalysis import __version__
from salanalysis.config import Config
from salanalysis.reproduce.cache import (
    StageCache,
    StageData,
    code_digest,
    dir_digest,
    file_digest,
    stage_key,
)

__all__ = ["STAGES", "StageRecord"]

#: Stage names, in order, with the version of their computation (bump to invalidate caches).
STAGES: dict[str, int] = {
    "inputs": 1,
    "maps": 2,
    "objects": 1,
    "metrics": 2,
    "stats": 1,
    "clutter": 1,
    "compare": 1,
    "cam": 1,
    "gallery": 1,
    "figures": 1,
}

#: Modules whose source code is part of a stage's cache key.
_STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "inputs": ("salanalysis.coco", "salanalysis.scores", "salanalysis.score_baselines", "salanalysis.maps",
               "salanalysis.images"),
    "maps": ("salanalysis.baselines", "salanalysis.maps", "salanalysis.images"),
    "objects": ("salanalysis.objects", "salanalysis._objects_worker", "salanalysis._masks", "salanalysis.maps",
                "salanalysis.images"),
    "metrics": ("salanalysis.metrics", "salanalysis._bootstrap", "salanalysis._ranking_blocks"),
    "stats": ("salanalysis.stats", "salanalysis._bootstrap"),
    "clutter": ("salanalysis.clutter", "salanalysis.metrics", "salanalysis._bootstrap", "salanalysis._ranking_blocks"),
    "compare": ("salanalysis.compare", "salanalysis.metrics", "salanalysis._bootstrap", "salanalysis._ranking_blocks"),
    "cam": ("salanalysis.dualstream.cam",),
    "gallery": ("salanalysis.gallery", "salanalysis.maps", "salanalysis.images"),
    "figures": ("salanalysis.plotting", "salanalysis.figures", "salanalysis.formatting"),
}

@dataclass
class StageRecord:
    """One line of the stage log."""

    stage: str
    status: str  # computed | cached | skipped | read (given outputs, e.g. [cam] output)
    key: str = ""
    seconds: float = 0.0
    note: str = ""
    cpu_seconds: float = 0.0  # CPU time of this process and of its finished workers (wall is ``seconds``)


def _cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its waited-for children (pool workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ---------------------------------------------------------------------- run
class Runner:
    def __init__(self, config: Config, out: Path, force: bool, progress: bool,
                 log: Callable[[str], None] | None) -> None:
        self.cfg = config
        self.out = out
        self.force = force
        self.progress = progress
        self.log = log or (lambda s: None)
        self.cache = StageCache(out / ".cache")
        self.digests: dict[str, str] = {}
        self.records: list[StageRecord] = []
        self.keys: dict[str, str] = {}
        self.not_produced: list[tuple[str, str]] = []
        self.files: list[Path] = []

    # ---- lazily loaded inputs (only when a stage must be computed)
    @cached_property
    def ann(self):
        from salanalysis.coco import Annotations
        from salanalysis.subsets import analysis_annotations

        # [analysis] image_ids / categories: the part of the dataset analysed
        return analysis_annotations(Annotations.load(self.cfg.annotations), self.cfg.rules)

    @cached_property
    def score_sets(self) -> list:
        from salanalysis.score_baselines import class_prior_scores
        from salanalysis.scores import read_scores

        out = []
        for s in self.cfg.scores:
            if s.builtin == "class-prior":
                out.append(class_prior_scores(self.ann, name=s.name))
            else:
                sc = read_scores(s.path, self.ann, name=s.name, logits=s.logits)
                out.append(sc if sc.name == s.name else dataclasses.replace(sc, name=s.name))
        return out

    def scores_by_name(self, name: str):
        return next(s for s in self.score_sets if s.name == name)

    # ---- digests of inputs
    @property
    def ann_digest(self) -> str:
        digest = file_digest(self.cfg.annotations, self.digests)
        if self.cfg.image_ids is not None or self.cfg.categories is not None:  # the part analysed
            import hashlib

            part = repr((self.cfg.image_ids, self.cfg.categories)).encode()
            digest += ":subset=" + hashlib.sha256(part).hexdigest()[:16]
        return digest

    def score_digest(self, spec) -> str:
        if spec.builtin:
            return f"builtin:{spec.builtin}:{self.ann_digest}"
        return f"{file_digest(spec.path, self.digests)}:logits={spec.logits}"

    def source_digest(self, spec) -> str:
        """A saliency source by content: a folder's maps, a results JSON's bytes, and how they are read."""
        if spec.builtin:
            return f"builtin:{spec.builtin}:{self.ann_digest}"
        how = f"pattern={spec.pattern}:colour={spec.colour}"
        if spec.path.is_file():  # a SALICON results JSON
            return f"json:{file_digest(spec.path, self.digests)}:{how}"
        return f"{dir_digest(spec.path, self.digests)}:{how}"

    def code_digest(self, stage: str) -> list[str]:
        """Digests of the source files of the modules a stage calls (code changes invalidate it)."""
        return code_digest(_STAGE_MODULES.get(stage, ()), self.digests)

    # ---- the stage runner
    def stage(self, name: str, params: dict, upstream: list[str], compute: Callable[[Path], StageData],
              note: Callable[[StageData], str] | None = None, writes_files: bool = False) -> StageData:
        key = stage_key(name, STAGES[name], __version__, params, [self.keys[u] for u in upstream],
                   self.code_digest(name))
        self.keys[name] = key
        t0, c0 = time.perf_counter(), _cpu_seconds()
        data = None if self.force else self.cache.load(name, key)
        status = "cached"
        if data is None:
            status = "computed"
            self.log(f"[{name}] computing ...")
            if not writes_files:  # compute first: bad input fails before anything is created
                data = self.cache.store(name, key, compute(Path()))
            else:
                work = self.cache.workdir(name)
                try:
                    data = self.cache.store(name, key, compute(work), workdir=work)
                finally:
                    if work.exists():
                        shutil.rmtree(work, ignore_errors=True)
        rec = StageRecord(name, status, key[:12], time.perf_counter() - t0, note(data) if note else "",
                          _cpu_seconds() - c0)
        self.records.append(rec)
        self.log(f"[{name}] {status} in {rec.seconds:.2f} s {rec.note}".rstrip())
        return data


