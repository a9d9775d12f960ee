"""Input pipelines: JPEG decoding and augmentation on the CPU or on the GPU, one crop sampler for both.

An :class:`InputPipeline` has two halves: :meth:`~InputPipeline.item`, run per
image in the DataLoader workers, and :meth:`~InputPipeline.prepare`, run per
batch on the training device.

``"cpu"``
    Workers decode with Pillow and crop: training images get a random resized
    crop (:func:`sample_crop_box`) and a horizontal flip, evaluation images a
    resize of the short side then a center crop; they travel as uint8 (a
    quarter of float32's bytes through the workers' shared memory, pinned
    memory and the host-to-device copy) and are normalised on the device. A
    training JPEG whose crop spans at least twice the output size is decoded
    at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``: the decoder's DCT scaling),
    the crop box scaled with it; evaluation images are always decoded whole.
``"gpu"``
    Workers only read the file's bytes, its size from the header and (for
    training) draw the crop box and flip; the device decodes the batch with
    nvJPEG (``torchvision.io.decode_jpeg(list, device="cuda")``), crops,
    resizes, flips and normalises. Files that are not JPEG (PNG...) and JPEGs
    the GPU decoder refuses (e.g. CMYK) are decoded on the CPU instead.
``"auto"``
    ``"cpu"`` everywhere (:func:`resolve_pipeline`): the GPU path has not yet
    been verified on a GPU against the CPU pipeline (``make gpu-check``,
    ``benchmarks/gpu.py``), and torchvision's CUDA JPEG decoder has a reported
    stream-ordering problem that can corrupt inputs silently (its device path
    is also deprecated in recent torchvision). ``"gpu"`` stays available and
    issues one :class:`~salanalysis.errors.InputWarning` line saying it is
    experimental.

Both draw a training crop from :func:`sample_crop_box` with the item's seed
(``SeededSampler``'s ``(seed, epoch, index)`` hash), so for one seed the two
paths crop the same box and flip the same way, and both resize with the same
torchvision functions (antialiased bilinear, uint8 results); they differ only
in the JPEG decoder, the device's resize kernel and (``"cpu"``, training) the
reduced-size decoding, whose crop is the same box rounded to the reduced grid.
The crop sampler is torchvision's ``RandomResizedCrop`` (scale 0.08-1, aspect
ratio 3/4-4/3) drawn from an explicit generator: for a seed it gives the box
that ``RandomResizedCrop`` gives after ``torch.manual_seed(seed)``.

Agreement of the evaluation crops (normalised units, i.e. after subtracting
the mean and dividing by the std): on the CPU, Pillow's and torchvision's
decoders (both libjpeg-turbo) give identical crops for the bundled COCO JPEGs,
and both pipelines reproduce the per-image ``eval_transform`` exactly; the
tests allow a maximum difference of 0.05 and a mean of 0.005 (about 3 and 0.3
grey levels). nvJPEG decodes with its own IDCT and chroma upsampling; its
difference from Pillow is measured by ``benchmarks/gpu.py`` on a GPU.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from salanalysis.dualstream.options import EVAL_CROPS, PIPELINES, TRAIN_CROPS
from salanalysis.errors import InputError

__all__ = [
    "PIPELINES",
    "TRAIN_CROPS",
    "EVAL_CROPS",
    "GPU_PIPELINE_NOTE",
    "resolve_pipeline",
    "sample_crop_box",
    "sample_flip",
    "InputPipeline",
    "EncodedBatch",
    "decode_images",
    "normalize_batch",
    "prefetch",
]

SCALE = (0.08, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
_LOG_RATIO = torch.log(torch.tensor(RATIO))


#: The warning line of the ``"gpu"`` pipeline (unverified on a GPU so far).
GPU_PIPELINE_NOTE = ("pipeline 'gpu' is experimental: nvJPEG decoding on a side CUDA stream has not been verified "
                     "against the CPU pipeline on a GPU (run 'make gpu-check'); 'cpu' is the default")


def resolve_pipeline(name: str, device: torch.device | str, *, warn: bool = True) -> Literal["cpu", "gpu"]:
    """``"auto"`` -> ``"cpu"`` (on every device, see the module docstring); ``"cpu"`` and ``"gpu"`` as given.

    ``"gpu"`` issues one :class:`~salanalysis.errors.InputWarning` (:data:`GPU_PIPELINE_NOTE`)
    unless ``warn`` is False. On a CPU device it runs the same code with
    torchvision's CPU JPEG decoder and CPU kernels (that is how the tests run it).
    """
    if name not in PIPELINES:
        raise InputError(f"pipeline must be one of {', '.join(PIPELINES)}, got {name!r}")
    if name == "auto":
        return "cpu"
    if name == "gpu" and warn:
        from salanalysis.errors import warn_input

        warn_input(GPU_PIPELINE_NOTE, stacklevel=2)
    return name  # type: ignore[return-value]


def sample_crop_box(height: int, width: int, generator: torch.Generator,
                    scale: tuple[float, float] = SCALE, ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """A random resized crop's box ``(top, left, height, width)``, torchvision's algorithm.

    Up to 10 draws of an area fraction in ``scale`` and a log-uniform aspect
    ratio in ``ratio``, the first that fits placed uniformly; else the center
    crop of the largest box within ``ratio``. The draws come from ``generator``
    in the order ``torchvision.transforms.v2.RandomResizedCrop`` makes them
    from the global generator.
    """
    area = height * width
    log_ratio = _LOG_RATIO if tuple(ratio) == RATIO else torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = torch.exp(torch.empty(1).uniform_(float(log_ratio[0]), float(log_ratio[1]),
                                                   generator=generator)).item()
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            j = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def sample_flip(generator: torch.Generator) -> bool:
    """A horizontal flip with probability 1/2 (``RandomHorizontalFlip``'s draw, from ``generator``)."""
    return bool(torch.rand(1, generator=generator).item() < 0.5)


def _is_jpeg(data: bytes | memoryview) -> bool:
    return len(data) > 2 and data[0] == 0xFF and data[1] == 0xD8


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read image: {exc.strerror or exc}", path) from exc
    if not data:
        raise InputError("image file is empty", path)
    return data


def _pil_rgb(source, path: Path):
    """A decoded RGB Pillow image from a file object or an opened (not yet decoded) image."""
    from PIL import Image

    try:
        im = source if isinstance(source, Image.Image) else Image.open(source)
        im.load()
        return im if im.mode == "RGB" else im.convert("RGB")
    except Exception as exc:
        raise InputError(f"cannot decode image: {type(exc).__name__}: {exc}", path) from exc


def _to_chw(im) -> torch.Tensor:
    """A Pillow RGB image as a uint8 (3, H, W) tensor (a view of its HWC pixels)."""
    import numpy as np

    return torch.from_numpy(np.array(im)).permute(2, 0, 1)


@dataclass
class EncodedBatch:
    """A batch of undecoded images: their files' bytes end to end in one uint8 tensor
    (``offsets`` (B + 1,) int64 marks where each starts; one shared-memory block from a
    worker instead of one per image), whether each is a JPEG, and ``geometry`` (B, 5)
    int64: ``top, left, height, width, flip`` of each training crop (unused for evaluation)."""

    flat: torch.Tensor
    offsets: torch.Tensor
    jpeg: list[bool]
    geometry: torch.Tensor

    @property
    def data(self) -> list[torch.Tensor]:
        """Each image's bytes: contiguous 1-D views of ``flat``."""
        o = self.offsets.tolist()
        return [self.flat[a:b] for a, b in zip(o[:-1], o[1:])]

    def pin_memory(self) -> EncodedBatch:  # DataLoader(pin_memory=True): the bytes stay pageable
        return self


class InputPipeline:
    """One input pipeline: per-image :meth:`item` (workers) and per-batch :meth:`prepare` (device).

    Parameters
    ----------
    kind
        ``"cpu"`` or ``"gpu"`` (see the module docstring; :func:`resolve_pipeline`).
    size
        The square output's side.
    train
        Random resized crop + flip (training) or resize + center crop (evaluation).
    resize
        Evaluation: the short side before the center crop (default ``round(size * 256 / 224)``).
    draft
        CPU pipeline, training: decode at reduced scale when the crop allows.
    train_crop
        Training: ``"random-resized"`` (:func:`sample_crop_box` with area
        fraction ``crop_scale``-1, then a flip; can cut labelled objects out of
        the crop) or ``"whole"`` (multi-label-safe: the whole image resized to
        the square, aspect not kept, then a flip).
    crop_scale
        The smallest area fraction of a ``"random-resized"`` crop (torchvision's 0.08).
    eval_crop
        Evaluation: ``"center"`` (short side resized to ``resize``, then the
        center square: a 640 x 480 image loses a third of its width) or
        ``"whole"`` (the whole image resized to the square, aspect not kept).
    """

    def __init__(self, kind: Literal["cpu", "gpu"], size: int, *, train: bool, resize: int | None = None,
                 draft: bool = True, train_crop: str = "random-resized", crop_scale: float = SCALE[0],
                 eval_crop: str = "center") -> None:
        if kind not in ("cpu", "gpu"):
            raise ValueError(f"kind must be 'cpu' or 'gpu', got {kind!r}")
        if train_crop not in TRAIN_CROPS or eval_crop not in EVAL_CROPS or not 0 < crop_scale <= 1:
            raise ValueError(f"train_crop must be one of {TRAIN_CROPS}, eval_crop one of {EVAL_CROPS}, "
                             f"crop_scale in (0, 1]; got {train_crop!r}, {eval_crop!r}, {crop_scale!r}")
        self.kind, self.size, self.train, self.draft = kind, int(size), bool(train), bool(draft)
        self.resize = int(resize) if resize else int(round(self.size * 256 / 224))
        self.train_crop, self.crop_scale, self.eval_crop = train_crop, float(crop_scale), eval_crop
        self.files: Sequence[Path] = ()  # set by the dataset, for messages

    # ------------------------------------------------------------------ workers
    def geometry(self, height: int, width: int, seed: int | None) -> tuple[int, int, int, int, int]:
        """``(top, left, height, width, flip)`` of a training crop drawn with ``seed`` (else the whole image)."""
        if not self.train:
            return 0, 0, height, width, 0
        g = torch.Generator().manual_seed(int(seed) if seed is not None else 0)
        if self.train_crop == "whole":
            box = (0, 0, height, width)
        else:
            box = sample_crop_box(height, width, g, scale=(self.crop_scale, 1.0))
        return (*box, int(sample_flip(g)))

    def item(self, path: Path, seed: int | None) -> Any:
        """What a worker returns for one image: a uint8 (3, S, S) crop (``"cpu"``) or the encoded image (``"gpu"``)."""
        data = _read_bytes(path)
        if self.kind == "gpu":
            from PIL import Image

            jpeg = _is_jpeg(data)
            try:
                width, height = Image.open(io.BytesIO(data)).size if self.train else (0, 0)
            except Exception as exc:
                raise InputError(f"cannot decode image: {type(exc).__name__}: {exc}", path) from exc
            geo = self.geometry(height, width, seed)
            return torch.frombuffer(bytearray(data), dtype=torch.uint8), jpeg, torch.tensor(geo, dtype=torch.int64)
        return self._cpu_crop(data, path, seed)

    def _cpu_crop(self, data: bytes, path: Path, seed: int | None) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms.v2 import functional as TF

        try:
            im = Image.open(io.BytesIO(data))
            width, height = im.size
        except Exception as exc:
            raise InputError(f"cannot decode image: {type(exc).__name__}: {exc}", path) from exc
        s = self.size
        factor = 1
        if self.train:
            top, left, h, w, flip = self.geometry(height, width, seed)
            need = (math.ceil(width * s / w), math.ceil(height * s / h))  # the image size at which the box is s x s
            if self.draft and _is_jpeg(data) and need[0] * 2 <= width and need[1] * 2 <= height:
                im.draft("RGB", need)  # DCT scaling by 1/2, 1/4 or 1/8: the result is at least `need`
                factor = width / im.size[0]
        img = _to_chw(_pil_rgb(im, path))
        if self.train:
            if factor != 1:  # the box on the reduced image: its corners rounded (within one original pixel)
                bottom, right = min(round((top + h) / factor), img.shape[1]), min(round((left + w) / factor), img.shape[2])
                top, left = min(round(top / factor), bottom - 1), min(round(left / factor), right - 1)
                h, w = bottom - top, right - left
            out = TF.resized_crop(img, top, left, h, w, [s, s], antialias=True)
            return out.flip(-1) if flip else out.contiguous()
        if self.eval_crop == "whole":
            return TF.resize(img, [s, s], antialias=True).contiguous()
        return TF.center_crop(TF.resize(img, [self.resize], antialias=True), [s, s]).contiguous()

    def collate_fn(self):
        """The DataLoader's ``collate_fn``: None (torch's default) for ``"cpu"``, :func:`collate_encoded` for ``"gpu"``."""
        return collate_encoded if self.kind == "gpu" else None

    # ------------------------------------------------------------------ device
    def prepare_fn(self, device: torch.device | str,
                   memory_format: torch.memory_format = torch.contiguous_format):
        """``prepare(batch) -> (normalised float32 images, (targets,))`` on ``device``."""
        device = torch.device(device)

        def prepare(batch):
            x, targets, index = batch
            if isinstance(x, EncodedBatch):
                x = self.decode_and_crop(x, index, device)
            else:
                x = x.to(device, non_blocking=True)
            x = normalize_batch(x).contiguous(memory_format=memory_format)
            return x, (targets.to(device, non_blocking=True),)

        return prepare

    def decode_and_crop(self, batch: EncodedBatch, index: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        """The device half of ``"gpu"``: decode, crop (+ flip) or resize + center crop -> uint8 (B, 3, S, S)."""
        from torchvision.transforms.v2 import functional as TF

        data = batch.data
        names = [self.files[int(i)] if len(self.files) else Path(f"item {int(i)}") for i in
                 (index.tolist() if index is not None else range(len(data)))]
        imgs = decode_images(data, device, jpeg=batch.jpeg, names=names)
        s = self.size
        out = torch.empty((len(imgs), 3, s, s), dtype=torch.uint8, device=device)
        if self.train:
            for k, (img, (top, left, h, w, flip)) in enumerate(zip(imgs, batch.geometry.tolist())):
                h, w = min(h, img.shape[1] - top), min(w, img.shape[2] - left)
                crop = TF.resized_crop(img, top, left, h, w, [s, s], antialias=True)
                out[k] = crop.flip(-1) if flip else crop
            return out
        groups: dict[tuple[int, int], list[int]] = {}
        for k, img in enumerate(imgs):  # images of one size are resized together
            groups.setdefault(tuple(img.shape[1:]), []).append(k)
        for ks in groups.values():
            stack = torch.stack([imgs[k] for k in ks])
            if self.eval_crop == "whole":
                out[ks] = TF.resize(stack, [s, s], antialias=True)
            else:
                out[ks] = TF.center_crop(TF.resize(stack, [self.resize], antialias=True), [s, s])
        return out


def collate_encoded(items: Sequence[tuple]) -> tuple[EncodedBatch, torch.Tensor, torch.Tensor]:
    """Collate ``((data, jpeg, geometry), target, index)`` items of the ``"gpu"`` pipeline."""
    payload = [it[0] for it in items]
    sizes = torch.tensor([0] + [p[0].numel() for p in payload], dtype=torch.int64)
    return (
        EncodedBatch(torch.cat([p[0] for p in payload]), torch.cumsum(sizes, 0), [bool(p[1]) for p in payload],
                     torch.stack([p[2] for p in payload])),
        torch.stack([torch.as_tensor(it[1]) for it in items]),
        torch.as_tensor([int(it[2]) for it in items]),
    )


def decode_images(data: Sequence[torch.Tensor], device: torch.device | str, *, jpeg: Sequence[bool] | None = None,
                  names: Sequence[str | os.PathLike] | None = None) -> list[torch.Tensor]:
    """Decode encoded images to uint8 RGB (3, H, W) tensors on ``device``.

    JPEGs are decoded together (``torchvision.io.decode_jpeg`` with a list: on
    CUDA one nvJPEG batch); when the batch call fails (an older torchvision
    without lists, or an image the decoder refuses, e.g. CMYK), one at a time,
    and an image the device's decoder refuses is decoded by Pillow on the CPU.
    Other formats are decoded by Pillow. An undecodable file is an InputError
    naming it (``names``). (torchvision 0.29 deprecated its image decoders in
    favour of TorchCodec; should a later version drop ``decode_jpeg``, every
    image is decoded by Pillow.)
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:  # pragma: no cover - a torchvision without image decoders
        decode_jpeg = None

    device = torch.device(device)
    jpeg = list(jpeg) if jpeg is not None else [_is_jpeg(memoryview(d.numpy())) for d in data]
    names = list(names) if names is not None else [f"image {i}" for i in range(len(data))]
    out: list[torch.Tensor | None] = [None] * len(data)
    idx = [i for i, j in enumerate(jpeg) if j] if decode_jpeg is not None else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            got = decode_jpeg([data[i] for i in idx], mode=ImageReadMode.RGB, device=device) if idx else []
        except (RuntimeError, TypeError, ValueError):
            got = [None] * len(idx)
        for i, img in zip(idx, got):
            if img is None:
                try:
                    img = decode_jpeg(data[i], mode=ImageReadMode.RGB, device=device)
                except (RuntimeError, TypeError, ValueError):
                    img = None
            out[i] = img
    for i, img in enumerate(out):
        if img is None:  # not a JPEG, or refused by the JPEG decoder: Pillow on the CPU
            pil = _pil_rgb(io.BytesIO(data[i].numpy().tobytes()), Path(names[i]))
            out[i] = _to_chw(pil).contiguous().to(device)
    return out  # type: ignore[return-value]


def normalize_batch(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 scaled to [0, 1] and normalised with ImageNet's mean and std.

    The same torchvision functions as the per-image evaluation transform
    (``ToDtype(scale=True)``, ``Normalize``), so on the CPU the numbers are identical.
    """
    from torchvision.transforms.v2 import functional as TF

    from salanalysis.dualstream.data import IMAGENET_MEAN, IMAGENET_STD

    return TF.normalize(TF.to_dtype(x, torch.float32, scale=True), IMAGENET_MEAN, IMAGENET_STD)


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


def prefetch(loader, prepare, device: torch.device | str):
    """``(batch, prepare(batch))`` for every batch of ``loader``; on CUDA the next batch is prepared early.

    While the model works on one batch, the next one's host-to-device copy (and,
    with the ``"gpu"`` pipeline, its decoding and augmentation) runs on a side
    CUDA stream; elsewhere this is plain ``(batch, prepare(batch))``.
    """
    device = torch.device(device)
    if device.type != "cuda":
        for batch in loader:
            yield batch, prepare(batch)
        return
    stream = torch.cuda.Stream(device)
    it = iter(loader)

    def load():
        try:
            batch = next(it)
        except StopIteration:
            return None
        with torch.cuda.stream(stream):
            return batch, prepare(batch)

    nxt = load()
    while nxt is not None:
        main = torch.cuda.current_stream(device)
        main.wait_stream(stream)
        for t in _tensors(nxt[1]):
            if t.device.type == "cuda":
                t.record_stream(main)
        cur, nxt = nxt, load()
        yield cur
