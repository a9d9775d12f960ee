"""The saliency network of the paper's branch: model and losses, training, map export.

Modules
-------
:mod:`~salanalysis.dualstream.saliency.net`
    :class:`SaliencyNet` (backbone -> readout -> upsampling -> pixel softmax),
    the KLD / CC / NSS losses, :func:`to_classifier` (the branch conversion of phase 1b).
:mod:`~salanalysis.dualstream.saliency.config`
    the options of ``salanalysis train-saliency`` (torch-free).
:mod:`~salanalysis.dualstream.saliency.train`
    SALICON data, evaluation and :func:`train_saliency` (``salanalysis train-saliency``).
:mod:`~salanalysis.dualstream.saliency.export`
    predicted maps as 8-bit PNGs (``salanalysis saliency predict``).

Nothing is imported here, so that the torch-free ``config`` module can be read
by the command line without torch.
"""
