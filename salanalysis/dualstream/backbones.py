"""The backbone registry: the one place a backbone is defined (torch-free; torch loads lazily).

Every model of the package (the :class:`~salanalysis.dualstream.models.Baseline`,
both streams of the :class:`~salanalysis.dualstream.models.DualStream` and the
:class:`~salanalysis.dualstream.saliency.net.SaliencyNet`) gets its backbone from
:func:`build_backbone`. A backbone is a torchvision classification network cut
before its global pooling: the children named in ``layers`` kept in order, so
its state-dict keys are torchvision's (minus the classifier) and torchvision
weights load into it directly.

Adding a backbone is one entry of :data:`BACKBONES`, e.g. for ResNet-101::

    "resnet101": BackboneSpec("resnet101", "ResNet101_Weights.IMAGENET1K_V1", 2048, "ResNet-101"),

``--backbone NAME`` (the ``backbone`` option of both trainers) then selects it,
checkpoints record it in their ``meta`` description, and ``predict``, ``cam``
and ``saliency predict`` rebuild it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BackboneSpec", "BACKBONES", "DEFAULT_BACKBONE", "backbone_spec"]

#: The children of torchvision's ResNets kept by a backbone (``avgpool`` and ``fc`` dropped).
RESNET_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


@dataclass(frozen=True)
class BackboneSpec:
    """One registry entry.

    Attributes
    ----------
    builder
        The ``torchvision.models`` function that builds the full network.
    weights
        Its ImageNet weights, ``"<Enum>.<member>"`` of ``torchvision.models``
        (what ``--weights imagenet`` loads).
    feature_dim
        Channels of the last feature maps (the pooled feature size).
    label
        The name in messages.
    layers
        The children kept, in order.
    """

    builder: str
    weights: str
    feature_dim: int
    label: str
    layers: tuple[str, ...] = RESNET_LAYERS


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec("resnet50", "ResNet50_Weights.IMAGENET1K_V1", 2048, "ResNet-50"),
}
DEFAULT_BACKBONE = "resnet50"


def backbone_spec(name: str) -> BackboneSpec:
    """The registry entry of ``name``; ValueError for an unknown one."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})") from None

