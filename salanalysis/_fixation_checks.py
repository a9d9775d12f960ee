"""Fixations outside their image: counted per image, warned about, or refused when the size is wrong.

Used by :mod:`salanalysis.salicon` once the points of a file are collected.
A fixation outside its image (after rounding to the nearest pixel) is dropped
and counted; the counts are kept per image (:func:`outside_counts`). Dropping
is the rule for the stray points of real mouse data, not for a wrong image size
(one given with ``sizes=``, ``--size``, ``--images`` or ``--annotations``, or
the file's own):

- an image of at least :data:`MIN_READ` fixations losing more than
  :data:`REFUSE_SHARE` of them is an :class:`~salanalysis.errors.InputError`
  naming the size and how far the points reach (``--size 320x240``
  on 640x480 fixations kept 2,330 of 7,189 points and gave NSS 0.03 instead of
  1.08);
- otherwise, more than :data:`WARN_SHARE` of all fixations dropped is an
  :class:`~salanalysis.errors.InputWarning` with the total and the worst image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from salanalysis.errors import InputError, warn_input

__all__ = ["MIN_READ", "REFUSE_SHARE", "WARN_SHARE", "check_outside", "outside_counts"]

#: Share of one image's fixations outside it above which the image size is taken to be wrong.
REFUSE_SHARE = 0.5
#: Fixations an image needs for its share outside to refuse its size (fewer: dropped and counted).
MIN_READ = 20
#: Share of all fixations outside their image above which a warning is issued.
WARN_SHARE = 0.01


def outside_counts(table: pd.DataFrame, inside: np.ndarray) -> pd.DataFrame:
    """image_id, image, n_read, n_outside: per image, the fixations read and those outside it."""
    g = pd.DataFrame({"image_id": table["image_id"].to_numpy(), "image": table["image"].astype(str).to_numpy(),
                      "n_read": 1, "n_outside": (~inside).astype(np.int64)})
    out = g.groupby(["image_id", "image"], sort=True, as_index=False)[["n_read", "n_outside"]].sum()
    return out.astype({"image_id": np.int64, "n_read": np.int64, "n_outside": np.int64})


def check_outside(table: pd.DataFrame, inside: np.ndarray, source: Path) -> pd.DataFrame:
    """The per-image counts (:func:`outside_counts`); refuses a wrong size, warns on a large share."""
    counts = outside_counts(table, inside)
    share = counts["n_outside"] / counts["n_read"]
    bad = counts[(share > REFUSE_SHARE) & (counts["n_read"] >= MIN_READ)]
    if len(bad):
        r = bad.iloc[int(np.argmax((bad["n_outside"] / bad["n_read"]).to_numpy()))]
        pts = table[table["image_id"].to_numpy() == r["image_id"]]
        w, h = int(pts["width"].iloc[0]), int(pts["height"].iloc[0])
        more = f" (and {len(bad) - 1} more image(s))" if len(bad) > 1 else ""
        raise InputError(
            f"image {int(r['image_id'])}: {int(r['n_outside'])} of {int(r['n_read'])} fixations lie outside "
            f"its stated size {w}x{h} (they reach x={np.nanmax(pts['x']):.0f}, y={np.nanmax(pts['y']):.0f}){more}: "
            "the image size does not match the fixations (check --size/--images/--annotations)", source)
    total, n_out = int(counts["n_read"].sum()), int(counts["n_outside"].sum())
    if total and n_out > WARN_SHARE * total:
        r = counts.iloc[int(np.argmax(share.to_numpy()))]
        warn_input(f"{n_out} of {total} fixations ({100 * n_out / total:.1f}%) lie outside their image and were "
                   f"dropped; most on image {int(r['image_id'])} ({int(r['n_outside'])} of {int(r['n_read'])})",
                   source, stacklevel=4)
    return counts
