"""The paper's models in torch: ResNet-50 baseline and dual-stream network.

Needs the ``train`` extra (``pip install salanalysis[train]``); importing this
sub-package imports torch, ``import salanalysis`` does not.

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
:mod:`~salanalysis.dualstream.train`
    the three training phases (``salanalysis train``).
:mod:`~salanalysis.dualstream.predict`
    scores files from a checkpoint (``salanalysis predict``).
"""

from salanalysis.dualstream.loss import MCELoss, mce_loss
from salanalysis.dualstream.models import Backbone, Baseline, DualStream, build_model, probabilities

__all__ = [
    "Backbone",
    "Baseline",
    "DualStream",
    "build_model",
    "probabilities",
    "mce_loss",
    "MCELoss",
]
