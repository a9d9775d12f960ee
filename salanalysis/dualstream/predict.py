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
from salanalysis.dualstream.loop import bf16_supported, inference, resolve_amp
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

__all__ = ["load_model", "load_classifier", "training_input_size", "predict", "write_predictions", "partial_path",
           "evaluate_scores"]

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


def load_classifier(path: str | os.PathLike, *, with_checkpoint: bool = False):
    """A Baseline or DualStream from a ``salanalysis train`` checkpoint, plus its description.

    ``path`` is ``out/model.pt`` or ``out/last.pt`` of ``salanalysis train``
    (``"model"`` state dict and ``"meta"``, see
    :func:`salanalysis.dualstream.models.model_meta`), read by :func:`load_model`.
    Returns ``(model in eval mode on CPU, meta)``, with ``with_checkpoint``
    ``(model, meta, checkpoint dict)``.

    Raises
    ------
    InputError
        Unreadable file, not a classifier checkpoint (e.g. a saliency network),
        or weights that do not fit.
    """
    try:
        model, ckpt = load_model(path)
    except KeyError as exc:  # model_from_meta knows only the classifiers' archs
        raise InputError(
            f"not a Baseline/DualStream checkpoint (model arch {exc.args[0]!r}): CAMs need a classifier", path
        ) from exc
    if getattr(model, "arch", None) not in ("baseline", "dualstream"):
        raise InputError("not a Baseline/DualStream checkpoint: CAMs need a classifier", path)
    return (model.eval(), ckpt["meta"], ckpt) if with_checkpoint else (model.eval(), ckpt["meta"])


def training_input_size(ckpt: dict) -> int:
    """The ``input_size`` a checkpoint's run trained at (its config; 224 when it has none)."""
    cfg = ckpt.get("config") or {}
    return int(parse_input_size(cfg.get("input_size", cfg.get("image_size", 224)), square=True))


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
    missing: Literal["error", "skip"] = "error",
    amp: bool | str = "auto",
    progress: bool = False,
    resume: str | os.PathLike | None = None,
    on_batch: Callable[[int], None] | None = None,
    missing_images: Literal["error", "skip"] | None = None,
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
        The network input: the square's side, or ``(size, size)`` (default: the
        training run's ``input_size``, else 224; two different values are an
        InputError). The image is cropped as the training run evaluated
        (its ``eval_crop``: short side to ``resize_size`` then the center
        square, or the whole image resized to the square).
    missing
        ``"error"`` (default) or ``"skip"`` images whose file is absent (they get
        no row, ``Scores.meta["n_missing_images"]`` counts them).
    batch_size, workers, device, amp
        Images per forward pass, DataLoader workers, ``"auto"`` / ``"cpu"`` /
        ``"cuda"``, mixed precision on CUDA (``"auto"``: bf16 where the GPU has
        bfloat16, else fp16; see :func:`~salanalysis.dualstream.loop.resolve_amp`;
        channels_last there too). cuDNN autotuning is on for CUDA, as in training.
    pipeline
        ``"auto"`` (= ``"cpu"``), ``"cpu"`` or ``"gpu"`` (experimental): see
        :mod:`salanalysis.dualstream.pipeline` (the evaluation crop is the same).
    resume
        A partial-scores file (see the module docstring): continued from when
        it was written by a run with the same inputs and settings, written at
        most every :data:`SAVE_EVERY_S` seconds and when the run stops early.
        ``Scores.meta["resumed_images"]`` says how many images it supplied.
    on_batch
        Called with the batch number after each batch (tests use it to stop a run).
    missing_images
        The old spelling of ``missing`` (accepted for one release, with a ``FutureWarning``).

    Returns
    -------
    Scores
        Rows in image-id order, columns in category-id order, values in [0, 1];
        ``meta`` holds ``pipeline``, ``seconds`` (scoring, without start-up) and
        ``images_per_s`` (of the images scored by this call).
    """
    if missing_images is not None:
        import warnings

        warnings.warn("predict(missing_images=...) is now spelled missing=...", FutureWarning, stacklevel=2)
        missing = missing_images
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
    size = parse_input_size(input_size, square=True) if given else training_input_size(ck)
    resize = cfg.get("resize_size") if not given else None
    eval_crop = cfg.get("eval_crop", "center")
    dev = resolve_device(device)
    amp_mode = resolve_amp(amp, dev.type, bf16_supported(dev))
    kind = resolve_pipeline(pipeline, dev)
    pipe = InputPipeline(kind, size, train=False, resize=resize, eval_crop=eval_crop)
    ds = CocoMultiLabel(ann, images, pipe, include_empty=True, missing=missing)
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: cuDNN's fastest kernels, as in training
    model.to(dev, memory_format=fmt)
    sampler = SeededSampler(ds, 1, 0, shuffle=False)
    loader = make_loader(ds, sampler, batch_size, workers=workers, pin_memory=dev.type == "cuda",
                         persistent_workers=False, collate_fn=pipe.collate_fn())
    from salanalysis._progress import progress_bar

    out = np.zeros((len(ds), ds.num_classes), dtype=np.float64)
    key = _resume_key(path, ann, ds, size, (resize, eval_crop), amp_mode, dev.type, kind) if resume is not None else ""
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
            batches = inference(model, loader, dev, amp=amp_mode, prepare=pipe.prepare_fn(dev, fmt))
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
              "resumed_images": int(resumed), "pipeline": kind, "amp": amp_mode or "none", "seconds": seconds,
              "images_per_s": (len(ds) - resumed) / seconds if seconds > 0 and len(ds) > resumed else None},
    )


def evaluate_scores(scores: Scores, annotations: Annotations | str | os.PathLike):
    """Table 1 of ``scores`` on the images it scored (``salanalysis predict --evaluate``).

    The metric rules are the defaults (:data:`salanalysis.metrics.rules.DEFAULT_RULES`)
    and there is no bootstrap; ``salanalysis metrics`` on the written scores file
    gives intervals and the other rules. Images left out with ``missing="skip"``
    are left out of the ground truth too (scoring them as all-negative would
    bias every metric). Returns the :class:`~salanalysis.metrics.MetricsResult`.
    """
    from salanalysis.io import read_json
    from salanalysis.metrics import run_metrics

    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    scored = {int(i) for i in scores.image_ids}
    if len(scored) < len(ann.image_ids):
        data = read_json(ann.path)
        data = {**data, "images": [im for im in data["images"] if int(im["id"]) in scored],
                "annotations": [a for a in data["annotations"] if int(a["image_id"]) in scored]}
        ann = Annotations(data, ann.path)
    return run_metrics(ann, [scores], n_boot=0)


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
        "size": size, "resize": resize, "amp": amp or "none", "device": device, "pipeline": pipeline,
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
