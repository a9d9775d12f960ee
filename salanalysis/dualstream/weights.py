"""Weights: torchvision's ImageNet weights, local files, and state dicts moved between models.

:func:`load_torchvision_model(name, weights) <load_torchvision_model>`
    The full torchvision network of a registered backbone
    (:mod:`~salanalysis.dualstream.backbones`): ``"imagenet"`` (torchvision
    weights API; downloads when online, offline -> one-line InputError),
    ``"none"`` (random) or a local file (``torch.load(..., weights_only=True)``;
    a torchvision state dict or one of this package's checkpoints).
    :func:`load_resnet50` is its ResNet-50 case.
:func:`read_state_dict`
    A state dict from a file, unwrapping checkpoints and DDP / torch.compile prefixes.
:func:`load_weights_into(model, path) <load_weights_into>`
    Initialise a Baseline / DualStream (or any module) from a checkpoint or state
    dict file, strictly for backbones, and for the final linear layer when its
    shape matches.
:func:`unwrap_model`, :func:`iter_bn`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn

from salanalysis.dualstream.backbones import DEFAULT_BACKBONE, backbone_spec
from salanalysis.dualstream.checkpoint import load_checkpoint
from salanalysis.errors import InputError

__all__ = [
    "load_torchvision_model",
    "load_resnet50",
    "read_state_dict",
    "load_weights_into",
    "unwrap_model",
    "iter_bn",
]

_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a file: a bare state dict, or a checkpoint holding one.

    Checkpoints of this package (``{"model": ...}``) and common ``{"state_dict": ...}``
    wrappers are unwrapped; ``module.`` (DDP) and ``_orig_mod.`` (torch.compile)
    prefixes are removed. Loaded with ``weights_only=True``.
    """
    path = Path(path)
    obj = load_checkpoint(path)
    for key in ("model", "state_dict", "model_state_dict"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise InputError(f"not a state dict: entry {k!r} is a {type(v).__name__}", path)
        for p in _PREFIXES:
            while k.startswith(p):
                k = k[len(p):]
        sd[k] = v
    if not sd:
        raise InputError("state dict is empty", path)
    return sd


def _backbone_part(sd: Mapping[str, torch.Tensor], stream: str = "trunk") -> dict[str, torch.Tensor]:
    """The backbone part of a state dict: strip ``backbone.`` / ``trunk.`` (or ``branch.``)."""
    for prefix in ("backbone.", f"{stream}.", "trunk."):
        part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if part:
            return part
    return dict(sd)


def load_torchvision_model(
    name: str = DEFAULT_BACKBONE, weights: str | os.PathLike | None = "imagenet", *, stream: str = "trunk"
) -> nn.Module:
    """The torchvision network of backbone ``name`` (with its classifier), initialised per ``weights``.

    Parameters
    ----------
    name
        A key of :data:`~salanalysis.dualstream.backbones.BACKBONES`.
    weights
        ``"imagenet"``: the entry's torchvision weights (for ResNet-50
        ``ResNet50_Weights.IMAGENET1K_V1``, the original weights of He et al.),
        through the weights API and torch hub's cache; offline without a cached
        copy raises a one-line InputError. ``"none"`` (or None): random
        initialisation. Anything else: a local file, read with
        ``torch.load(..., weights_only=True)``: a torchvision state dict of that
        network (classifier entries optional) or a checkpoint of this package
        (the ``backbone.`` / ``trunk.`` part is used; ``stream="branch"`` takes a
        DualStream's branch).
    """
    import torchvision.models as tvm

    spec = backbone_spec(name)
    build = getattr(tvm, spec.builder)
    if weights is None or str(weights).lower() == "none":
        return build(weights=None)
    if str(weights).lower() == "imagenet":
        enum, member = spec.weights.split(".")
        w = getattr(getattr(tvm, enum), member)
        try:
            return build(weights=w, progress=False)
        except (OSError, RuntimeError, ValueError) as exc:
            cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"cannot load torchvision's ImageNet {spec.label} weights ({first}); no cached copy "
                "and no download possible (offline?): pass --weights PATH to a local copy "
                f"(e.g. {w.url}) or --weights none",
                cache,
            ) from exc
    path = Path(weights)
    sd = _backbone_part(read_state_dict(path), stream)
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    model = build(weights=None)
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing:
        raise InputError(
            f"not a {spec.label} state dict: {len(missing)} backbone entries missing, e.g. {missing[0]!r}", path
        )
    if result.unexpected_keys:
        raise InputError(
            f"not a {spec.label} state dict: {len(result.unexpected_keys)} unexpected entries, "
            f"e.g. {result.unexpected_keys[0]!r}",
            path,
        )
    return model


def load_resnet50(weights: str | os.PathLike | None = "imagenet", *, stream: str = "trunk") -> nn.Module:
    """A torchvision ResNet-50 (with its 1000-class ``fc``): :func:`load_torchvision_model` of ``"resnet50"``."""
    return load_torchvision_model("resnet50", weights, stream=stream)


def load_weights_into(model: nn.Module, path: str | os.PathLike, *, stream: str = "trunk") -> list[str]:
    """Initialise ``model`` from a file; returns the names of what was *not* loaded.

    For a Baseline / DualStream, every backbone must load completely (a mismatch is
    an InputError naming the file); the final ``fc`` loads when the file has one of
    the same shape and is otherwise left as is (its names are returned). Files may
    hold a Baseline, a DualStream (``stream`` picks which backbone feeds a
    Baseline) or a bare torchvision ResNet-50.
    """
    path = Path(path)
    sd = read_state_dict(path)
    own = model.state_dict()
    if all(k in sd and sd[k].shape == v.shape for k, v in own.items()):
        model.load_state_dict({k: sd[k] for k in own})
        return []
    skipped: list[str] = []
    backbones = getattr(model, "backbones", None)
    if backbones is None:
        raise InputError("state dict does not match the model", path)
    names = ["backbone"] if len(backbones) == 1 else ["trunk", "branch"]
    for name, bb in zip(names, backbones):
        want = stream if name == "backbone" else name
        part = _backbone_part(sd, want)
        part = {k: v for k, v in part.items() if not k.startswith("fc.")}
        try:
            bb.load_state_dict(part, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            label = backbone_spec(getattr(bb, "name", DEFAULT_BACKBONE)).label
            raise InputError(f"cannot load the {name} {label} from it: {first}", path) from exc
    fc = getattr(model, "fc", None)
    if fc is not None:
        w, b = sd.get("fc.weight"), sd.get("fc.bias")
        if w is not None and b is not None and w.shape == fc.weight.shape and b.shape == fc.bias.shape:
            with torch.no_grad():
                fc.weight.copy_(w)
                fc.bias.copy_(b)
        else:
            skipped += ["fc.weight", "fc.bias"]
    return skipped


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def iter_bn(model: nn.Module) -> Iterator[nn.Module]:
    """Every BatchNorm module of ``model``."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            yield m
