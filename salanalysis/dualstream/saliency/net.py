"""The saliency network of the paper's branch (Sec. 3.1, 5.1) and its losses.

:class:`SaliencyNet` is a single-scale variant of the SALICON model (Huang et
al., ICCV 2015): torchvision's ResNet-50 up to its last block (the same
:class:`~salanalysis.dualstream.models.Backbone` as the classifiers, so the
weights move into a classifier unchanged), a *readout* of convolution(s) down to
one channel, bilinear upsampling to the input size and a softmax over all
pixels. The default input is 480x640 (SALICON's image size); any size works
(the network is fully convolutional).

Output convention
-----------------
``net(x)`` returns the **log-density** ``log P`` (B, 1, H, W) at the input's
size: ``P = softmax`` of the upsampled readout over the H*W pixels of each
image, so ``P`` is a probability distribution (non-negative, sums to 1 per
image) and ``net.density(x) = exp(net(x))``. Exported maps
(:mod:`salanalysis.dualstream.saliency.export`) are ``P`` min-max scaled to
0..255, the paper's "normalised between 0 and 1" convention.

Losses (all averaged over the batch)
------------------------------------
With ``Q = G / sum(G)`` the ground-truth map ``G`` normalised to a
distribution, ``P`` the prediction and ``F`` the binary fixation map:

- :func:`kld_loss` ``KL(Q || P) = sum_i Q_i (log(Q_i + eps) - log P_i)``.
  ``log P`` comes exactly from ``log_softmax`` (no eps needed); ``eps = 1e-12``
  (:data:`KLD_EPS`) only keeps ``log 0`` finite where ``Q_i = 0`` (those terms
  are multiplied by 0). A ground-truth map that sums to 0 has ``Q = 0`` and
  contributes 0.
- :func:`cc_term` Pearson's correlation between ``P`` and ``G`` over pixels,
  ``mean((P - mean P)(G - mean G)) / (sd*(P) sd(G))`` (population sds).
- :func:`nss_term` the mean of the standardised prediction
  ``(P - mean P) / sd*(P)`` at fixated pixels (repeated fixations count
  repeatedly); images without fixations are left out of the batch mean (0 when
  none has any).

  Both use the *floored* sd of the prediction
  ``sd*(P) = sqrt(var(P) + (delta * mean|P|)^2 + 1e-24)`` with
  ``delta = 1e-3`` (:data:`SD_FLOOR`): for any map with some contrast this is
  sd(P) to a relative ``0.5 (delta / CV)^2`` (CV = sd / mean; ``5e-7`` at
  CV = 1), but at a constant prediction (the untrained network's uniform
  start) it keeps the value 0 and the gradient finite, where the plain
  correlation's gradient is infinite (and NaN through ``sqrt(0)``). A
  constant ground truth gives CC = 0 (``sd(G)`` clamped at 1e-12).
- :func:`saliency_loss` ``w_kld * KLD + w_cc * (1 - CC) - w_nss * NSS`` with
  ``w_kld = 1, w_cc = 0, w_nss = 0`` by default (KLD alone).

These are training objectives; the evaluation numbers come from
:mod:`salanalysis.saliency_metrics` (the saliency benchmark's definitions).

Branch conversion (phase 1b)
----------------------------
:func:`to_classifier` removes the readout and returns a
:class:`~salanalysis.dualstream.models.Baseline` (global spatial pooling ->
``Linear(2048, 2C)``) whose backbone *is* the saliency network's backbone;
:func:`classifier_state_dict` returns that model's state dict
(``backbone.*`` keys = torchvision ResNet-50 names, plus a freshly initialised
``fc.weight``/``fc.bias``), which ``Baseline.load_state_dict`` accepts.
See :func:`to_classifier` for the hand-off to ``salanalysis train --branch-init``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from salanalysis.dualstream.backbones import DEFAULT_BACKBONE
from salanalysis.dualstream.models import Backbone, Baseline, _as_backbone, build_backbone

__all__ = [
    "SaliencyNet",
    "build_saliency_net",
    "saliency_meta",
    "saliency_net_from_meta",
    "load_saliency_net",
    "kld_loss",
    "cc_term",
    "nss_term",
    "saliency_loss",
    "to_classifier",
    "classifier_state_dict",
    "KLD_EPS",
    "SD_FLOOR",
    "DEFAULT_INPUT_SIZE",
]

KLD_EPS = 1e-12
SD_FLOOR = 1e-3
_EPS = 1e-12
DEFAULT_INPUT_SIZE = (480, 640)


class SaliencyNet(nn.Module):
    """ResNet-50 -> readout conv(s) to one channel -> bilinear upsampling -> pixel softmax.

    Parameters
    ----------
    backbone
        A :class:`~salanalysis.dualstream.models.Backbone` or the registry name
        of a randomly initialised one (default ResNet-50;
        :func:`build_saliency_net` loads ImageNet or local weights).
    readout_hidden
        0 (default): the readout is one 1x1 convolution D -> 1 (D = 2048 for
        ResNet-50: the backbone's ``feature_dim``; a learned
        linear combination of the last feature maps, as SALICON's readout).
        ``k > 0``: a 3x3 convolution D -> k, ReLU, then a 1x1 convolution k -> 1.
        The last convolution starts at zero (weights and bias), so an untrained
        network predicts the uniform distribution and training starts from
        ``KLD = KL(Q || uniform)`` whatever the backbone's scale.
    input_size
        (height, width) images are resized to for training and prediction;
        stored with the model so that prediction uses the training size.
    """

    arch = "saliency_net"

    def __init__(
        self,
        backbone: Backbone | str | None = None,
        *,
        readout_hidden: int = 0,
        input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    ) -> None:
        super().__init__()
        if readout_hidden < 0:
            raise ValueError("readout_hidden must be >= 0")
        h, w = (int(v) for v in input_size)
        if h < 32 or w < 32:
            raise ValueError(f"input_size must be at least 32x32, got {h}x{w}")
        self.backbone = _as_backbone(backbone)
        self.readout_hidden = int(readout_hidden)
        self.input_size = (h, w)
        dim = self.backbone.feature_dim
        if self.readout_hidden:
            self.readout = nn.Sequential(
                nn.Conv2d(dim, self.readout_hidden, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(self.readout_hidden, 1, kernel_size=1),
            )
        else:
            self.readout = nn.Sequential(nn.Conv2d(dim, 1, kernel_size=1))
        last = self.readout[-1]
        nn.init.zeros_(last.weight)  # uniform initial prediction: KLD starts at KL(Q || uniform)
        nn.init.zeros_(last.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature maps of the backbone, (B, D, H/32, W/32)."""
        return self.backbone(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Readout upsampled (bilinear, ``align_corners=False``) to x's size: (B, 1, H, W), float32.

        Under bf16 autocast only the backbone runs in bf16: the readout and the
        upsampling run in float32 (autocast off).
        """
        f = self.features(x)
        with torch.autocast(f.device.type, enabled=False):
            r = self.readout(f.float())
            return F.interpolate(r, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density over pixels, (B, 1, H, W); ``exp`` sums to 1 per image."""
        z = self.logits(x).float()
        b = z.shape[0]
        return torch.log_softmax(z.reshape(b, -1), dim=1).reshape(z.shape)

    def density(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted fixation density ``P`` (B, 1, H, W), each image summing to 1."""
        return self.forward(x).exp()


def build_saliency_net(
    weights: str | os.PathLike = "none",
    *,
    readout_hidden: int = 0,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    backbone: str = DEFAULT_BACKBONE,
) -> SaliencyNet:
    """A :class:`SaliencyNet` with its backbone (registry name ``backbone``) initialised from ``weights``.

    ``weights`` is ``"imagenet"``, ``"none"`` or a local file, as
    :func:`salanalysis.dualstream.weights.load_torchvision_model` (a clear
    :class:`~salanalysis.errors.InputError` when ImageNet weights cannot be had
    offline).
    """
    return SaliencyNet(build_backbone(backbone, weights), readout_hidden=readout_hidden, input_size=input_size)


def saliency_meta(net: SaliencyNet) -> dict:
    """Plain-data description of a SaliencyNet (stored in checkpoints)."""
    return {
        "arch": SaliencyNet.arch,
        "backbone": net.backbone.name,
        "readout_hidden": int(net.readout_hidden),
        "input_size": [int(v) for v in net.input_size],
    }


def saliency_net_from_meta(meta: dict) -> SaliencyNet:
    """A randomly initialised SaliencyNet with the architecture in ``meta``."""
    if meta.get("arch") != SaliencyNet.arch:
        raise ValueError(f"not a saliency network description: arch={meta.get('arch')!r}")
    return SaliencyNet(
        meta.get("backbone", DEFAULT_BACKBONE),
        readout_hidden=int(meta.get("readout_hidden", 0)),
        input_size=tuple(meta.get("input_size", DEFAULT_INPUT_SIZE)),
    )


def load_saliency_net(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> SaliencyNet:
    """Rebuild a SaliencyNet from a checkpoint written by ``salanalysis train-saliency``.

    Raises
    ------
    InputError
        The file is missing, unreadable, or not a saliency-network checkpoint.
    """
    from salanalysis.dualstream.checkpoint import load_checkpoint
    from salanalysis.errors import InputError

    ckpt = load_checkpoint(path, map_location=map_location)
    meta = ckpt.get("meta")
    if not isinstance(meta, dict) or meta.get("arch") != SaliencyNet.arch:
        arch = meta.get("arch") if isinstance(meta, dict) else None
        raise InputError(
            f"not a saliency-network checkpoint (model arch {arch!r}; expected {SaliencyNet.arch!r})", path
        )
    net = saliency_net_from_meta(meta)
    try:
        net.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"checkpoint weights do not fit the saliency network: {exc}", path) from exc
    return net


# ---------------------------------------------------------------------- losses
def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.float().reshape(t.shape[0], -1)


def _as_distribution(target: torch.Tensor) -> torch.Tensor:
    g = _flat(target)
    return g / g.sum(dim=1, keepdim=True).clamp_min(_EPS)


def kld_loss(log_p: torch.Tensor, target: torch.Tensor, eps: float = KLD_EPS) -> torch.Tensor:
    """``KL(Q || P)`` averaged over the batch (see the module docstring).

    Parameters
    ----------
    log_p
        Predicted log-density (B, 1, H, W) (or (B, H, W)), as returned by
        :class:`SaliencyNet`.
    target
        Ground-truth saliency maps ``G >= 0`` of the same shape (any scale:
        normalised here to ``Q = G / sum G``).
    eps
        Added to ``Q`` inside the log only (``Q log Q`` at ``Q = 0`` is 0).
    """
    if log_p.shape != target.shape:
        raise ValueError(f"prediction {tuple(log_p.shape)} and target {tuple(target.shape)} differ")
    q = _as_distribution(target)
    lp = _flat(log_p)
    return (q * (torch.log(q + eps) - lp)).sum(dim=1).mean()


def _floored_sd(a: torch.Tensor, centered: torch.Tensor) -> torch.Tensor:
    """Population sd per row with the relative floor of the module docstring, (B, 1)."""
    var = (centered * centered).mean(dim=1, keepdim=True)
    level = a.abs().mean(dim=1, keepdim=True)
    return torch.sqrt(var + (SD_FLOOR * level) ** 2 + 1e-24)


def cc_term(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson's correlation between prediction and ground truth over pixels, batch mean.

    The prediction's sd is floored (module docstring), so a constant
    prediction scores 0 with a finite gradient.
    """
    if p.shape != target.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and target {tuple(target.shape)} differ")
    a = _flat(p)
    b = _flat(target)
    ac = a - a.mean(dim=1, keepdim=True)
    bc = b - b.mean(dim=1, keepdim=True)
    sd_b = torch.sqrt((bc * bc).mean(dim=1, keepdim=True)).clamp_min(_EPS)
    cov = (ac * bc).mean(dim=1, keepdim=True)
    return (cov / (_floored_sd(a, ac) * sd_b)).mean()


def nss_term(p: torch.Tensor, fixations: torch.Tensor) -> torch.Tensor:
    """Normalised scanpath saliency: mean standardised prediction at fixated pixels.

    The prediction's sd is floored (module docstring).

    ``fixations`` is a (B, 1, H, W) map, > 0 at fixated pixels (counts act as
    weights). Images without any fixation are excluded from the batch mean; the
    result is 0 when no image has one.
    """
    if p.shape != fixations.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and fixations {tuple(fixations.shape)} differ")
    a = _flat(p)
    f = _flat(fixations)
    ac = a - a.mean(dim=1, keepdim=True)
    s = ac / _floored_sd(a, ac)
    n = f.sum(dim=1)
    has = n > 0
    if not bool(has.any()):
        return a.sum() * 0.0
    per = (s * f).sum(dim=1)[has] / n[has]
    return per.mean()


def saliency_loss(
    log_p: torch.Tensor,
    target: torch.Tensor,
    fixations: torch.Tensor | None = None,
    *,
    w_kld: float = 1.0,
    w_cc: float = 0.0,
    w_nss: float = 0.0,
    as_float: bool = True,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """``w_kld * KLD + w_cc * (1 - CC) - w_nss * NSS``; returns (loss, terms).

    ``terms`` holds the value of every computed term (``kld``, ``cc``,
    ``nss``) for logging: floats, or with ``as_float=False`` 0-d tensors (no
    host synchronisation). ``fixations`` is required when ``w_nss > 0``.
    """
    terms: dict[str, torch.Tensor] = {}
    loss = log_p.new_zeros((), dtype=torch.float32)
    if w_kld:
        kld = kld_loss(log_p, target)
        loss = loss + w_kld * kld
        terms["kld"] = kld.detach()
    if w_cc or w_nss:
        p = log_p.float().exp()
        if w_cc:
            cc = cc_term(p, target)
            loss = loss + w_cc * (1.0 - cc)
            terms["cc"] = cc.detach()
        if w_nss:
            if fixations is None:
                raise ValueError("w_nss > 0 needs fixation maps")
            nss = nss_term(p, fixations)
            loss = loss - w_nss * nss
            terms["nss"] = nss.detach()
    return loss, ({k: float(v) for k, v in terms.items()} if as_float else terms)


# ------------------------------------------------------------ branch conversion
def to_classifier(
    net: SaliencyNet, num_classes: int, pooling: str = "max", *, seed: int | None = None
) -> Baseline:
    """Turn a trained saliency network into a multi-label classifier (phase 1b).

    The readout is dropped; the backbone (shared, not copied) gets the
    classifier head of :class:`~salanalysis.dualstream.models.Baseline`:
    global spatial pooling (``"max"`` as the paper, or ``"avg"``) and a freshly
    initialised ``Linear(2048, 2C)`` (PyTorch's default init, seeded by ``seed``
    when given). Fine-tuning it on COCO is ordinary Baseline training.

    Hand-off to the classifier trainer: ``salanalysis train --branch-init FILE``
    accepts a ``train-saliency`` checkpoint FILE (``out/last.pt`` or
    ``out/model.pt``) directly: such a checkpoint holds ``"model"`` (the
    SaliencyNet state dict: ``backbone.<torchvision ResNet-50 name>`` and
    ``readout.*``) and ``"meta"`` (``{"arch": "saliency_net", ...}``, no
    ``category_ids``); the trainer's
    :func:`~salanalysis.dualstream.weights.load_weights_into` takes the
    ``backbone.*`` entries strictly into the Baseline's backbone, ignores the
    readout and leaves ``fc`` freshly initialised. That is exactly this
    function's result (up to the random ``fc``). A file of
    :func:`classifier_state_dict` (``torch.save``'d) works as well: it has
    exactly Baseline's keys, ``backbone.*`` and ``fc.*``.
    """
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Baseline(num_classes, pooling, backbone=net.backbone)
    else:
        model = Baseline(num_classes, pooling, backbone=net.backbone)
    return model


def classifier_state_dict(
    source: SaliencyNet | str | os.PathLike,
    num_classes: int,
    pooling: str = "max",
    *,
    seed: int | None = 0,
) -> dict[str, torch.Tensor]:
    """A :class:`~salanalysis.dualstream.models.Baseline` state dict built from a saliency network.

    ``source`` is a :class:`SaliencyNet` or the path of a ``train-saliency``
    checkpoint. Keys: ``backbone.*`` (the saliency backbone's weights and
    batch-norm buffers) and ``fc.weight`` (2C, 2048), ``fc.bias`` (2C), freshly
    initialised (seeded). ``Baseline(num_classes, pooling).load_state_dict(sd)``
    accepts it with ``strict=True``.
    """
    net = source if isinstance(source, SaliencyNet) else load_saliency_net(source)
    model = to_classifier(net, num_classes, pooling, seed=seed)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def describe(net: SaliencyNet) -> dict[str, Any]:
    """Parameter counts of the backbone and the readout (for logs)."""
    return {
        "backbone_params": sum(p.numel() for p in net.backbone.parameters()),
        "readout_params": sum(p.numel() for p in net.readout.parameters()),
        **saliency_meta(net),
    }
