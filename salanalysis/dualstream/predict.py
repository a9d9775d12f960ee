"""Scores files from a trained checkpoint (``salanalysis predict``).

:func:`predict` runs a Baseline or DualStream checkpoint (``model.pt`` or
``last.pt`` written by :func:`salanalysis.dualstream.train.train`, or any file
with ``model`` weights and a ``meta`` description) over the images of a COCO
instances file with the evaluation transform, and returns a
:class:`salanalysis.scores.Scores` of per-class probabilities (the positive
entry of each class's two-way softmax). :func:`write_predictions` writes them
with :func:`salanalysis.scores.write_scores`, so every analysis command reads
the file directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from salanalysis.coco import Annotations
from salanalysis.dualstream.data import CocoMultiLabel, SeededSampler, eval_transform, make_loader
from salanalysis.dualstream.engine import autocast, load_checkpoint, resolve_device
from salanalysis.dualstream.models import Baseline, DualStream, model_from_meta, probabilities
from salanalysis.errors import InputError
from salanalysis.scores import SCORE_EXTENSIONS, Scores, write_scores

__all__ = ["load_model", "predict", "write_predictions"]


def load_model(checkpoint: str | os.PathLike) -> tuple[Baseline | DualStream, dict]:
    """Rebuild the model of a checkpoint; returns ``(model, checkpoint dict)`` (model on CPU, eval mode)."""
    ck = load_checkpoint(checkpoint)
    meta = ck.get("meta")
    if not isinstance(meta, dict) or "arch" not in meta or "model" not in ck:
        raise InputError("not a salanalysis model checkpoint (no 'model' weights with a 'meta' description)",
                         checkpoint)
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
    batch_size: int = 32,
    workers: int = 2,
    device: str = "auto",
    image_size: int | None = None,
    missing_images: Literal["error", "skip"] = "error",
    amp: bool = True,
    progress: bool = False,
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
    image_size
        Crop size (default: the training run's ``image_size``, else 224).
    missing_images
        ``"error"`` (default) or ``"skip"`` images whose file is absent (they get
        no row; read the file back with ``missing="zero"``).

    Returns
    -------
    Scores
        Rows in image-id order, columns in category-id order, values in [0, 1].
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
    size = int(image_size or cfg.get("image_size") or 224)
    resize = cfg.get("resize_size") if image_size is None else None
    ds = CocoMultiLabel(ann, images, eval_transform(size, resize), include_empty=True, missing=missing_images)
    dev = resolve_device(device)
    model.to(dev)
    sampler = SeededSampler(ds, 1, 0, shuffle=False)
    loader = make_loader(ds, sampler, batch_size, workers=workers, pin_memory=dev.type == "cuda",
                         persistent_workers=False)
    from salanalysis._progress import progress_bar

    out = np.zeros((len(ds), ds.num_classes), dtype=np.float64)
    for x, _, index in progress_bar(loader, disable=not progress, desc="predict"):
        with autocast(dev, amp):
            logits = model(x.to(dev, non_blocking=True))
        out[index.numpy()] = probabilities(logits).cpu().numpy()
    if not np.isfinite(out).all():
        raise InputError(f"the model gives NaN or infinite scores for {int((~np.isfinite(out)).any(1).sum())} "
                         "image(s): the checkpoint's weights diverged", path)
    return Scores(
        name=name or path.parent.name or path.stem,
        image_ids=ds.image_ids,
        category_ids=ann.category_ids,
        categories=ann.category_names,
        scores=out,
        source=str(path),
        meta={"checkpoint": str(path), "arch": meta["arch"], "n_missing_images": ds.n_missing},
    )


def write_predictions(
    checkpoint: str | os.PathLike,
    annotations: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: Literal["wide", "long"] = "wide",
    **kwargs,
) -> Path:
    """:func:`predict`, then :func:`~salanalysis.scores.write_scores` to ``out`` (atomic)."""
    out = Path(out)
    if out.suffix.lower() not in SCORE_EXTENSIONS:
        raise InputError(f"output must end in one of {', '.join(SCORE_EXTENSIONS)}", out)
    scores = predict(checkpoint, annotations, images, **kwargs)
    return write_scores(scores, out, layout=layout)
