"""Training the saliency network on SALICON (``salanalysis train-saliency``).

Data (:class:`SaliconSaliency`)
    One item per ground-truth map in ``train_maps`` (SALICON's
    ``maps/train/COCO_train2014_%012d.png``), with its image found in
    ``train_images`` by the same stem (``.jpg``, ``.jpeg``, ``.png``; an image
    without a map is simply not used; a map without an image is an InputError,
    or skipped and counted with ``missing="skip"``). Optional fixations
    (``train_fixations``: a SALICON 2015 JSON, a 2017 ``.mat`` file or folder,
    read by :func:`salanalysis.salicon.read_fixations`) are matched by image
    name, then id. Images are resized (bilinear, antialiased) to
    ``input_size`` (height, width; 480x640 by default, SALICON's size) and
    ImageNet-normalised; maps are resized to the same size (``cv2.INTER_AREA``
    when shrinking, bilinear when enlarging) and min-max normalised; fixations
    are scaled to it (pixel centers) and counted per pixel
    (:func:`salanalysis.salicon.fixation_points_map`, ``accumulate="count"``).
    ``hflip`` flips image, map and fixations together (seeded per item).
Loss
    :func:`salanalysis.dualstream.saliency.net.saliency_loss`:
    ``w_kld * KLD + w_cc * (1 - CC) - w_nss * NSS`` (KLD only by default; NSS
    needs fixations).
Optimisation
    SGD (momentum 0.9, weight decay 1e-4, as the paper's other phases) or Adam,
    lr 1e-3 by default, optional step or cosine schedule.
Evaluation (each epoch, on ``val_maps`` / ``val_images`` / ``val_fixations``)
    The predicted density at the input size against the ground truth at the
    same size, per image, with :mod:`salanalysis.saliency_metrics`: CC, KLD,
    SIM (maps) and NSS, AUC-Judd (fixations, when given), averaged over images
    (NaN ignored); plus the validation loss. For the benchmark numbers at the
    images' own size, run ``salanalysis saliency predict`` and ``salanalysis
    saliency evaluate``.
Engineering (shared with ``salanalysis train`` through :mod:`~salanalysis.dualstream.trainer`)
    ``out/last.pt`` (atomic) every ``checkpoint_every`` steps and at each
    epoch's end: model, optimizer, scheduler, epoch, batches done, global step,
    every rank's RNG states, the resolved config and the model description
    (``"meta"``); ``resume`` continues exactly (same seeded order, consumed
    batches skipped, per-item augmentation seeds). ``out/model.pt`` at the end
    (weights + description: what ``salanalysis saliency predict`` and
    ``salanalysis train --phase 1b --branch-init`` read), ``out/config.json``,
    ``out/log.csv`` or ``out/log.jsonl`` (one ``step`` row every ``log_every``
    steps and one ``epoch`` row per epoch). bf16 autocast and channels_last on
    CUDA, optional ``torch.compile``, DistributedDataParallel under
    ``torchrun`` (``batch_size`` is the global batch), evaluation gathered
    over ranks without the sampler's padding duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from salanalysis.dualstream.data import IMAGENET_MEAN, IMAGENET_STD
from salanalysis.dualstream.distributed import gather_unique
from salanalysis.dualstream.loop import Prepare, RunResult, inference
from salanalysis.dualstream.saliency.config import (
    CHOICES,
    RESUME_OVERRIDABLE,
    SALIENCY_CONFIG_HELP,
    SPEC,
    SaliencyTrainConfig,
    load_saliency_config,
    resolve_saliency_config,
)
from salanalysis.dualstream.saliency.net import (
    SaliencyNet,
    build_saliency_net,
    saliency_loss,
    saliency_meta,
    saliency_net_from_meta,
)
from salanalysis.dualstream.trainer import CHECKPOINT_FORMAT, Task, run_training
from salanalysis.errors import InputError

__all__ = [
    "SaliencyTrainConfig",
    "SaliencyTrainResult",
    "SaliconSaliency",
    "resolve_saliency_config",
    "load_saliency_config",
    "evaluate_saliency",
    "train_saliency",
    "SALIENCY_CONFIG_HELP",
    "CHECKPOINT_FORMAT",
    "RESUME_OVERRIDABLE",
    "CHOICES",
    "SaliencyTask",
]

LOG_COLUMNS = ["kind", "epoch", "step", "loss", "kld", "cc", "nss", "lr", "val_loss",
               "CC", "KLD", "SIM", "NSS", "AUC_Judd", "images_per_s", "seconds"]
EVAL_METRICS = ("CC", "KLD", "SIM", "NSS", "AUC_Judd")
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


@dataclass
class SaliencyTrainResult(RunResult):
    """What :func:`train_saliency` returns (on every rank).

    Attributes
    ----------
    out, checkpoint, model_path
        The output folder, ``out/last.pt`` and ``out/model.pt`` (None when the
        run stopped early, e.g. at ``max_steps``).
    step, epoch
        Global steps done; epochs completed.
    history
        The log rows of this call (dicts with the log's columns).
    metrics
        The last evaluation (``val_loss``, ``CC``, ``KLD``, ``SIM``, ``NSS``,
        ``AUC_Judd``, ``n_images``), empty without validation data.
    """


# ------------------------------------------------------------------------ data
def _read_fixation_groups(path: str | None) -> dict:
    if not path:
        return {}
    from salanalysis.salicon import read_fixations

    fx = read_fixations(path)
    groups: dict = {}
    for (iid, name), g in fx.table.groupby(["image_id", "image"], sort=True):
        rec = (g["x"].to_numpy(np.float64), g["y"].to_numpy(np.float64),
               int(g["width"].iloc[0]), int(g["height"].iloc[0]))
        groups[str(name)] = rec
        groups[int(iid)] = rec
    return groups


class SaliconSaliency(Dataset):
    """SALICON images with ground-truth maps (and optionally fixations), resized for the network.

    Parameters
    ----------
    images
        Folder of images.
    maps
        Folder of ground-truth maps (any format :class:`salanalysis.maps.MapSource`
        reads); one item per map, in name order.
    fixations
        Optional fixation file/folder (see the module docstring).
    size
        (height, width) of the network input.
    hflip
        Random horizontal flips (seeded by the sampler's per-item seed).
    missing
        ``"error"`` (default) or ``"skip"`` maps whose image is absent.

    Items are ``(image, map, fixations, index)``: float32 (3, h, w) normalised
    image, float32 (1, h, w) map in [0, 1], float32 (1, h, w) fixation counts
    (zeros without fixations), int row.
    """

    def __init__(
        self,
        images: str | os.PathLike,
        maps: str | os.PathLike,
        fixations: str | None = None,
        *,
        size: tuple[int, int] = (480, 640),
        hflip: bool = False,
        missing: str = "error",
    ) -> None:
        from salanalysis.maps import MAP_EXTENSIONS
        from salanalysis.salicon import image_id_from_name

        self.root = Path(images)
        self.map_dir = Path(maps)
        if not self.root.is_dir():
            raise InputError("image folder not found", self.root)
        if not self.map_dir.is_dir():
            raise InputError("ground-truth map folder not found", self.map_dir)
        map_files = sorted(
            p for p in self.map_dir.iterdir()
            if p.is_file() and p.suffix.lower() in MAP_EXTENSIONS and not p.name.startswith(".")
        )
        if not map_files:
            raise InputError("no ground-truth maps in folder", self.map_dir)
        by_stem = {}
        for p in self.root.iterdir():
            if p.suffix in _IMAGE_EXTS and p.is_file():
                by_stem.setdefault(p.stem, p)
        self.items: list[tuple[Path, Path]] = []
        self.n_missing = 0
        for m in map_files:
            img = by_stem.get(m.stem)
            if img is None:
                if missing == "error":
                    raise InputError(f"no image named {m.stem}.jpg (or .png) in {self.root}; --missing skip "
                                     "(missing='skip') leaves such maps out and counts them", m)
                self.n_missing += 1
                continue
            self.items.append((img, m))
        if not self.items:
            raise InputError(f"none of the {len(map_files)} maps has an image in {self.root}", self.map_dir)
        self.size = (int(size[0]), int(size[1]))
        self.hflip = bool(hflip)
        self.fix = _read_fixation_groups(fixations)
        self.names = [m.stem for _, m in self.items]
        self.image_ids = [image_id_from_name(n) for n in self.names]
        self.has_fixations = np.array(
            [(n in self.fix) or (i is not None and i in self.fix) for n, i in zip(self.names, self.image_ids)]
        )
        if fixations and not self.has_fixations.any():
            raise InputError("no fixations match any of the maps' images", fixations)

    def __len__(self) -> int:
        return len(self.items)

    def _fixations(self, index: int) -> tuple[np.ndarray, np.ndarray, int, int] | None:
        name, iid = self.names[index], self.image_ids[index]
        rec = self.fix.get(name)
        if rec is None and iid is not None:
            rec = self.fix.get(iid)
        return rec

    def __getitem__(self, key):
        from torchvision.transforms.v2 import functional as TF

        from salanalysis.dualstream.saliency.export import read_rgb
        from salanalysis.maps import load_map
        from salanalysis.salicon import fixation_points_map

        if isinstance(key, (tuple, list)):
            index, seed = int(key[0]), int(key[1])
        else:
            index, seed = int(key), None
        img_path, map_path = self.items[index]
        h, w = self.size
        img = torch.from_numpy(read_rgb(img_path)).permute(2, 0, 1)
        img = TF.resize(img, [h, w], antialias=True)
        x = TF.normalize(TF.to_dtype(img, torch.float32, scale=True), IMAGENET_MEAN, IMAGENET_STD)
        raw = load_map(map_path, normalize=False)
        interp = cv2.INTER_AREA if raw.shape[0] > h or raw.shape[1] > w else cv2.INTER_LINEAR
        gt = cv2.resize(raw, (w, h), interpolation=interp) if raw.shape != (h, w) else raw
        lo, hi = float(gt.min()), float(gt.max())
        gt = (gt - lo) / (hi - lo) if hi > lo else np.zeros_like(gt)
        rec = self._fixations(index)
        if rec is not None:
            fx, fy, fw, fh = rec
            fmap = fixation_points_map((fx + 0.5) * (w / fw) - 0.5, (fy + 0.5) * (h / fh) - 0.5, h, w,
                                       accumulate="count")
        else:
            fmap = np.zeros((h, w))
        flip = False
        if self.hflip:
            g = torch.Generator().manual_seed(seed if seed is not None else index)
            flip = bool(torch.rand((), generator=g) < 0.5)
        m = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))[None]
        f = torch.from_numpy(np.ascontiguousarray(fmap, dtype=np.float32))[None]
        if flip:
            x, m, f = x.flip(-1), m.flip(-1), f.flip(-1)
        return x, m, f, index


# ------------------------------------------------------------------ evaluation
def _per_image_metrics(p: np.ndarray, gt: np.ndarray, fmap: np.ndarray) -> dict[str, float]:
    from salanalysis.saliency_metrics import auc_judd, cc, kld, nss, sim

    out = {"CC": cc(p, gt), "KLD": kld(p, gt), "SIM": sim(p, gt), "NSS": np.nan, "AUC_Judd": np.nan}
    rows, cols = np.nonzero(fmap)
    if rows.size:
        counts = np.rint(fmap[rows, cols]).astype(np.int64)
        xs, ys = np.repeat(cols, counts).astype(np.float64), np.repeat(rows, counts).astype(np.float64)
        out["NSS"] = nss(p, xs, ys)
        out["AUC_Judd"] = auc_judd(p, xs, ys)
    return out


def evaluate_saliency(model: nn.Module, loader, device: torch.device, *, amp: bool = True,
                      loss_weights: Mapping[str, float] | None = None, prepare: Prepare | None = None) -> dict:
    """Mean saliency metrics and loss over a loader, gathered over ranks without padding duplicates.

    Returns a dict: ``n_images``, ``val_loss`` (mean per-image loss with
    ``loss_weights``, default KLD only), and the means over images (NaN
    ignored) of ``CC``, ``KLD``, ``SIM``, ``NSS``, ``AUC_Judd`` from
    :mod:`salanalysis.saliency_metrics`, computed at the network's input size.
    """
    weights = {"w_kld": 1.0, "w_cc": 0.0, "w_nss": 0.0, **dict(loss_weights or {})}
    idx, losses, mets = [], [], []
    for (_, m, f, index), log_p in inference(model, loader, device, amp=amp, prepare=prepare):
        log_p = log_p.cpu()
        for i in range(log_p.shape[0]):
            li, _ = saliency_loss(log_p[i : i + 1], m[i : i + 1], f[i : i + 1], **weights)
            dens = log_p[i, 0].exp().numpy().astype(np.float64)
            met = _per_image_metrics(dens, m[i, 0].numpy().astype(np.float64), f[i, 0].numpy())
            idx.append(int(index[i]))
            losses.append(float(li))
            mets.append([met[k] for k in EVAL_METRICS])
    _, loss_all, met_all = gather_unique(np.asarray(idx, dtype=np.int64), np.asarray(losses, dtype=np.float64),
                                         np.asarray(mets, dtype=np.float64).reshape(-1, len(EVAL_METRICS)))
    out: dict[str, Any] = {"n_images": len(loss_all)}
    out["val_loss"] = float(np.mean(loss_all)) if len(loss_all) else float("nan")
    for j, k in enumerate(EVAL_METRICS):
        vals = met_all[:, j]
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out


# ------------------------------------------------------------------------ train
class SaliencyTask(Task):
    """The saliency network's training (:func:`train_saliency`): SALICON maps, saliency loss, metrics."""

    log_columns = LOG_COLUMNS
    what = "training maps"

    def __init__(self, cfg: SaliencyTrainConfig | None, resume=None) -> None:
        super().__init__(cfg, resume)
        if cfg is not None:
            self.weights = {"w_kld": cfg.w_kld, "w_cc": cfg.w_cc, "w_nss": cfg.w_nss}

    def check_checkpoint(self, ckpt, path) -> None:
        meta = ckpt.get("meta") or {}
        if ckpt.get("format") != CHECKPOINT_FORMAT or "optimizer" not in ckpt or meta.get("arch") != SaliencyNet.arch:
            raise InputError("not a train-saliency checkpoint with optimizer state (use out/last.pt)", path)

    def datasets(self, device):
        cfg = self.cfg
        train_ds = SaliconSaliency(cfg.train_images, cfg.train_maps, cfg.train_fixations, size=cfg.input_size,
                                   hflip=cfg.hflip, missing=cfg.missing)
        if cfg.w_nss and not train_ds.has_fixations.all():
            n = int((~train_ds.has_fixations).sum())
            raise InputError(f"w_nss > 0 but {n} training image(s) have no fixations", cfg.train_fixations)
        val_ds = None
        if cfg.val_maps:
            val_ds = SaliconSaliency(cfg.val_images, cfg.val_maps, cfg.val_fixations, size=cfg.input_size,
                                     missing=cfg.missing)
        self.skipped = {"train": train_ds.n_missing, **({"val": val_ds.n_missing} if val_ds is not None else {})}
        return train_ds, val_ds, cfg.train_maps

    def build_model(self, ckpt, train_ds):
        cfg = self.cfg
        if ckpt is not None:
            model = saliency_net_from_meta(ckpt["meta"])
            model.load_state_dict(ckpt["model"])
        else:
            model = build_saliency_net(cfg.weights, readout_hidden=cfg.readout_hidden, input_size=cfg.input_size,
                                       backbone=cfg.backbone)
        return model, saliency_meta(model)

    def optimizer(self, params):
        cfg = self.cfg
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def criterion(self, log_p, m, f):
        return saliency_loss(log_p.float(), m, f, **self.weights, as_float=False)

    def evaluate(self, model, loader, prepare, device, amp):
        metrics = evaluate_saliency(model, loader, device, amp=amp, loss_weights=self.weights, prepare=prepare)
        return metrics, {k: metrics[k] for k in ("val_loss", *EVAL_METRICS)}

    def run_config(self, train_ds, val_ds):
        return {"n_train": len(train_ds), "n_train_missing_images": train_ds.n_missing,
                "n_val": len(val_ds) if val_ds is not None else 0}


def train_saliency(config: SaliencyTrainConfig | Mapping[str, Any] | None = None, *,
                   resume: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
                   on_step: Callable[[int], None] | None = None,
                   report: Callable[[str], None] | None = None) -> SaliencyTrainResult:
    """Train the saliency network (on 1 process, or N under ``torchrun``).

    ``config`` is a :class:`SaliencyTrainConfig` or a mapping of its keys; the
    other arguments work as those of :func:`salanalysis.dualstream.train.train`
    (``resume`` an ``out/last.pt``, options in ``RESUME_OVERRIDABLE`` may then
    change; ``overrides`` e.g. the explicit flags; the ``on_step`` hook; one
    ``report`` line per epoch).
    """
    return SaliencyTrainResult(**run_training(SPEC, SaliencyTask, config, resume=resume, overrides=overrides,
                                              on_step=on_step, report=report).__dict__)
