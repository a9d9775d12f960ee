"""Fig. 5: class activation maps over their images."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salanalysis.errors import InputError
from salanalysis.plotting.style import COLUMN_WIDTH, PAGE_WIDTH, new_figure, plain_text


def _read_cam(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A CAM (``.npy`` array or grayscale image) resized to ``shape`` and min-max normalised."""
    from salanalysis.errors import InputError
    from salanalysis.maps import load_map

    try:
        return load_map(path, shape[0], shape[1])
    except InputError as exc:  # the map reader's words, for a CAM
        raise InputError(str(exc).replace("saliency map", "CAM")) from exc


def plot_cam_example(
    example: Mapping[str, Any],
    *,
    axes: Sequence | None = None,
    root: str | os.PathLike | None = None,
    labels: Mapping[str, str] | None = None,
    alpha: float = 0.5,
):
    """Fig. 5, one example: the image, then each model's CAM over it with its confidence.

    Parameters
    ----------
    example
        One record of the CAM manifest: ``image`` (image file), ``category``
        (the class), and ``models``: a list of ``{"model", "cam", "confidence"}``
        (``cam`` a ``.npy`` array or a grayscale image, any size; it is resized to
        the image and min-max normalised for display).
    axes
        ``1 + len(models)`` axes (default: a new row of axes in the current figure).
    root
        Folder that the record's paths are relative to (default: the working
        folder); a path that is absolute or resolves outside it is refused
        (:class:`~salanalysis.errors.InputError`).
    labels
        Display names of models.

    Returns
    -------
    list of Axes
    """
    import matplotlib.pyplot as plt

    models = list(example["models"])
    if axes is None:
        fig = plt.gcf()
        axes = fig.subplots(1, 1 + len(models))
    axes = list(np.ravel(axes))
    if len(axes) != 1 + len(models):
        raise ValueError(f"need {1 + len(models)} axes, got {len(axes)}")
    labels = dict(labels or {})
    base = Path(root) if root is not None else Path(".")

    def resolve(p):  # manifest paths are relative and stay inside ``root``
        text = str(p)
        rel = Path(text)
        if "\x00" in text or rel.is_absolute() or rel.drive:
            raise InputError(f"CAM manifest path {text!r} is not relative to the CAM folder", base)
        try:
            (base / rel).resolve().relative_to(base.resolve())
        except ValueError:
            raise InputError(f"CAM manifest path {text!r} leaves the CAM folder", base) from None
        return base / rel

    from salanalysis.images import read_image

    img = read_image(resolve(example["image"]), order="rgb")
    cat = str(example.get("category", ""))
    axes[0].imshow(img)
    axes[0].set_title(plain_text(cat))
    for ax, m in zip(axes[1:], models):
        cam = _read_cam(resolve(m["cam"]), img.shape[:2])
        ax.imshow(img)
        ax.imshow(cam, cmap="viridis", alpha=alpha, vmin=0.0, vmax=1.0)
        name = labels.get(str(m["model"]), str(m["model"]))
        ax.set_title(plain_text(f"{name}: {float(m['confidence']):.4f}"))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return axes


def cam_figure(manifest: Sequence[Mapping[str, Any]], *, root: str | os.PathLike | None = None,
               labels: Mapping[str, str] | None = None, max_examples: int = 4, width: str = "page"):
    """Fig. 5 layout: one row per example (image, CAM of each model with confidence).

    Parameters
    ----------
    manifest
        CAM manifest records (see :func:`plot_cam_example`), in display order.
    max_examples
        At most this many rows.
    width
        ``"page"`` or ``"column"``: the printed width.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(manifest)[:max_examples]
    if not rows:
        raise ValueError("the CAM manifest holds no examples")
    ncols = 1 + max(len(r["models"]) for r in rows)
    w = PAGE_WIDTH if width == "page" else COLUMN_WIDTH
    fig, axes = new_figure(width, height=0.3 + w / ncols * 0.85 * len(rows), nrows=len(rows),
                           ncols=ncols, squeeze=False)
    for r, row_axes in zip(rows, axes):
        k = 1 + len(r["models"])
        plot_cam_example(r, axes=row_axes[:k], root=root, labels=labels)
        for ax in row_axes[k:]:
            ax.set_axis_off()
    return fig
