"""The rules of the multi-label metrics, as one value: :class:`MetricRules`.

pycocotools keeps its evaluation settings in one ``Params`` object; here the
rules of Table 1 travel the same way: every function that computes a metric
takes a ``rules`` argument, every output names the rules it used
(:meth:`MetricRules.to_dict`), and an invalid rule is one :class:`InputError`
when the object is made, before any work.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from salanalysis.errors import InputError

__all__ = ["METRICS", "MetricRules", "DEFAULT_RULES", "CF1Rule", "EmptyRule", "FederatedRule", "OverallRule"]

#: The Table 1 metrics, in the paper's column order.
METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP")
CF1Rule = Literal["harmonic", "mean-per-class"]
EmptyRule = Literal["exclude", "zero"]
FederatedRule = Literal["auto", "on", "off"]
OverallRule = Literal["all-predictions", "classes-with-positives"]

_CHOICES = {"cf1": ("harmonic", "mean-per-class"), "empty_classes": ("exclude", "zero"),
            "federated": ("auto", "on", "off"), "overall": ("all-predictions", "classes-with-positives")}


@dataclass(frozen=True)
class MetricRules:
    """How labels, predictions and averages are defined (see :mod:`salanalysis.metrics`).

    Attributes
    ----------
    threshold
        A class is predicted when its score is ``>= threshold`` (in [0, 1]).
    cf1
        ``"harmonic"`` (Eq. 6: harmonic mean of C-P and C-R) or
        ``"mean-per-class"`` (the mean of the per-class F1).
    top_k
        Predict the ``top_k`` highest-scoring classes of each image instead of
        thresholding (None: thresholding).
    top_k_threshold
        With ``top_k``, also require ``score >= threshold`` (ML-GCN's code).
    empty_classes
        Classes without positives: ``"exclude"``d from every average, or
        counted as ``"zero"``.
    include_crowd
        Crowd annotations count as image labels.
    include_empty
        Images without annotations are all-negative rows (else dropped).
    federated
        LVIS's federated evaluation: for each class only the images where it
        is annotated (positives) or verified absent (the image's
        ``neg_category_ids``) count; its predictions on other images, including
        those that list it in ``not_exhaustive_category_ids`` without an
        annotation of it, are neither right nor wrong. ``"auto"`` (default): on
        when the annotation file's images carry those fields; ``"on"``: required
        (an error without them); ``"off"``: every image counts for every class.
    overall
        Which predictions O-P and O-R pool: ``"all-predictions"`` (default, the
        usual pooled definition: every prediction counts, and a prediction of a
        class without positives is a false positive) or
        ``"classes-with-positives"`` (only the classes averaged by mAP and the
        C- metrics). mAP and the C- metrics follow ``empty_classes`` either way.
    image_ids
        Analyse only these images (as COCOeval's ``params.imgIds``; None: every
        annotated image): a model evaluated on part of a dataset is analysed on
        exactly that part. Every id must be in the annotations.
    category_ids
        Analyse only these categories (as COCOeval's ``params.catIds``; None: all).
    category_names
        The same by name (as in the annotation file; resolved when the annotations are
        read, an unknown name is an error). With both, the categories in both count.
    """

    threshold: float = 0.5
    cf1: CF1Rule = "harmonic"
    top_k: int | None = None
    top_k_threshold: bool = False
    empty_classes: EmptyRule = "exclude"
    include_crowd: bool = True
    include_empty: bool = True
    federated: FederatedRule = "auto"
    overall: OverallRule = "all-predictions"
    image_ids: tuple[int, ...] | None = None
    category_ids: tuple[int, ...] | None = None
    category_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = self.category_names
        if names is not None:
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",")]
            names = tuple(dict.fromkeys(str(n) for n in names))
            if not names or not all(names):
                raise InputError(f"category_names must be one or more non-empty names, got {self.category_names!r}")
            object.__setattr__(self, "category_names", names)
        for name in ("image_ids", "category_ids"):
            object.__setattr__(self, name, _id_tuple(getattr(self, name), name))
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 1:
            raise InputError(f"threshold must be a number in [0, 1], got {t!r}")
        object.__setattr__(self, "threshold", float(t))
        k = self.top_k
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InputError(f"top_k must be a whole number >= 1 (or None), got {k!r}")

    @property
    def prediction(self) -> str:
        """The prediction rule in words: ``score>=0.5``, ``top-3`` or ``top-3 & score>=0.5``."""
        if self.top_k is None:
            return f"score>={self.threshold:g}"
        return f"top-{int(self.top_k)}" + (f" & score>={self.threshold:g}" if self.top_k_threshold else "")

    @property
    def ground_truth(self) -> str:
        """The ground-truth rules in words: ``crowd+empty``, ``no-crowd``, ..."""
        return ("crowd" if self.include_crowd else "no-crowd") + ("+empty" if self.include_empty else "")

    def replace(self, **changes: Any) -> MetricRules:
        """A copy with some rules changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every rule by name (what outputs record)."""
        return dataclasses.asdict(self)


def _id_tuple(ids: Any, name: str) -> tuple[int, ...] | None:
    """``ids`` (an iterable of whole numbers, or None) as a sorted tuple of distinct ints."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise InputError(f"{name} must be a sequence of ids (or None), got {ids!r}")
    out = set()
    for v in ids:
        try:
            ok = not isinstance(v, bool) and float(v) == int(v)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(f"{name}: {v!r} is not a whole number")
        out.add(int(v))
    if not out:
        raise InputError(f"{name} is empty: give at least one id (or None for all)")
    return tuple(sorted(out))


#: The default rules (Eq. 6 and 7 of the paper with the choices documented above).
DEFAULT_RULES = MetricRules()
