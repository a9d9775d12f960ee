"""Regenerate the SALICON-format test fixtures in this folder.

Run from the repository root: ``.venv/bin/python tests/data/salicon_fixtures/make_fixtures.py``.
Every point below was made up for the tests (no SALICON data is copied); the
files only follow the layout of the two SALICON releases:

* ``fixations_val2014_tiny.json``: 2015 release, ``[row, col]`` 1-based.
* ``COCO_val2014_*.mat``: 2017 (LSUN'17) release, one file per image, struct
  array ``gaze`` (``location``, ``timestamp``, ``fixations`` as ``[x, y]``
  1-based), ``image`` and ``resolution`` (``[height width]``).

Both formats hold the same fixations, so the two readers must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.io import savemat

HERE = Path(__file__).resolve().parent

# image id -> (width, height, {worker_id: [(x, y), ...] zero-based})
IMAGES = {
    192: (640, 480, {
        11: [(320, 240), (321, 240), (100, 50), (600, 400)],
        12: [(330, 250), (0, 0), (639, 479)],
        13: [(200, 300), (320, 240)],
    }),
    208: (640, 480, {
        11: [(50, 60), (500, 120), (510, 125)],
        14: [],  # a worker with an empty fixation list
    }),
    7: (16, 12, {  # a small made-up image for hand-checked maps
        21: [(3, 2), (3, 2), (10, 8)],  # a repeated point
        22: [(15, 11)],
    }),
}


def name(iid: int) -> str:
    return f"COCO_val2014_{iid:012d}"


def write_json() -> None:
    images, anns = [], []
    ann_id = 1
    for iid, (w, h, workers) in IMAGES.items():
        images.append({"id": iid, "file_name": name(iid) + ".jpg", "width": w, "height": h})
        for worker, pts in workers.items():
            # [row, col], 1-based
            anns.append({"id": ann_id, "image_id": iid, "worker_id": worker,
                         "fixations": [[y + 1, x + 1] for x, y in pts]})
            ann_id += 1
    data = {"info": {"description": "made-up SALICON-2015-format fixtures for tests"},
            "type": "fixations", "images": images, "annotations": anns}
    (HERE / "fixations_val2014_tiny.json").write_text(json.dumps(data, indent=1) + "\n")


def write_mat() -> None:
    for iid, (w, h, workers) in IMAGES.items():
        if iid == 7:
            continue
        gaze = np.zeros((len(workers), 1), dtype=[("location", "O"), ("timestamp", "O"), ("fixations", "O")])
        for s, pts in enumerate(workers.values()):
            fix = np.array([[x + 1, y + 1] for x, y in pts], dtype=np.float64).reshape(-1, 2)  # [x, y], 1-based
            # raw samples: the fixations plus one point off-screen (x = width + 5)
            loc = np.vstack([fix, [[w + 5, 1]]]) if len(fix) else np.zeros((0, 2))
            gaze[s, 0]["fixations"] = fix
            gaze[s, 0]["location"] = loc
            gaze[s, 0]["timestamp"] = np.arange(len(loc), dtype=np.float64).reshape(-1, 1) * 10.0
        savemat(HERE / f"{name(iid)}.mat",
                {"gaze": gaze, "image": name(iid), "resolution": np.array([[h, w]], dtype=np.float64)})


if __name__ == "__main__":
    write_json()
    write_mat()
