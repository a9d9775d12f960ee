"""salanalysis: visual attention and multi-label image classification on MS COCO.

The analyses, figures and models of Luo, Jiang & Zhao, "Visual Attention in
Multi-Label Image Classification" (CVPR workshops 2019), as a library and a
command-line tool. ``import salanalysis`` is light: it imports neither pandas
nor torch until an entry point is used (the training sub-package
:mod:`salanalysis.dualstream` imports torch).

Entry points (each also a ``salanalysis`` command; every ``run_*`` returns a
result with ``.tables`` (tidy DataFrames), ``.summary()`` and ``.write(folder)``,
which writes the files the command writes):

- :func:`run_objects` -- the object table (``salanalysis objects``);
- :func:`run_metrics` -- Table 1 and the per-class metrics (``salanalysis metrics``);
- :func:`run_stats` -- Sec. 3.2 statistics from an object table (``salanalysis stats``);
- :func:`run_clutter` -- mAP per number of objects, Fig. 3 (``salanalysis clutter``);
- :func:`run_compare` -- per-category AP differences, Fig. 4 (``salanalysis compare``);
- :func:`draw_figure` and :data:`FIGURES` -- the paper's figures from those tables.

Each ``run_*`` takes the annotations as a path or an :class:`~salanalysis.coco.Annotations`,
the score sets as a mapping (or sequence) of paths, :class:`Scores` or wide DataFrames
(``image_id`` + one column per class), ``rules=MetricRules(...)``, ``n_boot=1000``,
``seed=0``, ``jobs=0`` (all cores) and an optional ``out=`` folder.

Errors in the input are :class:`InputError` (a one-line ``ValueError`` naming the file);
input read by a rule worth knowing is an :class:`InputWarning` (filterable with
:mod:`warnings`).

Example
-------
>>> import salanalysis as sa                                     # doctest: +SKIP
>>> res = sa.run_metrics("instances.json", {"resnet": "scores.csv"})  # doctest: +SKIP
>>> print(res.summary()); res.write("out/metrics")                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from salanalysis.errors import InputError, InputWarning

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first use: PEP 562; types in __init__.pyi).
_LAZY = {
    "run_objects": "salanalysis.objects_run",
    "run_metrics": "salanalysis.metrics",
    "run_stats": "salanalysis.stats",
    "run_clutter": "salanalysis.clutter",
    "run_compare": "salanalysis.compare",
    "MetricRules": "salanalysis.metrics.rules",
    "Scores": "salanalysis.scores",
    "Annotations": "salanalysis.coco",
    "draw_figure": "salanalysis.figures",
    "FIGURES": "salanalysis.figures",
}

__all__ = ["InputError", "InputWarning", "__version__", *_LAZY]

def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'salanalysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
