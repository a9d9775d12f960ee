"""Predicted saliency maps as 8-bit PNGs (``salanalysis saliency predict``).

:func:`predict_saliency_maps` runs a trained :class:`~salanalysis.dualstream.saliency.net.SaliencyNet`
over a folder of images and writes one grayscale 8-bit PNG per image, at the
image's own size, that :class:`salanalysis.maps.MapSource` reads directly (so
the folder is a saliency source of the object table, e.g. ``--saliency
predicted=DIR``).

Per image: the image is resized (bilinear) to the network's input size (the
training size stored in the checkpoint, 480x640 by default, or ``input_size``),
normalised with ImageNet's mean and std; the predicted density ``P`` is resized
back to the image's size (bilinear, ``cv2.INTER_LINEAR``) and min-max scaled to
0..255 (``round(255 (P - min P) / (max P - min P))``; a constant map is all 0).

File names (:func:`saliency_map_name`): an image named like COCO 2014
(``COCO_val2014_000000000192.jpg``, any split) gives the SALICON name
``COCO_val2014_000000000192.png`` (id zero-padded to 12 digits); any other image
gives ``<stem>.png``. Two images that would give the same name are an error.

Outputs are staged: every PNG is first written into a hidden folder
``out/.staging-<key>`` and moved into ``out`` only when all images succeeded,
so a failed or interrupted run leaves no new map in ``out`` (existing files of
the same name are replaced only on success). The staging folder of a failed
run is kept: the same command (same checkpoint, images and settings, which the
key names) continues from the maps it holds; a successful run removes the
folders that interrupted runs with other settings left. A provenance file
``saliency_predict.json`` (checkpoint, input size, number of maps) is written
last.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from salanalysis.errors import InputError
from salanalysis.images import (
    IMAGE_EXTENSIONS,
    coco_image_name,
    image_files,
    parse_image_name,
    read_image,
)
from salanalysis.io import STAGING_MARKER, staged_dir  # noqa: F401  (staged_dir re-exported: it lived here)

__all__ = [
    "IMAGE_EXTENSIONS",
    "saliency_map_name",
    "list_images",
    "read_rgb",
    "to_uint8",
    "write_png",
    "staged_dir",
    "predict_saliency_maps",
]



def saliency_map_name(image: str | os.PathLike) -> str:
    """The PNG name of an image's map: SALICON's for COCO 2014 names, else ``<stem>.png``.

    >>> saliency_map_name("x/COCO_val2014_000000000192.jpg")
    'COCO_val2014_000000000192.png'
    >>> saliency_map_name("COCO_train2014_42.jpg")
    'COCO_train2014_000000000042.png'
    >>> saliency_map_name("cat.jpeg")
    'cat.png'
    """
    stem = Path(image).stem
    name = parse_image_name(stem)
    if name is not None and name.dataset == "COCO":
        return f"{coco_image_name(name.image_id, name.split, name.year)}.png"
    return f"{stem}.png"


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Image files (``IMAGE_EXTENSIONS``) directly in ``directory``, sorted by name.

    Raises
    ------
    InputError
        The folder does not exist or holds no image.
    """
    return image_files(directory, "folder")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image as uint8 RGB (H, W, 3); grayscale images are expanded.

    Raises
    ------
    InputError
        Missing, empty or undecodable file.
    """
    return read_image(path, order="rgb")


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Min-max scale a map to 0..255 (rounded) as uint8; a constant map becomes 0."""
    a = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError("map holds NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.rint(255.0 * (a - lo) / (hi - lo)).astype(np.uint8)


def write_png(arr: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 grayscale or RGB array as PNG, atomically."""
    from salanalysis.io import atomic_path

    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"PNG data must be uint8, got {arr.dtype}")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, enc = cv2.imencode(".png", arr)
    if not ok:  # pragma: no cover - cv2 fails only on invalid shapes
        raise ValueError(f"cannot encode array of shape {arr.shape} as PNG")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(enc.tobytes())
    return path


def _maps_key(checkpoint, files: Sequence[Path], size, amp: bool, device: str) -> str:
    """A short hash of what must not change between a run and its continuation."""
    from salanalysis.io import file_stamp, fingerprint

    return fingerprint({"checkpoint": file_stamp(checkpoint), "images": [file_stamp(f) for f in files],
                        "size": list(size), "amp": amp if isinstance(amp, str) else bool(amp),
                        "device": device})  # fmt: skip


def predict_saliency_maps(
    checkpoint: str | os.PathLike,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    input_size: tuple[int, int] | None = None,
    batch_size: int = 8,
    device: str = "auto",
    amp: bool | str = True,
    progress: bool = False,
    resume: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Write a PNG saliency map for every image; returns the index of what was written.

    Parameters
    ----------
    checkpoint
        A ``salanalysis train-saliency`` checkpoint.
    images
        A folder of images (``IMAGE_EXTENSIONS``, not recursive) or a list of files.
    out
        Output folder (created).
    input_size
        (height, width) to resize images to; default: the checkpoint's training size.
    batch_size, device, amp
        Inference settings (``device="auto"`` uses CUDA when available; ``amp``
        is autocast on CUDA only: ``True``/``"auto"`` bf16 where the GPU has
        bfloat16, else fp16, see :func:`salanalysis.dualstream.loop.resolve_amp`).
    progress
        Show a progress bar.
    resume
        Keep the maps of an interrupted run (in ``out/.staging-<key>``, the key
        naming the checkpoint, the images and the settings) and continue from
        them: a run with the same inputs and settings computes only the missing
        maps, with the same files as an uninterrupted run (with the same batch
        size). ``False``: a failed run keeps nothing.
    on_batch
        Called with the batch number (counted over all images) after each batch
        computed (tests use it to stop a run).

    Returns
    -------
    pandas.DataFrame
        One row per image, in input order:

        ``image`` (str)
            The input image path.
        ``map_file`` (str)
            The PNG's name inside ``out``.
        ``width``, ``height`` (int)
            The image's (and the map's) size.

    Raises
    ------
    InputError
        Unreadable checkpoint or image, empty folder, two images with the same map name.
    """
    import torch

    from salanalysis.dualstream.data import IMAGENET_MEAN, IMAGENET_STD
    from salanalysis.dualstream.distributed import resolve_device
    from salanalysis.dualstream.loop import autocast
    from salanalysis.dualstream.saliency.net import load_saliency_net
    from salanalysis.io import write_json

    files = list_images(images) if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
    if not files:
        raise InputError("no images given")
    names = [saliency_map_name(f) for f in files]
    seen: dict[str, Path] = {}
    for f, n in zip(files, names):
        if n in seen:
            raise InputError(f"images {seen[n].name} and {f.name} would both be written as {n}", f.parent)
        seen[n] = f
    dev = resolve_device(device)
    net = load_saliency_net(checkpoint, map_location="cpu").to(dev).eval()
    size = tuple(int(v) for v in (input_size or net.input_size))
    mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    key = _maps_key(checkpoint, files, size, amp, dev.type) if resume else None
    sizes: dict[str, tuple[int, int]] = {}
    bar = None
    with staged_dir(out, last=["saliency_predict.json"], resume_key=key) as stage, torch.inference_mode():
        wanted = set(names)
        for p in list(stage.iterdir()):  # a resumed stage: keep the finished maps, drop the rest
            if p.name == STAGING_MARKER:
                continue
            if p.is_file() and not p.is_symlink() and p.name in wanted:
                arr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
                if arr is not None and arr.ndim == 2:
                    sizes[p.name] = (int(arr.shape[1]), int(arr.shape[0]))
                    continue
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        # batches are those of an uninterrupted run (the network's output can depend on which
        # images share a batch): a batch is skipped only when all its maps were kept
        batch_size = max(1, int(batch_size))
        batches = [range(i, min(i + batch_size, len(files))) for i in range(0, len(files), batch_size)]
        todo = [b for b, rng in enumerate(batches) if any(names[i] not in sizes for i in rng)]
        if progress:
            from salanalysis._progress import progress_bar

            n_todo = sum(len(batches[b]) for b in todo)
            bar = progress_bar(total=len(files), initial=len(files) - n_todo, desc="saliency maps",
                               unit="img")
        for b in todo:
            chunk = [files[i] for i in batches[b]]
            imgs = [read_rgb(f) for f in chunk]
            x = np.stack(
                [cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for im in imgs]
            )
            xt = torch.from_numpy(x).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
            xt = (xt - mean) / std
            with autocast(dev, amp):
                dens = net.density(xt)
            dens = dens.float().cpu().numpy()[:, 0]
            for f, im, d in zip(chunk, imgs, dens):
                h, w = im.shape[:2]
                m = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) if d.shape != (h, w) else d
                name = saliency_map_name(f)
                write_png(to_uint8(m), stage / name)
                sizes[name] = (int(w), int(h))
            if bar is not None:
                bar.update(len(chunk))
            if on_batch is not None:
                on_batch(b)
        rows = [{"image": str(f), "map_file": n, "width": sizes[n][0], "height": sizes[n][1]}
                for f, n in zip(files, names)]  # fmt: skip
        write_json(
            stage / "saliency_predict.json",
            {
                "checkpoint": str(Path(checkpoint).resolve()),
                "input_size": list(size),
                "n_maps": len(rows),
                "encoding": "8-bit PNG, predicted density min-max scaled to 0..255 at the image's size",
            },
        )
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=["image", "map_file", "width", "height"])
