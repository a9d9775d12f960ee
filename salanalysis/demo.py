"""Paths of the bundled real demo data (see ``data/demo/ATTRIBUTION.txt``).

The demo is small but real: COCO val2014 ground truth for 100 images, the
cocoapi *sample detections* (perturbed ground truth, not a model), two SALICON
ground-truth maps and 27 of the images. ``make demo``, the docs and the tests
all use these same files through :func:`demo_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["DemoPaths", "demo_paths"]


@dataclass(frozen=True)
class DemoPaths:
    """Where each bundled demo file lies.

    Attributes
    ----------
    annotations
        COCO val2014 instances for 100 images (839 annotations, 9 crowd).
    detections
        cocoapi's sample detection results (COCO results JSON, 734 detections).
    images
        Folder with 27 of the 100 JPEGs.
    saliency
        Folder with the two SALICON ground-truth maps (images 192 and 208).
    attribution
        The provenance and licence of every file.
    """

    root: Path
    annotations: Path
    detections: Path
    images: Path
    saliency: Path
    attribution: Path


def demo_paths() -> DemoPaths:
    """Return the paths of the bundled demo data."""
    root = Path(str(resources.files("salanalysis") / "data" / "demo"))
    return DemoPaths(
        root=root,
        annotations=root / "annotations" / "instances_val2014_100.json",
        detections=root / "results" / "instances_val2014_fakebbox100_results.json",
        images=root / "images",
        saliency=root / "saliency" / "salicon",
        attribution=root / "ATTRIBUTION.txt",
    )
