"""Multiple cross entropy (MCE) loss, Eq. 4-5 of the paper (after Li et al. 2017).

For logits ``x`` shaped (B, C, 2) (index 0 = negative, 1 = positive) and labels
``y`` in {0, 1} shaped (B, C):

    y_hat[b, i, j] = exp(x[b, i, j]) / sum_j' exp(x[b, i, j'])                 (Eq. 4)
    l[b]           = - sum_i ( y[b, i] log y_hat[b, i, 1]
                               + (1 - y[b, i]) log y_hat[b, i, 0] )           (Eq. 5)

and the loss is the batch mean of ``l[b]`` (a sum over classes, a mean over
images). Because ``log softmax(x)[1] = log sigmoid(x1 - x0)``, this equals
``C * binary_cross_entropy_with_logits(x1 - x0, y)`` with PyTorch's default
``reduction="mean"`` (which averages over the B*C entries): the factor C is the
sum-over-classes versus mean-over-classes difference.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["mce_loss", "MCELoss"]


def mce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """MCE loss (Eq. 4-5).

    Parameters
    ----------
    logits
        (B, C, 2): negative and positive logits per class.
    targets
        (B, C) labels in {0, 1} (bool, int or float; soft labels in [0, 1] also work).
    reduction
        ``"mean"`` (default, the paper's: mean over images of the per-image sum
        over classes), ``"sum"`` (over images too) or ``"none"`` (per image, (B,)).
    """
    if logits.ndim != 3 or logits.shape[-1] != 2:
        raise ValueError(f"logits must be shaped (B, C, 2), got {tuple(logits.shape)}")
    if targets.shape != logits.shape[:2]:
        raise ValueError(f"targets shaped {tuple(targets.shape)} do not match logits {tuple(logits.shape)}")
    if logits.dtype in (torch.float16, torch.bfloat16):  # autocast outputs: compute in float32
        logits = logits.float()
    logp = F.log_softmax(logits, dim=-1)
    y = targets.to(logp.dtype)
    per_image = -(y * logp[..., 1] + (1.0 - y) * logp[..., 0]).sum(dim=1)
    if reduction == "mean":
        return per_image.mean()
    if reduction == "sum":
        return per_image.sum()
    if reduction == "none":
        return per_image
    raise ValueError("reduction must be 'mean', 'sum' or 'none'")


class MCELoss(torch.nn.Module):
    """Module form of :func:`mce_loss`."""

    def __init__(self, reduction: Literal["mean", "sum", "none"] = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return mce_loss(logits, targets, self.reduction)
