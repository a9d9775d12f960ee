"""Class activation maps (Zhou et al., CVPR 2016) of the Baseline and the DualStream (Fig. 5).

CAM
---
For an image with last feature maps ``X_s`` (one (2048, h, w) tensor per stream
``s``: ``[trunk]`` for a Baseline, ``[trunk, branch]`` for a DualStream) and a
class ``c``, the CAM is

    ``M_c(y, x) = sum_s sum_k w_c[s, k] X_s[k, y, x]``

where ``w_c`` is the class's row of
:meth:`~salanalysis.dualstream.models.Baseline.class_weights`, the
positive-minus-negative weight row of the MCE head (``W[c, pos] - W[c, neg]``,
since the positive probability is ``sigmoid(x_pos - x_neg)``); for a DualStream
its 4096 columns are split into the trunk's ``[:2048]`` and the branch's
``[2048:]``. No bias is added (Zhou et al.). ``M_c`` is then upsampled
bilinearly (``align_corners=False``) to the image's own size. With global
average pooling, the pooled CAM plus the class bias is exactly the logit
difference; with the paper's global max pooling it is the usual visualisation.
:func:`cam_from_features` is the pure computation.

Model input: the image's short side is resized to ``input_size`` (default:
the checkpoints' training ``input_size``, as ``salanalysis predict``; aspect
ratio kept, no crop, so the CAM covers the whole image), ImageNet normalisation. Confidences are the positive class
probabilities (per-class two-way softmax) from that same forward pass; they can
differ slightly from ``salanalysis predict``'s center-crop scores.

Selection (the paper's Fig. 5 rule): a pair (image, ground-truth class ``c``)
is selected when model A misses it and model B detects it,
``conf_A(c) < threshold <= conf_B(c)`` (threshold 0.5 by default). Ground truth
is :meth:`~salanalysis.coco.Annotations.label_matrix` (crowd annotations count).
See :func:`select_examples`.

Output folder of :func:`run_cams` / ``salanalysis cam`` (all files are staged
and moved into place only when the run succeeded; ``cam_manifest.json`` and
``cam_run.json`` are written last; re-running into the same folder removes the
CAMs and overlays the previous ``cam_manifest.json`` listed and this run did not
write again, and nothing else)
-----------------------------------------------------------------------------
``gt_confidences.csv``
    One row per (image, ground-truth class) of every image scanned:
    ``image_id``, ``file_name``, ``category_id``, ``category``, ``conf_A``,
    ``conf_B`` (float, positive-class probabilities of model A and B),
    ``selected`` (bool, the Fig. 5 rule).
``selection.csv``
    The selected pairs, sorted by ``margin`` descending then (image_id,
    category_id): ``image_id``, ``file_name``, ``category_id``, ``category``,
    ``conf_A``, ``conf_B``, ``margin`` (= conf_B - conf_A), ``rendered`` (bool:
    CAMs and overlays were written; ``--max-images`` limits these).
``cams/<image_id>_<category_id>_<model>.npy``
    The CAM of one model for one selected pair: float32 (height, width) at the
    image's size, raw values (not normalised).
``overlays/<image_id>_<category_id>_<model>.png``
    The image with the min-max normalised CAM over it (JET colour map, alpha 0.5)
    and a band reading ``<model>: <category> <confidence>``.
``cam_manifest.json``
    A JSON **list** of records, one per rendered pair, in ``selection.csv``
    order, the format :func:`salanalysis.plotting.cam_figure` reads
    (``root`` = the output folder)::

        {"image": "images/192.jpg",
         "image_id": 192, "file_name": "COCO_val2014_000000000192.jpg",
         "width": 640, "height": 480,
         "category_id": 1, "category": "person",
         "threshold": 0.5, "margin": 0.39,
         "models": [
            {"model": "baseline", "role": "A", "confidence": 0.20, "detected": false,
             "cam": "cams/192_1_baseline.npy", "overlay": "overlays/192_1_baseline.png",
             "cam_min": -1.2, "cam_max": 8.5},
            {"model": "dual", "role": "B", ...}]}

    ``image`` (a copy of the image, ``images/<image_id>.<ext>``), ``cam`` and
    ``overlay`` are relative to the output folder, so the folder stands alone and
    names no path of the machine it was made on; readers refuse a manifest path
    that is absolute or leaves the folder.
``cam_manifest.csv``
    The same, flat: one row per (rendered pair, model) with columns
    ``image_id``, ``file_name``, ``image``, ``width``, ``height``,
    ``category_id``, ``category``, ``model``, ``role`` ('A' | 'B'),
    ``confidence``, ``detected``, ``cam``, ``overlay``, ``cam_min``, ``cam_max``,
    ``margin``.
``cam_run.json``
    Provenance: threshold, input size, the models (name, role, checkpoint,
    arch, pooling), counts (images in the annotations, scanned, missing
    files, ground-truth pairs, selected pairs, rendered pairs and images).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from salanalysis.dualstream.predict import load_classifier, training_input_size
from salanalysis.errors import InputError
from salanalysis.images import image_in_folder

__all__ = [
    "cam_from_features",
    "class_activation_maps",
    "select_examples",
    "cam_overlay",
    "load_classifier",
    "prepare_image",
    "CamRun",
    "run_cams",
    "SELECTION_COLUMNS",
    "MANIFEST_COLUMNS",
]

SELECTION_COLUMNS = ["image_id", "file_name", "category_id", "category", "conf_A", "conf_B", "margin", "rendered"]
MANIFEST_COLUMNS = [
    "image_id", "file_name", "image", "width", "height", "category_id", "category", "model", "role",
    "confidence", "detected", "cam", "overlay", "cam_min", "cam_max", "margin",
]


# ------------------------------------------------------------------------ math
def cam_from_features(
    features: Sequence[torch.Tensor],
    weights: torch.Tensor,
    classes: Sequence[int] | torch.Tensor | None = None,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """CAMs from last feature maps and class weight rows.

    Parameters
    ----------
    features
        One (B, K_s, h, w) tensor per stream (all with the same h, w).
    weights
        (C, sum_s K_s): a class's row, split in stream order (the first K_0
        columns weigh stream 0, ...).
    classes
        Class indices to compute (default: all C).
    size
        (H, W) to upsample to (bilinear, ``align_corners=False``); default: keep (h, w).

    Returns
    -------
    torch.Tensor
        (B, n_classes, H, W) float32.
    """
    feats = [f.float() for f in features]
    if not feats:
        raise ValueError("no feature maps")
    hw = feats[0].shape[-2:]
    if any(f.shape[-2:] != hw for f in feats):
        raise ValueError(f"streams have different spatial sizes: {[tuple(f.shape[-2:]) for f in feats]}")
    dims = [f.shape[1] for f in feats]
    w = weights.float()
    if w.ndim != 2 or w.shape[1] != sum(dims):
        raise ValueError(f"weights of shape {tuple(w.shape)} do not fit feature dims {dims}")
    if classes is not None:
        idx = torch.as_tensor(classes, dtype=torch.long, device=w.device).reshape(-1)
        w = w.index_select(0, idx)
    cam = None
    for f, ws in zip(feats, torch.split(w, dims, dim=1)):
        part = torch.einsum("nk,bkhw->bnhw", ws.to(f.device), f)
        cam = part if cam is None else cam + part
    if size is not None and tuple(size) != tuple(hw):
        cam = F.interpolate(cam, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)
    return cam


@torch.no_grad()
def class_activation_maps(
    model: torch.nn.Module,
    x: torch.Tensor,
    classes: Sequence[int] | None = None,
    size: tuple[int, int] | str = "input",
) -> tuple[torch.Tensor, torch.Tensor]:
    """CAMs and confidences of a Baseline / DualStream from one forward pass.

    Parameters
    ----------
    model
        A :class:`~salanalysis.dualstream.models.Baseline` or
        :class:`~salanalysis.dualstream.models.DualStream` (in eval mode).
    x
        Normalised images (B, 3, H, W).
    classes
        Class indices (default: all).
    size
        ``"input"`` (default): upsample to x's size; ``"features"``: keep the
        feature maps' (h, w); or an explicit (H, W).

    Returns
    -------
    cams : torch.Tensor
        (B, n_classes, *size) float32.
    probs : torch.Tensor
        (B, C) positive-class probabilities (all classes).
    """
    from salanalysis.dualstream.models import probabilities

    feats = model.features(x)
    pooled = torch.cat([model.pool(f) for f in feats], dim=1)
    probs = probabilities(model.head(pooled))
    if isinstance(size, str):
        if size not in ("input", "features"):
            raise ValueError("size must be 'input', 'features' or (H, W)")
        size = tuple(x.shape[-2:]) if size == "input" else None
    cams = cam_from_features(feats, model.class_weights(), classes, size)
    return cams, probs


# ------------------------------------------------------------------- selection
def select_examples(
    image_ids: np.ndarray,
    labels: np.ndarray,
    conf_a: np.ndarray,
    conf_b: np.ndarray,
    *,
    threshold: float = 0.5,
    category_ids: Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    file_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every (image, ground-truth class) pair with its two confidences and the Fig. 5 rule.

    Parameters
    ----------
    image_ids
        (N,) image ids (row order).
    labels
        (N, C) bool ground truth.
    conf_a, conf_b
        (N, C) positive-class probabilities of model A and model B.
    threshold
        A class is detected when its confidence is >= threshold.
    category_ids, categories, file_names
        Column ids / names (default 0..C-1 and their str) and row file names (default "").

    Returns
    -------
    pandas.DataFrame
        One row per positive label, sorted by (image_id, category_id):
        ``image_id``, ``file_name``, ``category_id``, ``category``, ``conf_A``,
        ``conf_B``, ``margin`` (conf_B - conf_A) and ``selected``
        (``conf_A < threshold <= conf_B``).
    """
    labels = np.asarray(labels, dtype=bool)
    conf_a = np.asarray(conf_a, dtype=np.float64)
    conf_b = np.asarray(conf_b, dtype=np.float64)
    image_ids = np.asarray(image_ids, dtype=np.int64)
    n, c = labels.shape
    if conf_a.shape != (n, c) or conf_b.shape != (n, c) or image_ids.shape != (n,):
        raise ValueError("labels, conf_a, conf_b and image_ids do not agree in shape")
    cids = np.asarray(category_ids if category_ids is not None else np.arange(c), dtype=np.int64)
    names = np.asarray(list(categories) if categories is not None else [str(i) for i in cids], dtype=object)
    fns = np.asarray(list(file_names) if file_names is not None else [""] * n, dtype=object)
    rows, cols = np.nonzero(labels)
    df = pd.DataFrame(
        {
            "image_id": image_ids[rows],
            "file_name": fns[rows].astype(str) if n else np.zeros(0, dtype=str),
            "category_id": cids[cols],
            "category": names[cols].astype(str) if c else np.zeros(0, dtype=str),
            "conf_A": conf_a[rows, cols],
            "conf_B": conf_b[rows, cols],
        }
    )
    df["margin"] = df["conf_B"] - df["conf_A"]
    df["selected"] = (df["conf_A"] < threshold) & (df["conf_B"] >= threshold)
    return df.sort_values(["image_id", "category_id"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------- drawing
def cam_overlay(image: np.ndarray, cam: np.ndarray, text: str = "", alpha: float = 0.5) -> np.ndarray:
    """The image (uint8 RGB, H x W x 3) with a min-max normalised CAM over it (JET), plus a text band.

    ``cam`` is resized to the image when its size differs. Returns uint8 RGB of
    height H (+ a 24-pixel band on top when ``text`` is given) and width W.
    """
    import cv2

    h, w = image.shape[:2]
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != (h, w):
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(cam.min()), float(cam.max())
    norm = (cam - lo) / (hi - lo) if hi > lo else np.zeros_like(cam)
    heat = cv2.applyColorMap(np.rint(255 * norm).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    out = np.rint((1 - alpha) * image.astype(np.float32) + alpha * heat.astype(np.float32))
    out = np.clip(out, 0, 255).astype(np.uint8)
    if text:
        band = np.zeros((24, w, 3), dtype=np.uint8)
        cv2.putText(band, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        out = np.concatenate([band, out], axis=0)
    return out


# --------------------------------------------------------------------- loading
def prepare_image(image: np.ndarray, input_size: int = 224) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> normalised (1, 3, h, w), short side resized to ``input_size``.

    Bilinear resize with antialiasing (torchvision ``v2.Resize``), ImageNet mean/std.
    """
    from torchvision.transforms import v2

    from salanalysis.dualstream.data import IMAGENET_MEAN, IMAGENET_STD

    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    tf = v2.Compose([v2.Resize(int(input_size), antialias=True), v2.ToDtype(torch.float32, scale=True),
                     v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return tf(t).unsqueeze(0)


# ------------------------------------------------------------------------ driver
@dataclass
class CamRun:
    """What :func:`run_cams` computed and wrote.

    Attributes
    ----------
    confidences
        ``gt_confidences.csv``'s table (see the module docstring).
    selection
        ``selection.csv``'s table.
    manifest
        The ``cam_manifest.json`` records.
    out
        The output folder.
    counts
        The counts of ``cam_run.json``.
    """

    confidences: pd.DataFrame
    selection: pd.DataFrame
    manifest: list[dict[str, Any]]
    out: Path
    counts: dict[str, int] = field(default_factory=dict)


def _check_categories(meta: dict, ann, path: str | os.PathLike) -> None:
    n = len(ann.categories)
    if int(meta["num_classes"]) != n:
        raise InputError(
            f"model has {meta['num_classes']} classes but the annotations have {n} categories", path
        )
    ids = meta.get("category_ids")
    if ids is not None and [int(i) for i in ids] != [int(i) for i in ann.category_ids]:
        raise InputError("model's category ids differ from the annotations' categories", path)


from salanalysis.dualstream._cam_files import (  # noqa: E402  (split out of this module)
    SAVE_EVERY_S,
    _listed_outputs,
    _load_scan,
    _remove_stale,
    _save_scan,
    _scan_key,
)


def run_cams(
    checkpoints: Mapping[str, str | os.PathLike] | Sequence[tuple[str, str | os.PathLike]],
    annotations,
    images: str | os.PathLike,
    out: str | os.PathLike,
    *,
    threshold: float = 0.5,
    max_images: int | None = None,
    input_size: int | None = None,
    device: str = "auto",
    progress: bool = False,
    resume: bool = True,
    missing: str = "skip",
    on_image: Callable[[int], None] | None = None,
) -> CamRun:
    """Fig. 5: confidences of models A and B, the selection rule, CAMs and overlays.

    Parameters
    ----------
    checkpoints
        Exactly two ``(name, checkpoint)`` pairs in order A, B (e.g. the baseline
        and the dual-stream model); names label files and plots.
    annotations
        :class:`~salanalysis.coco.Annotations` or the path of an instances JSON
        (ground truth and category order).
    images
        Folder with the images (``file_name`` of the annotations).
    out
        Output folder (see the module docstring for its files).
    threshold
        Detection threshold of the selection rule.
    max_images
        Render CAMs and overlays for at most this many images (those with the
        largest margin first); ``None``: every selected image.
    input_size
        Short side the images are resized to (default: the checkpoints' training
        ``input_size``; two checkpoints trained at different sizes need it given).
    missing
        Images whose file is absent: ``"skip"`` (default; skipped and counted, at
        least one must exist) or ``"error"``.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress
        Show a progress bar.
    resume
        The scan of the images (both models on every image: the long part) keeps
        its results in ``out/.cam_scan.<key>.npz`` (saved atomically at most once
        a minute and when the run stops early; the key names the checkpoints, the
        images and the settings); a run with the same inputs continues after the
        last saved image, with the same results. Once a run succeeds, its scan
        file and any left by interrupted runs with other inputs are removed.
    on_image
        Called with the image's position after each scanned image (tests use it
        to stop a run).

    Returns
    -------
    CamRun
    """
    from salanalysis.coco import Annotations
    from salanalysis.dualstream.checkpoint import PartialResults
    from salanalysis.dualstream.distributed import resolve_device
    from salanalysis.dualstream.saliency.export import read_rgb, write_png
    from salanalysis.io import staged_dir, write_json, write_table

    pairs = list(checkpoints.items()) if isinstance(checkpoints, Mapping) else list(checkpoints)
    if len(pairs) != 2:
        raise InputError(f"CAMs compare exactly two models (A and B), got {len(pairs)} checkpoints")
    if pairs[0][0] == pairs[1][0]:
        raise InputError(f"the two models need different names, both are {pairs[0][0]!r}")
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must lie in [0, 1], got {threshold}")
    if max_images is not None and max_images < 0:
        raise InputError(f"max_images must be >= 0, got {max_images}")
    ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
    root = Path(images)
    if not root.is_dir():
        raise InputError("image folder not found", root)
    dev = resolve_device(device)
    models, metas, sizes = [], [], []
    for _name, path in pairs:
        model, meta, ck = load_classifier(path, with_checkpoint=True)
        _check_categories(meta, ann, path)
        models.append(model.to(dev))
        metas.append(meta)
        sizes.append(training_input_size(ck))
    if input_size is None and sizes[0] != sizes[1]:
        raise InputError(f"the checkpoints were trained at input sizes {sizes[0]} and {sizes[1]}: give input_size")
    input_size = int(input_size if input_size is not None else sizes[0])

    labels_all = ann.label_matrix(include_crowd=True)
    img_table = ann.images
    paths = [image_in_folder(root, f, ann.path) for f in img_table["file_name"]]
    present = np.array([p.is_file() for p in paths], dtype=bool)
    if not present.any():
        raise InputError(f"none of the {len(img_table)} annotated images is in the image folder", root)
    if missing == "error" and not present.all():
        raise InputError(f"image file not found ({int((~present).sum())} of {len(present)} images missing under "
                         f"{root}; --missing skip leaves them out and counts them)",
                         root / img_table["file_name"].iloc[int(np.flatnonzero(~present)[0])])
    rows = np.flatnonzero(present)
    n_img, n_cls = len(rows), len(ann.categories)
    conf = np.zeros((2, n_img, n_cls), dtype=np.float64)
    low_cams: dict[tuple[int, int], list[torch.Tensor]] = {}
    scan_file = None
    start = 0
    if resume:
        files = [paths[r] for r in rows]
        key = _scan_key(pairs, ann, files, threshold, input_size, dev.type)
        scan_file = Path(out) / f".cam_scan.{key}.npz"
        start = _load_scan(scan_file, conf, low_cams)
    bar = None
    if progress:
        from salanalysis._progress import progress_bar

        bar = progress_bar(total=n_img, initial=start, desc="CAMs", unit="img")
    keep = PartialResults(scan_file, lambda n: _save_scan(scan_file, conf, low_cams, n), start, SAVE_EVERY_S)
    try:
        with keep:
            for j in range(start, n_img):
                r = rows[j]
                img = read_rgb(paths[r])
                x = prepare_image(img, input_size).to(dev)
                gt = np.flatnonzero(labels_all[r])
                per_model = []
                for m_i, model in enumerate(models):
                    cams, probs = class_activation_maps(model, x, gt.tolist(), size="features")
                    conf[m_i, j] = probs[0].double().cpu().numpy()
                    per_model.append(cams[0].cpu())
                a, b = conf[0, j, gt], conf[1, j, gt]
                for k, c in enumerate(gt):
                    if a[k] < threshold <= b[k]:
                        low_cams[(j, int(c))] = [pm[k] for pm in per_model]
                if bar is not None:
                    bar.update(1)
                keep.done(j + 1)
                if on_image is not None:
                    on_image(j)
    finally:
        if bar is not None:
            bar.close()
    if scan_file is not None and keep.n > keep.saved:
        _save_scan(scan_file, conf, low_cams, keep.n)  # the whole scan, should rendering be interrupted

    table = select_examples(
        img_table["image_id"].to_numpy()[rows],
        labels_all[rows],
        conf[0],
        conf[1],
        threshold=threshold,
        category_ids=ann.category_ids,
        categories=ann.category_names,
        file_names=img_table["file_name"].to_numpy()[rows],
    )
    sel = table[table["selected"]].drop(columns="selected")
    sel = sel.sort_values(["margin", "image_id", "category_id"], ascending=[False, True, True], kind="stable")
    sel = sel.reset_index(drop=True)
    order = list(dict.fromkeys(sel["image_id"].tolist()))  # images by their best margin
    keep_imgs = set(order if max_images is None else order[: int(max_images)])
    sel["rendered"] = sel["image_id"].isin(keep_imgs)

    row_of = {int(iid): j for j, iid in enumerate(img_table["image_id"].to_numpy()[rows])}
    cat_index = {int(c): i for i, c in enumerate(ann.category_ids)}
    names = [p[0] for p in pairs]
    manifest: list[dict[str, Any]] = []
    flat: list[dict[str, Any]] = []
    previous = _listed_outputs(Path(out))
    with staged_dir(out, last=["cam_run.json", "cam_manifest.json"]) as stage:
        for rec in sel[sel["rendered"]].itertuples(index=False):
            j = row_of[int(rec.image_id)]
            c = cat_index[int(rec.category_id)]
            img_path = paths[int(rows[j])]
            img = read_rgb(img_path)
            h, w = img.shape[:2]
            img_rel = f"images/{int(rec.image_id)}{img_path.suffix.lower()}"  # a copy: DIR stands alone
            (stage / "images").mkdir(exist_ok=True)
            shutil.copyfile(img_path, stage / img_rel)
            entry = {
                "image": img_rel,
                "image_id": int(rec.image_id),
                "file_name": str(rec.file_name),
                "width": int(w),
                "height": int(h),
                "category_id": int(rec.category_id),
                "category": str(rec.category),
                "threshold": float(threshold),
                "margin": float(rec.margin),
                "models": [],
            }
            for m_i, (name, role) in enumerate(zip(names, ("A", "B"))):
                low = low_cams[(j, c)][m_i]
                cam = F.interpolate(low[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
                cam = cam.numpy().astype(np.float32)
                stem = f"{int(rec.image_id)}_{int(rec.category_id)}_{name}"
                cam_rel, ov_rel = f"cams/{stem}.npy", f"overlays/{stem}.png"
                (stage / "cams").mkdir(exist_ok=True)
                np.save(stage / cam_rel, cam, allow_pickle=False)
                c_m = float(conf[m_i, j, c])
                write_png(cam_overlay(img, cam, f"{name}: {rec.category} {c_m:.4f}"), stage / ov_rel)
                m_rec = {
                    "model": name,
                    "role": role,
                    "confidence": c_m,
                    "detected": bool(c_m >= threshold),
                    "cam": cam_rel,
                    "overlay": ov_rel,
                    "cam_min": float(cam.min()),
                    "cam_max": float(cam.max()),
                }
                entry["models"].append(m_rec)
                flat.append({k: entry[k] for k in ("image_id", "file_name", "image", "width", "height",
                                                    "category_id", "category")} | m_rec | {"margin": entry["margin"]})
            manifest.append(entry)
        conf_table = table.copy()
        write_table(conf_table, stage / "gt_confidences.csv")
        write_table(sel[SELECTION_COLUMNS], stage / "selection.csv")
        write_table(pd.DataFrame(flat, columns=MANIFEST_COLUMNS), stage / "cam_manifest.csv")
        counts = {
            "n_images_annotated": int(len(img_table)),
            "n_images_scanned": int(n_img),
            "n_images_missing": int((~present).sum()),
            "n_gt_pairs": int(len(table)),
            "n_selected_pairs": int(len(sel)),
            "n_selected_images": int(len(order)),
            "n_rendered_pairs": int(sel["rendered"].sum()),
            "n_rendered_images": int(len(keep_imgs)),
        }
        write_json(
            stage / "cam_run.json",
            {
                "rule": "conf_A < threshold <= conf_B for a ground-truth class",
                "threshold": float(threshold),
                "input_size": int(input_size),
                "models": [
                    {
                        "name": name,
                        "role": role,
                        "checkpoint": str(Path(path).resolve()),
                        "arch": meta["arch"],
                        "pooling": meta.get("pooling"),
                    }
                    for (name, path), role, meta in zip(pairs, ("A", "B"), metas)
                ],
                "annotations": str(ann.path),
                "images": str(root.resolve()),
                "counts": counts,
            },
        )
        write_json(stage / "cam_manifest.json", manifest)
    if scan_file is not None:  # this scan, and those of runs with other inputs left behind
        from salanalysis.io import remove_leftovers

        remove_leftovers(out, ".cam_scan.*.npz")
    # a re-run into the same folder: remove the CAMs and overlays of the previous run
    # that this run did not write again (only files its manifest listed)
    current = {m[k] for e in manifest for m in e["models"] for k in ("cam", "overlay")}
    current |= {e["image"] for e in manifest}
    _remove_stale(Path(out), previous, current)
    return CamRun(confidences=table, selection=sel, manifest=manifest, out=Path(out), counts=counts)
