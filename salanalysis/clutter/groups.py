"""Clutter groups: images by number of objects, the cut-off ``K`` and its rules, the paper's smoothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salanalysis.coco import Annotations

__all__ = ["DEFAULT_MIN_IMAGES", "K_RULES", "smooth_paper", "default_k", "choose_k", "clutter_groups",
           "objects_histogram"]

#: Default least number of images per group when ``K`` is chosen automatically.
DEFAULT_MIN_IMAGES = 100

#: How ``K`` is chosen when it is not given (see :func:`choose_k`).
K_RULES = ("min-images", "three-groups")

_SMOOTH_KERNEL = np.full(3, 1.0 / 3.0)


def smooth_paper(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The paper's smoothing of Fig. 3a.

    Convolution with the moving average ``[1/3, 1/3, 1/3]``; the start and the
    end of the vector are padded with their boundary values, so the output has
    the input's length: ``y[0] = (2 x[0] + x[1]) / 3``,
    ``y[i] = (x[i-1] + x[i] + x[i+1]) / 3``, ``y[-1] = (x[-2] + 2 x[-1]) / 3``.

    Parameters
    ----------
    values
        A 1-D vector, or a 2-D array smoothed along its last axis (one row per
        bootstrap replicate). NaN propagates to the neighbours.

    Returns
    -------
    numpy.ndarray
        The smoothed values, same shape as ``values`` (float64).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError("smooth_paper expects a 1-D or 2-D array")
    if x.shape[-1] == 0:
        return x.copy()
    if x.ndim == 1:
        return np.convolve(np.pad(x, 1, mode="edge"), _SMOOTH_KERNEL, mode="valid")
    return np.stack([smooth_paper(row) for row in x]) if len(x) else x.copy()


def default_k(n_objects: Sequence[int] | np.ndarray | pd.Series, min_images: int = DEFAULT_MIN_IMAGES) -> int:
    """The largest ``K`` whose groups (``1..K-1`` and ``>=K``) all hold ``min_images`` images.

    Parameters
    ----------
    n_objects
        Number of objects of each image; images with 0 objects are ignored.
    min_images
        Least number of images every group must hold.

    Returns
    -------
    int
        ``K >= 1``; 1 when no ``K`` qualifies (see the module notes).
    """
    if int(min_images) < 1:
        raise ValueError("min_images must be at least 1")
    n = np.asarray(n_objects, dtype=np.int64)
    n = n[n > 0]
    if n.size == 0:
        return 1
    counts = np.bincount(n)  # counts[j] = images with exactly j objects
    tail = np.cumsum(counts[::-1])[::-1]  # tail[j] = images with >= j objects
    best = 1
    for k in range(2, len(counts)):
        # groups 1..k-1 must each hold min_images, and so must the tail >= k
        if counts[k - 1] < min_images or tail[k] < min_images:
            break
        best = k
    return best


def choose_k(n_objects: Sequence[int] | np.ndarray | pd.Series, min_images: int = DEFAULT_MIN_IMAGES,
             rule: str = "min-images") -> tuple[int, str, str]:
    """The cut-off ``K`` by a rule, what the rule did in words, and a warning ('' if none).

    ``"min-images"`` (default): the largest ``K`` whose groups all hold ``min_images``
    images (:func:`default_k`). ``"three-groups"``: that ``K``, but at least 3 (groups
    ``1``, ``2`` and ``>=3``) when the data have images with 1, with 2 and with 3 or more
    objects, so that Fig. 3 shows a trend; its smallest group may then hold fewer than
    ``min_images`` images, which the description says. A cut-off leaving fewer than
    three groups is warned about, with the reason.
    """
    if rule not in K_RULES:
        raise ValueError(f"k_rule must be one of {', '.join(K_RULES)}, got {rule!r}")
    n = np.asarray(n_objects, dtype=np.int64)
    n = n[n > 0]
    counts = np.bincount(n, minlength=4) if n.size else np.zeros(4, dtype=np.int64)
    k = default_k(n, min_images)

    def sizes(kk: int) -> list[int]:
        return [int(counts[j]) for j in range(1, kk)] + [int(counts[kk:].sum())]

    if k > 1 or (n.size and sizes(1)[0] >= min_images):
        text = f"largest K with all groups >= {min_images} images"
    else:
        text = (f"no K has all groups >= {min_images} images ({int(n.size)} images with objects): "
                "K=1, one group")
    if rule == "three-groups" and k < 3:
        if counts[1] > 0 and counts[2] > 0 and counts[3:].sum() > 0:
            k = 3
            text = (f"at least three groups (K=3; the largest K with all groups >= {min_images} images "
                    f"gives fewer): the smallest holds {min(sizes(3))} images")
        else:
            text += "; three non-empty groups are impossible here"
    warning = ""
    if k < 3:
        warning = (f"Fig. 3 has only {k} group{'s' if k > 1 else ''} (group sizes {sizes(k)}), so it shows no "
                   "trend with the number of objects" + (": try k_rule 'three-groups' or a smaller min_images"
                                                          if rule == "min-images" else ""))
    return k, text, warning


def _group_label(lower: int, is_tail: bool) -> str:
    return f">={lower}" if is_tail else str(lower)


def clutter_groups(
    annotations: Annotations, *, k: int | None = None, min_images: int = DEFAULT_MIN_IMAGES,
    k_rule: str = "min-images",
) -> pd.DataFrame:
    """Assign every image with at least one non-crowd instance to its clutter group.

    Parameters
    ----------
    annotations
        The ground truth.
    k
        The tail's lower bound ``K`` (groups ``"1"`` .. ``"K-1"`` and ``">=K"``);
        default: :func:`choose_k` with ``min_images`` and ``k_rule``.
    min_images, k_rule
        Used only when ``k`` is None.

    Returns
    -------
    pandas.DataFrame
        One row per image with objects, in ``annotations.images`` order:

        - ``image_id``
        - ``row``: the image's row in ``annotations.images`` (and in every score array)
        - ``n_objects``: its number of non-crowd instances
        - ``group``: the group label, e.g. ``"3"`` or ``">=12"``
        - ``group_n_objects``: the group's lower bound
        - ``is_tail``: whether the image is in the tail group

        ``attrs`` holds ``k``, ``k_chosen`` (the rule's outcome in words), ``warning``
        ('' or why Fig. 3 shows no trend) and ``n_images_no_objects``.
    """
    counts = annotations.n_objects().to_numpy().astype(np.int64)
    warning = ""
    if k is None:
        k, chosen, warning = choose_k(counts, min_images, k_rule)
    elif isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    else:
        chosen = "given"
        if int(k) < 3:
            warning = f"Fig. 3 has only {int(k)} group{'s' if int(k) > 1 else ''} (K given), so it shows no trend"
    k = int(k)
    keep = counts > 0
    n = counts[keep]
    lower = np.minimum(n, k)
    is_tail = n >= k
    out = pd.DataFrame(
        {
            "image_id": annotations.image_ids[keep],
            "row": np.flatnonzero(keep).astype(np.int64),
            "n_objects": n,
            "group": [_group_label(int(lo), bool(t)) for lo, t in zip(lower, is_tail)],
            "group_n_objects": lower.astype(np.int64),
            "is_tail": is_tail,
        }
    )
    out.attrs["k"] = k
    out.attrs["k_chosen"] = chosen
    out.attrs["warning"] = warning
    out.attrs["n_images_no_objects"] = int((~keep).sum())
    return out


def objects_histogram(annotations: Annotations) -> pd.DataFrame:
    """Number of images per number of non-crowd instances (Fig. 3b).

    Returns
    -------
    pandas.DataFrame
        One row for every count from 0 to the largest, zeros included:

        - ``n_objects``: non-crowd instances in an image
        - ``n_images``: images with exactly that many
    """
    counts = annotations.n_objects().to_numpy().astype(np.int64)
    hist = np.bincount(counts, minlength=1) if counts.size else np.zeros(1, dtype=np.int64)
    return pd.DataFrame({"n_objects": np.arange(len(hist), dtype=np.int64), "n_images": hist.astype(np.int64)})


