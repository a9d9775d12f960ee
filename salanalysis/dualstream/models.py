"""ResNet-50 multi-label classifiers of the paper (Sec. 4.1, 5.1).

Both models are built on torchvision's ResNet-50 (no hand-written backbone; the
backbone comes from the registry of :mod:`~salanalysis.dualstream.backbones`,
where another torchvision network is one entry; the numbers below are
ResNet-50's) and output **logits shaped (B, C, 2)**: ``logits[:, c, 0]`` is the *negative* and
``logits[:, c, 1]`` the *positive* score of class ``c`` (Eq. 4-5; index 1 =
positive). Probabilities are the per-class two-way softmax, see
:func:`probabilities` (equal to ``sigmoid(x1 - x0)``).

Precision: under bf16 autocast the backbones run in bf16, but the global
pooling, the final linear layer and so the logits are float32 (autocast is
switched off there), as are :func:`probabilities` and the MCE loss: the
scores and the loss never pass through bf16's 8-bit mantissa.

:class:`Baseline`
    ResNet-50 without its ``avgpool`` and ``fc`` (the 7x7x2048 maps of the last
    block for a 224x224 input) -> global spatial pooling (max by default, as the
    paper following Oquab et al.; ``"avg"`` as an option) -> ``Linear(2048, 2C)``.
:class:`DualStream`
    Two such backbones, the *trunk* (classification) and the *branch*
    (saliency-trained), each pooled to 2048, concatenated to 4096 (trunk first,
    Eq. 2) -> ``Linear(4096, 2C)`` (Eq. 3).

Stable API (reused by the CAM and saliency modules)
---------------------------------------------------
``model(x) -> (B, C, 2)`` logits.
``model.features(x) -> list[Tensor]``: the last feature maps, one (B, 2048, h, w)
    tensor per stream (``[trunk]`` for a Baseline, ``[trunk, branch]`` for a
    DualStream).
``model.class_weights() -> Tensor (C, D)``: positive-minus-negative rows of the
    final linear layer (D = 2048 or 4096); the logit difference ``x1 - x0`` of a
    class is ``pooled @ class_weights().T + class_bias()``. For a DualStream the
    columns ``[:2048]`` weigh the trunk's maps and ``[2048:]`` the branch's
    (``model.stream_weights()`` gives them split per stream), so a CAM of class
    ``c`` is ``sum_s einsum('k,khw->hw', stream_weights()[s][c], features(x)[s][i])``.
``model.backbones -> list[Backbone]`` in stream order; ``model.fc`` the linear
    layer; ``model.pool`` the :class:`GlobalPool`; ``model.num_classes``;
    ``model.arch`` (``"baseline"`` | ``"dualstream"``).
:class:`Backbone` is an ``nn.Sequential`` of torchvision's ResNet-50 children
    ``conv1, bn1, relu, maxpool, layer1..layer4``; its state-dict keys are
    torchvision's (minus ``fc``), so torchvision weights load into it directly;
    ``backbone.name`` is its registry name, ``backbone.feature_dim`` its D.
:func:`build_model` is the one factory; :func:`model_meta` /
    :func:`model_from_meta` describe (arch, backbone, classes, pooling) and
    rebuild a model from a checkpoint.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Literal

import torch
from torch import nn

from salanalysis.dualstream.backbones import DEFAULT_BACKBONE, backbone_spec

__all__ = [
    "Backbone",
    "build_backbone",
    "GlobalPool",
    "Baseline",
    "DualStream",
    "build_model",
    "model_meta",
    "model_from_meta",
    "probabilities",
    "describe_nonfinite",
    "FEATURE_DIM",
]

#: Feature size of the default backbone (ResNet-50).
FEATURE_DIM = backbone_spec(DEFAULT_BACKBONE).feature_dim
Pooling = Literal["max", "avg"]


class Backbone(nn.Sequential):
    """A registered backbone up to its last block: (B, 3, H, W) -> (B, feature_dim, H/32, W/32).

    Built from the torchvision network of registry entry ``name``
    (:data:`~salanalysis.dualstream.backbones.BACKBONES`; ResNet-50 by default)
    by keeping its children ``spec.layers`` (``avgpool`` and ``fc`` dropped);
    child names follow torchvision, so ``backbone.load_state_dict`` accepts a
    torchvision state dict without its ``fc.*`` entries. ``network=None``
    builds a randomly initialised one (see
    :func:`~salanalysis.dualstream.models.build_backbone` for weights).
    """

    def __init__(self, network: nn.Module | None = None, name: str = DEFAULT_BACKBONE) -> None:
        spec = backbone_spec(name)
        if network is None:
            from salanalysis.dualstream.weights import load_torchvision_model

            network = load_torchvision_model(name, "none")
        super().__init__(OrderedDict((n, getattr(network, n)) for n in spec.layers))
        self.name = name
        self.feature_dim = spec.feature_dim


def _feature_dim(backbone: Backbone | str | None) -> int:
    if isinstance(backbone, Backbone):
        return backbone.feature_dim
    return backbone_spec(backbone or DEFAULT_BACKBONE).feature_dim


def _as_backbone(backbone: Backbone | str | None) -> Backbone:
    """A Backbone as given, or a random one of the registry name (default ResNet-50)."""
    if isinstance(backbone, Backbone):
        return backbone
    return Backbone(name=backbone or DEFAULT_BACKBONE)


def build_backbone(
    name: str = DEFAULT_BACKBONE, weights: str | os.PathLike | None = "none", *, stream: str = "trunk"
) -> Backbone:
    """A :class:`Backbone` of ``name``, initialised per ``weights``.

    ``weights`` is ``"imagenet"``, ``"none"`` (random) or a local file, see
    :func:`salanalysis.dualstream.weights.load_torchvision_model` (``stream``
    picks a DualStream checkpoint's trunk or branch).
    """
    from salanalysis.dualstream.weights import load_torchvision_model

    return Backbone(load_torchvision_model(name, weights, stream=stream), name=name)


class GlobalPool(nn.Module):
    """Global spatial pooling (B, K, h, w) -> (B, K): ``"max"`` (GMP) or ``"avg"`` (GAP)."""

    def __init__(self, mode: Pooling = "max") -> None:
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features in float32 (the max of bf16 values is exact; the mean accumulates in float32)."""
        if self.mode == "max":
            return torch.amax(x, dim=(2, 3)).float()
        return torch.mean(x, dim=(2, 3), dtype=torch.float32)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class _MultiLabelHead(nn.Module):
    """Shared logic: pooled features -> Linear(D, 2C) -> (B, C, 2)."""

    arch: str = ""

    def __init__(self, num_classes: int, in_features: int, pooling: Pooling) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.pool = GlobalPool(pooling)
        self.fc = nn.Linear(in_features, 2 * self.num_classes)

    @property
    def backbones(self) -> list[Backbone]:  # pragma: no cover - overridden
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Last feature maps, one (B, 2048, h, w) tensor per stream."""
        return [b(x) for b in self.backbones]

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled (and, for two streams, concatenated) features (B, D)."""
        return torch.cat([self.pool(f) for f in self.features(x)], dim=1)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Apply the linear layer to pooled features: (B, D) -> float32 logits (B, C, 2), autocast off."""
        with torch.autocast(pooled.device.type, enabled=False):
            return self.fc(pooled.float()).view(pooled.shape[0], self.num_classes, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))

    def class_weights(self) -> torch.Tensor:
        """Positive-minus-negative weight rows of the linear layer, (C, D)."""
        w = self.fc.weight.view(self.num_classes, 2, -1)
        return w[:, 1] - w[:, 0]

    def class_bias(self) -> torch.Tensor:
        """Positive-minus-negative bias, (C,)."""
        b = self.fc.bias.view(self.num_classes, 2)
        return b[:, 1] - b[:, 0]

    def stream_weights(self) -> list[torch.Tensor]:
        """:meth:`class_weights` split per stream: a (C, feature_dim) tensor per stream."""
        return list(torch.split(self.class_weights(), [b.feature_dim for b in self.backbones], dim=1))


class Baseline(_MultiLabelHead):
    """ResNet-50 -> global pooling -> Linear(2048, 2C) (the paper's RSN-50 baseline).

    Parameters
    ----------
    num_classes
        C, the number of labels.
    pooling
        ``"max"`` (default, the paper's GMP) or ``"avg"``.
    backbone
        A :class:`Backbone`, or the registry name of a randomly initialised one
        (default ResNet-50; :func:`~salanalysis.dualstream.models.build_backbone`
        gives ImageNet or local weights).
    """

    arch = "baseline"

    def __init__(self, num_classes: int, pooling: Pooling = "max", backbone: Backbone | str | None = None) -> None:
        super().__init__(num_classes, _feature_dim(backbone), pooling)
        self.backbone = _as_backbone(backbone)

    @property
    def backbones(self) -> list[Backbone]:
        return [self.backbone]


class DualStream(_MultiLabelHead):
    """Trunk and branch ResNet-50s, pooled and concatenated -> Linear(4096, 2C).

    Parameters
    ----------
    num_classes
        C.
    pooling
        ``"max"`` (default) or ``"avg"``, applied to both streams.
    trunk, branch
        :class:`Backbone` modules, or registry names of random ones (default: ResNet-50s).
    """

    arch = "dualstream"

    def __init__(
        self,
        num_classes: int,
        pooling: Pooling = "max",
        trunk: Backbone | str | None = None,
        branch: Backbone | str | None = None,
    ) -> None:
        super().__init__(num_classes, _feature_dim(trunk) + _feature_dim(branch), pooling)
        self.trunk = _as_backbone(trunk)
        self.branch = _as_backbone(branch)

    @property
    def backbones(self) -> list[Backbone]:
        return [self.trunk, self.branch]

    @classmethod
    def from_baselines(cls, trunk: Baseline, branch: Baseline, fc_init: Literal["average", "random"] = "average") -> DualStream:
        """Assemble a DualStream from two trained Baselines (the paper's phase 2 start).

        ``fc_init="average"`` sets ``W = 0.5 [W_trunk, W_branch]`` and
        ``b = 0.5 (b_trunk + b_branch)``, so the new model starts out predicting
        the mean of the two baselines' logits; ``"random"`` keeps PyTorch's
        default initialisation of a fresh ``Linear(4096, 2C)``.
        """
        if trunk.num_classes != branch.num_classes:
            raise ValueError(
                f"trunk has {trunk.num_classes} classes, branch {branch.num_classes}"
            )
        if trunk.pooling != branch.pooling:
            raise ValueError(f"trunk pools with {trunk.pooling!r}, branch with {branch.pooling!r}")
        if trunk.backbone.name != branch.backbone.name:
            raise ValueError(f"trunk is a {trunk.backbone.name}, branch a {branch.backbone.name}")
        model = cls(trunk.num_classes, trunk.pooling, trunk=trunk.backbone, branch=branch.backbone)
        if fc_init == "average":
            with torch.no_grad():
                model.fc.weight.copy_(0.5 * torch.cat([trunk.fc.weight, branch.fc.weight], dim=1))
                model.fc.bias.copy_(0.5 * (trunk.fc.bias + branch.fc.bias))
        elif fc_init != "random":
            raise ValueError("fc_init must be 'average' or 'random'")
        return model


def build_model(
    name: Literal["baseline", "dualstream"],
    num_classes: int,
    *,
    pooling: Pooling = "max",
    weights: str | None = "none",
    branch_weights: str | None = None,
    backbone: str = DEFAULT_BACKBONE,
) -> Baseline | DualStream:
    """The one model factory.

    Parameters
    ----------
    name
        ``"baseline"`` or ``"dualstream"`` (``"dual-stream"``, ``"dual"`` accepted).
    num_classes
        C.
    pooling
        ``"max"`` or ``"avg"``.
    weights
        Initialisation of the (trunk) backbone: ``"imagenet"``, ``"none"`` or a
        path (see :func:`salanalysis.dualstream.weights.load_torchvision_model`).
    branch_weights
        For ``"dualstream"``: the branch's initialisation (default: same as ``weights``).
    backbone
        The registry name of both streams' backbone (default ``"resnet50"``).
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key == "baseline":
        return Baseline(num_classes, pooling, build_backbone(backbone, weights or "none"))
    if key in ("dualstream", "dual"):
        trunk = build_backbone(backbone, weights or "none")
        branch = build_backbone(backbone, branch_weights or weights or "none")
        return DualStream(num_classes, pooling, trunk=trunk, branch=branch)
    raise ValueError(f"unknown model {name!r} (expected 'baseline' or 'dualstream')")


def model_meta(model: nn.Module, category_ids: Any = None, category_names: Any = None) -> dict:
    """Plain-data description of a model (stored in checkpoints; see :func:`model_from_meta`)."""
    return {
        "arch": model.arch,
        "backbone": model.backbones[0].name,
        "num_classes": int(model.num_classes),
        "pooling": model.pooling,
        "category_ids": [int(c) for c in category_ids] if category_ids is not None else None,
        "category_names": [str(c) for c in category_names] if category_names is not None else None,
    }


def model_from_meta(meta: dict) -> Baseline | DualStream:
    """A randomly initialised model with the architecture described by ``meta``."""
    cls = {"baseline": Baseline, "dualstream": DualStream}[meta["arch"]]
    name = meta.get("backbone", DEFAULT_BACKBONE)
    if cls is Baseline:
        return Baseline(int(meta["num_classes"]), meta.get("pooling", "max"), name)
    return DualStream(int(meta["num_classes"]), meta.get("pooling", "max"), name, name)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Per-class two-way softmax, positive column: (B, C, 2) -> (B, C) in [0, 1]."""
    return torch.softmax(logits.float(), dim=-1)[..., 1]


def describe_nonfinite(scores: Any, image_ids: Any = None, class_names: Any = None, limit: int = 3) -> str:
    """Where a (N, C) score array is NaN or infinite, in words (``""`` when it is all finite).

    E.g. ``"2 non-finite values in 1 image (image 192: person, dog)"``: the
    count, then the first ``limit`` images (by id when ``image_ids`` is given,
    else by row) with their classes (by name when ``class_names`` is given).
    """
    import numpy as np

    bad = ~np.isfinite(np.asarray(scores, dtype=np.float64))
    if not bad.any():
        return ""
    rows = np.flatnonzero(bad.any(axis=1))
    parts = []
    for r in rows[:limit]:
        who = f"image {int(image_ids[r])}" if image_ids is not None else f"row {int(r)}"
        cls = [str(class_names[c]) if class_names is not None else str(int(c)) for c in np.flatnonzero(bad[r])]
        parts.append(f"{who}: {', '.join(cls[:limit])}{', ...' if len(cls) > limit else ''}")
    more = "; ..." if len(rows) > limit else ""
    return (f"{int(bad.sum())} non-finite value{'s' if bad.sum() > 1 else ''} in {len(rows)} "
            f"image{'s' if len(rows) > 1 else ''} ({'; '.join(parts)}{more})")
