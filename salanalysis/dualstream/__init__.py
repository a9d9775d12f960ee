"""The paper's models in torch: ResNet-50 baseline and dual-stream network.

Needs the ``train`` extra (``pip install salanalysis[train]``); its model modules
import torch (loaded lazily here), ``import salanalysis`` does not.

Modules
-------
:mod:`~salanalysis.dualstream.backbones`
    the backbone registry (ResNet-50; one entry per backbone).
:mod:`~salanalysis.dualstream.models`
    :class:`Baseline`, :class:`DualStream`, :func:`build_model` (logits (B, C, 2)), :func:`build_backbone`.
:mod:`~salanalysis.dualstream.loss`
    :func:`mce_loss` (Eq. 4-5).
:mod:`~salanalysis.dualstream.data`
    :class:`CocoMultiLabel` dataset, transforms, seeded resumable sampler, loaders.
:mod:`~salanalysis.dualstream.pipeline`
    input pipelines: JPEG decoding and crops in the workers (``cpu``) or on the GPU (``gpu``).
:mod:`~salanalysis.dualstream.distributed`
    torchrun's environment, devices, process group, gathering over ranks.
:mod:`~salanalysis.dualstream.checkpoint`
    atomic checkpoints, weights-only loading, RNG state.
:mod:`~salanalysis.dualstream.weights`
    ImageNet and local weights, state dicts moved between models.
:mod:`~salanalysis.dualstream.loop`
    :func:`train_one_epoch`, the epoch driver, autocast, the run log.
:mod:`~salanalysis.dualstream.trainer`
    the skeleton both trainers share (:func:`run_training`, :func:`fit`, :class:`Task`).
:mod:`~salanalysis.dualstream.options`
    the one configuration mechanism of both trainers (torch-free).
:mod:`~salanalysis.dualstream.config`
    training options (torch-free).
:mod:`~salanalysis.dualstream.train`
    the three training phases (``salanalysis train``).
:mod:`~salanalysis.dualstream.predict`
    scores files from a checkpoint (``salanalysis predict``).
:mod:`~salanalysis.dualstream.cam`
    class activation maps and the Fig. 5 selection (``salanalysis cam``).
:mod:`~salanalysis.dualstream.saliency`
    the saliency network: model, losses, training, map export.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "build_backbone",
    "Backbone",
    "Baseline",
    "DualStream",
    "build_model",
    "probabilities",
    "mce_loss",
    "MCELoss",
]

_LAZY = {
    "build_backbone": "models",
    "Backbone": "models",
    "Baseline": "models",
    "DualStream": "models",
    "build_model": "models",
    "probabilities": "models",
    "mce_loss": "loss",
    "MCELoss": "loss",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the torch-free ``salanalysis.dualstream.config`` can be
    # imported by the command line without importing torch.
    if name in _LAZY:
        return getattr(importlib.import_module(f"salanalysis.dualstream.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'salanalysis.dualstream' has no attribute {name!r}")
