"""The paper's models in torch: ResNet-50 baseline and dual-stream network.

Needs the ``train`` extra (``pip install salanalysis[train]``); its model modules
import torch (loaded lazily here), ``import salanalysis`` does not.

Modules
-------
:mod:`~salanalysis.dualstream.models`
    :class:`Baseline`, :class:`DualStream`, :func:`build_model` (logits (B, C, 2)).
:mod:`~salanalysis.dualstream.loss`
    :func:`mce_loss` (Eq. 4-5).
:mod:`~salanalysis.dualstream.data`
    :class:`CocoMultiLabel` dataset, transforms, seeded resumable sampler, loaders.
:mod:`~salanalysis.dualstream.engine`
    distributed setup, atomic checkpoints, RNG state, autocast, weight loading.
:mod:`~salanalysis.dualstream.config`
    training options (torch-free).
:mod:`~salanalysis.dualstream.train`
    the three training phases (``salanalysis train``).
:mod:`~salanalysis.dualstream.predict`
    scores files from a checkpoint (``salanalysis predict``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Backbone",
    "Baseline",
    "DualStream",
    "build_model",
    "probabilities",
    "mce_loss",
    "MCELoss",
]

_LAZY = {
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
