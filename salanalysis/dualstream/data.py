"""COCO multi-label data for the torch models: dataset, transforms, sampler, loader.

:class:`CocoMultiLabel`
    One item per image of a COCO instances file (rows in ``Annotations.images``
    order, i.e. sorted by image id): the transformed image, its multi-hot label
    vector over the categories in category-id order (contiguous 0..C-1, as
    :meth:`salanalysis.coco.Annotations.label_matrix`) and its row index.
    Images without annotations are kept as all-negative rows by default
    (``include_empty=False`` drops them). Every image file is checked at
    construction: a missing one is a one-line InputError (or, with
    ``missing="skip"``, the image is left out).
:func:`train_transform` / :func:`eval_transform`
    torchvision ``transforms.v2``: random resized crop + horizontal flip for
    training, resize (256 for 224) + center crop for evaluation, ImageNet
    normalisation, per image. The trainer and ``predict`` use the input
    pipelines of :mod:`salanalysis.dualstream.pipeline` instead (the same
    crops, decoded and normalised in batches, on the GPU when there is one).
:class:`SeededSampler`
    A :class:`torch.utils.data.DistributedSampler` (also used with one process)
    whose order is a function of ``(seed, epoch)`` only, which can skip the
    first items of an epoch (exact mid-epoch resume), and which yields
    ``(index, sample_seed)`` pairs: the dataset seeds the random augmentation
    of each item with ``sample_seed = f(seed, epoch, index)``, so augmentations
    do not depend on worker count, on rank, or on skipped batches.
:func:`make_loader`
    ``DataLoader`` with workers, pinned memory (on CUDA) and persistent workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.images import image_in_folder

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CocoMultiLabel",
    "train_transform",
    "eval_transform",
    "SeededSampler",
    "sample_seed",
    "make_loader",
    "subset_annotations",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(size: int = 224):
    """Random resized crop to ``size`` + horizontal flip + ImageNet normalisation (uint8 CHW in)."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(size, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(size: int = 224, resize: int | None = None):
    """Resize the short side to ``resize`` (default ``round(size * 256 / 224)``), center crop ``size``."""
    from torchvision.transforms import v2

    resize = int(resize) if resize else int(round(size * 256 / 224))
    return v2.Compose(
        [
            v2.Resize(resize, antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one item in one epoch (a 63-bit hash of the three)."""
    state = np.random.SeedSequence([int(seed) % 2**32, int(epoch), int(index)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


class CocoMultiLabel(Dataset):
    """Images of a COCO instances file with multi-hot labels.

    Parameters
    ----------
    annotations
        An :class:`~salanalysis.coco.Annotations` or the path of an instances JSON.
    images
        Folder holding the images (``file_name`` of each ``images`` entry).
    transform
        Callable on a uint8 (3, H, W) tensor (default :func:`eval_transform`), or an
        :class:`~salanalysis.dualstream.pipeline.InputPipeline`, which reads the
        file itself (its items: a uint8 crop, or the encoded image).
    include_empty
        Keep images without any annotation as all-negative rows (default True).
    include_crowd
        Crowd annotations make a label positive (default True, as
        ``Annotations.label_matrix``).
    missing
        ``"error"`` (default): a missing image file is an InputError;
        ``"skip"``: such images are left out (see :attr:`n_missing`).

    Attributes
    ----------
    image_ids : np.ndarray
        int64 (N,), the item order (ascending image id).
    labels : np.ndarray
        bool (N, C).
    category_ids, category_names
        The C columns, in category-id order.
    n_missing : int
        Images skipped because their file is absent.

    Items are ``(image, target, index)``: a float32 (3, S, S) tensor (with an
    ``InputPipeline``: what its ``item`` returns), a float32 (C,) multi-hot
    vector, and the item's row. The key may be an int or an
    ``(index, seed)`` pair from :class:`SeededSampler`, in which case the
    transform runs under ``torch.manual_seed(seed)`` (in a forked RNG state).
    """

    def __init__(
        self,
        annotations: Annotations | str | os.PathLike,
        images: str | os.PathLike,
        transform=None,
        *,
        include_empty: bool = True,
        include_crowd: bool = True,
        missing: Literal["error", "skip"] = "error",
    ) -> None:
        ann = annotations if isinstance(annotations, Annotations) else Annotations.load(annotations)
        self.annotations = ann
        self.root = Path(images)
        if not self.root.is_dir():
            raise InputError("image folder not found", self.root)
        if missing not in ("error", "skip"):
            raise ValueError("missing must be 'error' or 'skip'")
        labels = ann.label_matrix(include_crowd=include_crowd)
        keep = np.ones(len(ann.images), dtype=bool)
        if not include_empty:
            n_obj = ann.instances_for(include_crowd).groupby("image_id").size()
            keep &= ann.images["image_id"].isin(n_obj.index).to_numpy()
        files = [image_in_folder(self.root, f, ann.path) for f in ann.images["file_name"]]
        exists = np.array([p.is_file() for p in files], dtype=bool)
        absent = keep & ~exists
        if absent.any() and missing == "error":
            first = files[int(np.flatnonzero(absent)[0])]
            raise InputError(
                f"image file not found ({int(absent.sum())} of {int(keep.sum())} images missing "
                f"under {self.root}; --missing skip (missing='skip') leaves them out and counts them)",
                first,
            )
        self.n_missing = int(absent.sum())
        keep &= exists
        if not keep.any():
            raise InputError("no images to use", ann.path)
        self.image_ids = ann.image_ids[keep]
        self.files = [p for p, k in zip(files, keep) if k]
        self.labels = labels[keep]
        self.category_ids = ann.category_ids
        self.category_names = ann.category_names
        self.transform = transform if transform is not None else eval_transform()
        if hasattr(self.transform, "item"):
            self.transform.files = self.files  # names files in the device half's errors

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def read_image(self, index: int) -> torch.Tensor:
        """The image as a uint8 (3, H, W) RGB tensor (grayscale and CMYK converted), via Pillow."""
        from PIL import Image
        from torchvision.transforms.v2.functional import pil_to_tensor

        path = self.files[index]
        try:
            with Image.open(path) as im:
                return pil_to_tensor(im.convert("RGB"))
        except Exception as exc:
            raise InputError(f"cannot decode image: {type(exc).__name__}: {exc}", path) from exc

    def __getitem__(self, key: int | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        if isinstance(key, (tuple, list)):
            index, seed = int(key[0]), int(key[1])
        else:
            index, seed = int(key), None
        if hasattr(self.transform, "item"):  # an InputPipeline: decoding and cropping are its business
            out = self.transform.item(self.files[index], seed)
            return out, torch.from_numpy(self.labels[index].astype(np.float32)), index
        img = self.read_image(index)
        if seed is None:
            out = self.transform(img)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out = self.transform(img)
        target = torch.from_numpy(self.labels[index].astype(np.float32))
        return out, target, index


class SeededSampler(DistributedSampler):
    """Deterministic, resumable, distributed sampler yielding ``(index, sample_seed)``.

    The order of an epoch is ``DistributedSampler``'s: a permutation seeded with
    ``seed + epoch`` (or the identity when ``shuffle=False``), padded by
    repetition to a multiple of ``num_replicas``, and strided by rank. With a
    global batch ``B`` and per-rank batches ``B / num_replicas``, the union of
    the ranks' k-th batches is the single process's k-th batch.

    ``max_items`` caps how many items of its order each rank takes per epoch
    (the trainer sets it to ``steps_per_epoch * per_rank_batch`` so that every
    world size runs the same full global batches). :meth:`set_start` skips the
    first ``n`` items of this rank's order for the current epoch (a resumed run
    skips the batches it already consumed); :meth:`set_epoch` resets it to 0.
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        max_items: int | None = None,
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        self.start = 0
        self.max_items = None if max_items is None else int(max_items)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def set_start(self, n: int) -> None:
        """Skip the first ``n`` items of this rank's order in the current epoch."""
        self.start = int(n)

    def indices(self) -> list[int]:
        """This rank's dataset indices for the current epoch (padding included, skip applied)."""
        order = list(super().__iter__())
        if self.max_items is not None:
            order = order[: self.max_items]
        return order[self.start :]

    def __iter__(self):
        for i in self.indices():
            yield (i, sample_seed(self.seed, self.epoch, i))

    def __len__(self) -> int:
        n = self.num_samples if self.max_items is None else min(self.num_samples, self.max_items)
        return max(0, n - self.start)

    def state_dict(self) -> dict:
        return {"epoch": int(self.epoch), "start": int(self.start), "seed": int(self.seed),
                "num_replicas": int(self.num_replicas), "shuffle": bool(self.shuffle)}


def make_loader(
    dataset: Dataset,
    sampler,
    batch_size: int,
    *,
    workers: int = 4,
    pin_memory: bool = False,
    persistent_workers: bool = True,
    drop_last: bool = False,
    collate_fn=None,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` in ``sampler``'s order.

    ``persistent_workers`` only applies with ``workers > 0``; ``pin_memory``
    should be True when batches go to a GPU; ``collate_fn`` None is torch's default.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=bool(persistent_workers and workers > 0),
        collate_fn=collate_fn,
    )


def subset_annotations(annotations: Annotations, image_ids: Sequence[int]) -> Annotations:
    """A new :class:`Annotations` holding only ``image_ids`` (all categories kept).

    Useful to match an instances file to the images actually on disk.
    """
    keep = {int(i) for i in image_ids}
    data = annotations.coco.dataset
    new = {k: v for k, v in data.items() if k not in ("images", "annotations")}
    new["images"] = [im for im in data["images"] if int(im["id"]) in keep]
    new["annotations"] = [a for a in data.get("annotations", []) if int(a["image_id"]) in keep]
    return Annotations(new, annotations.path)
