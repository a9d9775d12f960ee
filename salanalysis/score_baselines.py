"""Score sets the package computes itself: documented baselines, never models.

The bundled demo holds one real score set (the cocoapi *sample detections*).
Two-model figures (Fig. 3 and Fig. 4) compare it with
:func:`class_prior_scores`, which is labelled everywhere as
"class-prior baseline (not a model)".
"""

from __future__ import annotations

import numpy as np

from salanalysis.coco import Annotations
from salanalysis.scores import Scores

__all__ = ["CLASS_PRIOR_LABEL", "class_prior_scores"]

CLASS_PRIOR_LABEL = "class-prior baseline (not a model)"


def class_prior_scores(annotations: Annotations, *, name: str = "prior",
                       include_crowd: bool = True) -> Scores:
    """The class-prior baseline: every image scores each class by its prevalence.

    The score of class ``c`` in every image is the fraction of the annotation
    file's images (all of them, including images without annotations) that
    contain ``c`` (crowd annotations count by default, the same rule as
    :func:`salanalysis.metrics.ground_truth`). All images tie within a class, so
    the class's AP equals its prevalence: the chance level that any real model
    must beat. It uses the ground truth it is evaluated on, so it is a reference
    line, not a model.

    Parameters
    ----------
    annotations
        The ground truth.
    name
        The score set's name (``score_<name>`` in the object table).
    include_crowd
        Count crowd annotations as positives.

    Returns
    -------
    Scores
        ``meta["label"]`` is :data:`CLASS_PRIOR_LABEL`; ``source`` names the
        annotation file it was computed from.
    """
    labels = annotations.label_matrix(include_crowd=include_crowd)
    n = labels.shape[0]
    prevalence = labels.mean(axis=0) if n else np.zeros(labels.shape[1])
    scores = np.broadcast_to(prevalence, labels.shape).astype(np.float64).copy()
    out = Scores.from_array(name, annotations, scores,
                            source=f"computed from {annotations.path} (class prevalence)")
    out.meta["label"] = CLASS_PRIOR_LABEL
    out.meta["builtin"] = "class-prior"
    return out
