"""Regenerate the LVIS-format test fixture in this folder.

Run from the repository root: ``.venv/bin/python tests/data/lvis_fixtures/make_fixtures.py``.
Everything in ``lvis_v1_val_tiny.json`` is made up for the tests (no LVIS data is
copied); the file follows the layout of LVIS v1 (``lvis_v1_val.json``):

* ``images``: ``id``, ``width``, ``height``, ``coco_url``, ``neg_category_ids``
  (classes verified absent), ``not_exhaustive_category_ids`` (classes present
  but not every instance annotated); LVIS images have no ``file_name``;
* ``categories``: ``id``, ``name``, ``synset``, ``synonyms``, ``def``,
  ``frequency`` (``r``/``c``/``f``), ``image_count``, ``instance_count``;
* ``annotations``: ``id``, ``image_id``, ``category_id``, ``bbox``, ``area``,
  ``segmentation`` (polygons); no ``iscrowd``.

Per class, a few images are positives, a few are verified negatives, one
positive image lists it as not exhaustive, one image lists it as not
exhaustive without an annotation of it, and the rest are unverified: the
federated rule and the plain rule give different numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_IMAGES, N_CATS = 40, 12
NAMES = ["aerosol_can", "alarm_clock", "antelope", "apron", "armchair", "avocado", "awning", "bagel",
         "ballet_skirt", "banjo", "barbell", "bathrobe"]


def build() -> dict:
    rng = np.random.default_rng(7)
    images = [{"id": 1000 + i, "width": 640, "height": 480,
               "coco_url": f"http://images.cocodataset.org/val2017/{1000 + i:012d}.jpg",
               "neg_category_ids": [], "not_exhaustive_category_ids": []} for i in range(N_IMAGES)]
    categories, annotations = [], []
    aid = 1
    for c in range(N_CATS):
        cid = 3 * c + 1  # ids with gaps, as LVIS
        order = rng.permutation(N_IMAGES)
        n_pos = 0 if c == N_CATS - 1 else int(rng.integers(2, 7))  # the last class: no positive
        pos, neg = order[:n_pos], order[n_pos:n_pos + int(rng.integers(4, 10))]
        not_exh_unannotated = order[-1]
        n_inst = 0
        for i in pos:
            for _ in range(int(rng.integers(1, 3))):
                x, y = float(rng.integers(0, 500)), float(rng.integers(0, 350))
                w, h = float(rng.integers(10, 120)), float(rng.integers(10, 120))
                annotations.append({"id": aid, "image_id": images[i]["id"], "category_id": cid,
                                    "bbox": [x, y, w, h], "area": w * h,
                                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
                aid += 1
                n_inst += 1
        for i in neg:
            images[i]["neg_category_ids"].append(cid)
        if n_pos:
            images[pos[0]]["not_exhaustive_category_ids"].append(cid)
        images[not_exh_unannotated]["not_exhaustive_category_ids"].append(cid)
        categories.append({"id": cid, "name": NAMES[c], "synset": f"{NAMES[c]}.n.01", "synonyms": [NAMES[c]],
                           "def": f"a made-up definition of {NAMES[c]}", "frequency": "rcf"[c % 3],
                           "image_count": n_pos, "instance_count": n_inst})
    for im in images:
        im["neg_category_ids"].sort()
        im["not_exhaustive_category_ids"].sort()
    return {"info": {"description": "LVIS-format fixture for salanalysis tests (made up)", "version": "1.0"},
            "licenses": [], "images": images, "categories": categories, "annotations": annotations}


if __name__ == "__main__":
    (HERE / "lvis_v1_val_tiny.json").write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
