"""Scores files from a trained checkpoint (``salanalysis predict``).

:func:`predict` runs a Baseline or DualStream checkpoint (``model.pt`` or
``last.pt`` written by :func:`salanalysis.dualstream.train.train`, or any file
with ``model`` weights and a ``meta`` description) over the images of a COCO
instances file with the evaluation transform, and returns a
:class:`salanalysis.scores.Scores` of per-class probabilities (the positive
entry of each class's two-way softmax). :func:`write_predictions` writes them
with :func:`salanalysis.scores.write_scores`, so every analysis command reads
the file directly.

Resuming: :func:`write_predictions` keeps the scores computed so far in a
hidden ``.<out name>.partial.npz`` beside the output (rewritten atomically at
most once a minute, and when interrupted); a later run with the same
checkpoint, annotations, images and settings continues after the last saved
image instead of starting again, and gives the same scores as an
uninterrupted run (with the same batch size; another one may change the last
digits on some devices). The file is deleted once the scores file is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from salanalysis.coco import Annotations
from salanalysis.dualstream.checkpoint import PartialResults, load_checkpoint
from salanalysis.dualstream.data import CocoMultiLabel, SeededSampler, make_loader
from salanalysis.dualstream.distributed import resolve_device
from salanalysis.dualstream.loop import inference
from salanalysis.dualstream.models import (
    Baseline,
    DualStream,
    describe_nonfinite,
    model_from_meta,
    probabilities,
)
from salanalysis.dualstream.options import parse_input_size
from salanalysis.dualstream.pipeline import InputPipeline, resolve_pipeline
from salanalysis.errors import InputError
from salanalysis.scores import SCORE_EXTENSIONS, Scores, write_scores

__all__ = ["load_model", "predict", "write_predictions", "partial_path"]

SAVE_EVERY_S = 60.0  # how often a resumable run saves its partial scores


def load_model(checkpoint: str | os.PathLike) -> tuple[Baseline | DualStream, dict]:
    """Rebuild the model of a checkpoint; returns ``(model, checkpoint dict)`` (model on CPU, eval mode)."""
    ck = load_checkpoint(checkpoint)
    meta = ck.get("meta")
    if not isinstance(meta, dict) or "arch" not in meta or "model" not in ck:
        raise InputError("not a salanalysis model checkpoint (no 'model' weights with a 'meta' description)",
                         checkpoint)
    if meta["arch"] in ("baseline", "dualstream"):  # other archs: model_from_meta says what they are
        n = meta.get("num_classes")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"checkpoint meta: num_classes must be a positive integer, got {n!r:.40}",
                             checkpoint)
        from salanalysis.limits import check_count

        check_count("classes", n, "checkpoint meta: num_classes", checkpoint)  # before allocating the head
    model = model_from_meta(meta)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise InputError(f"weights do not match the described model: {str(exc).splitlines()[0]}",
                         checkpoint) from exc
    model.eval()
    return model, ck


@torch.no_grad()
def predict(
    checkpoint: str | os.PathLike,
    annotations: Annotations | str | os.PathLike,
    images: str | os.PathLike,
    *,
    name: str | None = None,
    batch_size: int = 128,
    workers: int = 2,
    device: str = "auto",
    pipeline: str = "auto",
    input_size: int | Sequence[int] | None = None,
    missing_images: Literal["error", "skip"] = "error",
    amp: bool = True,
    progress: bool = False,
    resume: str | os.PathLike | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Scores:
    """Per-class probabilities of every image of ``annotations``.

    Parameters
    ----------
    checkpoint
        ``model.pt`` / ``last.pt`` of a training run.
    annotations, images
        The COCO instances file (and its images) to score; its categories must be
        the checkpoint's.
    name
        The score set's name (default: the checkpoint's folder name).
    input_size
        The square crop's side, or ``(size, size)`` (default: the training run's
        ``input_size``, else 224; two different values are an InputError).
    missing_images
        ``"error"`` (default) or ``"skip"`` images whose file is absent (they get
        no row; read the file back with ``missing="zero"``).
    batch_size, workers, device, amp
        Images per forward pass, DataLoader workers, ``"auto"`` / ``"cpu"`` /
        ``"cuda"``, bf16 autocast on CUDA (channels_last there too).
    pipeline
        ``"auto"`` (nvJPEG on CUDA), ``"cpu"`` or ``"gpu"``: see
        :mod:`salanalysis.dualstream.pipeline` (the evaluation crop is the same).
    resume
        A partial-scores file (see the module docstring): continued from when
        it was written by a run with the same inputs and settings, written at
        most every :data:`SAVE_EVERY_S` seconds and when the run stops early.
        ``Scores.meta["resumed_images"]`` says how many images it supplied.
    on_batch
        Called with the batch number after each batch (tests use it to stop a run).

    Returns
    -------
    Scores
        Rows in image-id order, columns in category-id order, values in [0, 1];
        ``meta`` holds ``pipeline``, ``seconds`` (scoring, without start-up) and
        ``images_per_s`` (of the images scored by this call).
    """
    path = Path(checkpoint)
    model, ck = load_model(path)
    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    meta = ck["meta"]
    if meta.get("category_ids") is not None and [int(c) for c in meta["category_ids"]] != [
        int(c) for c in ann.category_ids
    ]:
        raise InputError(
            f"the checkpoint's {len(meta['category_ids'])} categories differ from the annotations' "
            f"{len(ann.category_ids)} ({ann.path})",
            path,
        )
    cfg = ck.get("config") or {}
    given = input_size is not None
    size = parse_input_size(input_size if given else cfg.get("input_size", cfg.get("image_size", 224)),
                            square=True, name="input_size")
    resize = cfg.get("resize_size") if not given else None
    dev = resolve_device(device)
    kind = resolve_pipeline(pipeline, dev)
    pipe = InputPipeline(kind, size, train=False, resize=resize)
    ds = CocoMultiLabel(ann, images, pipe, include_empty=True, missing=missing_images)
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    model.to(dev, memory_format=fmt)
    sampler = SeededSampler(ds, 1, 0, shuffle=False)
    loader = make_loader(ds, sampler, batch_size, workers=workers, pin_memory=dev.type == "cuda",
                         persistent_workers=False, collate_fn=pipe.collate_fn())
    from salanalysis._progress import progress_bar

    out = np.zeros((len(ds), ds.num_classes), dtype=np.float64)
    key = _resume_key(path, ann, ds, size, resize, amp, dev.type, kind) if resume is not None else ""
    done = _load_partial(resume, key, out) if resume is not None else 0
    sampler.set_start(done)  # the order is the identity: the first `done` images are scored
    resumed = done
    bar = progress_bar(total=len(ds), initial=done, disable=not progress, desc="predict", unit="img")
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # the device's results, read one batch late

    def flush(keep: int) -> None:
        nonlocal done
        while len(pending) > keep:
            idx, p = pending.pop(0)
            out[idx.numpy()] = p.cpu().numpy()  # the host waits here (for the batch before the newest)
            done += len(idx)
            bar.update(len(idx))

    t0 = time.perf_counter()
    with PartialResults(resume, lambda n: _save_partial(resume, key, out, n), done, SAVE_EVERY_S) as partial:
        try:
            batches = inference(model, loader, dev, amp=amp, prepare=pipe.prepare_fn(dev, fmt))
            for b, ((_, _, index), logits) in enumerate(batches):
                pending.append((index, probabilities(logits)))
                flush(1)
                partial.done(done)
                if on_batch is not None:
                    on_batch(b)
        finally:
            flush(0)  # what was computed counts, also when stopped early
            partial.done(done)
            bar.close()
    seconds = time.perf_counter() - t0
    problem = describe_nonfinite(out, ds.image_ids, ds.category_names)
    if problem:
        partial.discard()  # a diverged checkpoint: nothing worth continuing from
        raise InputError(f"the model gives {problem}: the checkpoint's weights diverged", path)
    return Scores(
        name=name or path.parent.name or path.stem,
        image_ids=ds.image_ids,
        category_ids=ann.category_ids,
        categories=ann.category_names,
        scores=out,
        source=str(path),
        meta={"checkpoint": str(path), "arch": meta["arch"], "n_missing_images": ds.n_missing,
              "resumed_images": int(resumed), "pipeline": kind, "seconds": seconds,
              "images_per_s": (len(ds) - resumed) / seconds if seconds > 0 and len(ds) > resumed else None},
    )


def partial_path(out: str | os.PathLike) -> Path:
    """Where :func:`write_predictions` keeps the partial scores of ``out``."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial.npz")


def _resume_key(checkpoint: Path, ann: Annotations, ds, size, resize, amp, device: str, pipeline: str) -> str:
    """What must not change between a run and its continuation."""
    import hashlib

    from salanalysis.io import file_stamp, fingerprint

    return fingerprint({
        "checkpoint": file_stamp(checkpoint), "annotations": str(ann.path),
        "image_ids": hashlib.sha256(np.asarray(ds.image_ids, dtype=np.int64).tobytes()).hexdigest(),
        "categories": [int(c) for c in ann.category_ids],
        "files": [file_stamp(f) for f in ds.files],  # resolved paths; an image replaced: start again
        "size": size, "resize": resize, "amp": bool(amp), "device": device, "pipeline": pipeline,
    })  # fmt: skip


def _load_partial(path: str | os.PathLike, key: str, out: np.ndarray) -> int:
    """Fill ``out`` from a matching partial file; returns how many leading rows it held."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key or z["scores"].shape[1:] != out.shape[1:]:
                return 0  # another run's (or stale) partial: start again
            n = int(z["n_done"])
            if not 0 <= n <= len(out) or z["scores"].shape[0] != n:
                return 0
            out[:n] = z["scores"]
            return n
    except Exception:  # none, unreadable, truncated (EOFError, BadZipFile...): start again
        return 0


def _save_partial(path: str | os.PathLike, key: str, out: np.ndarray, done: int) -> None:
    from salanalysis.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.array(key), n_done=np.array(done), scores=out[:done])


def write_predictions(
    checkpoint: str | os.PathLike,
    annotations: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: Literal["wide", "long"] = "wide",
    with_scores: bool = False,
    **kwargs,
) -> Path | tuple[Path, Scores]:
    """:func:`predict`, then :func:`~salanalysis.scores.write_scores` to ``out`` (atomic).

    Returns the written path, or ``(path, scores)`` with ``with_scores``.
    """
    out = Path(out)
    if out.suffix.lower() not in SCORE_EXTENSIONS:
        raise InputError(f"output must end in one of {', '.join(SCORE_EXTENSIONS)}", out)
    partial = partial_path(out)
    scores = predict(checkpoint, annotations, images, resume=partial, **kwargs)
    written = write_scores(scores, out, layout=layout)
    partial.unlink(missing_ok=True)
    return (written, scores) if with_scores else written
