"""Built-in size-only saliency sources (the center bias) computed in the objects stage.

The reference is the folder of maps that ``salanalysis saliency baseline`` writes
(:func:`salanalysis.baselines.write_center_bias_maps`), read as any map folder: the
object table must be the same, bit for bit, and the reproduce cache must hold no map.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from salanalysis.baselines import center_bias_map, write_center_bias_maps
from salanalysis.coco import Annotations
from salanalysis.config import demo_config
from salanalysis.demo import demo_paths
from salanalysis.errors import InputError
from salanalysis.maps import MapSource, SizeMap, SizeMapSource
from salanalysis.objects import compute_objects, object_table_reference
from salanalysis.reproduce import reproduce


@pytest.fixture(scope="module")
def demo_ann():
    return Annotations.load(demo_paths().annotations)


@pytest.mark.parametrize("jobs", [1, 2])
def test_object_table_equals_written_maps(tmp_path, demo_ann, jobs):
    write_center_bias_maps(demo_ann, tmp_path / "center")
    folder = compute_objects(demo_ann, {"center": MapSource(tmp_path / "center", name="center")}, jobs=jobs)
    built = compute_objects(demo_ann, {"center": SizeMapSource("center")}, jobs=jobs)
    pd.testing.assert_frame_equal(built.objects, folder.objects, check_exact=True)
    pd.testing.assert_frame_equal(built.images, folder.images, check_exact=True)
    assert built.missing_maps == {"center": 0} and built.map_notes == folder.map_notes


def test_reference_path_and_stored_values(tmp_path, demo_ann):
    src = SizeMapSource("center")
    written = write_center_bias_maps(demo_ann, tmp_path / "c")
    row = written.iloc[0]
    h, w = int(row["height"]), int(row["width"])
    ref = MapSource(tmp_path / "c", name="c")
    np.testing.assert_array_equal(src.load(int(row["image_id"]), h, w), ref.load(int(row["image_id"]), h, w))
    # the stored values: round(255 * map) of the float map (independent formula here)
    np.testing.assert_array_equal(SizeMap().stored(h, w), np.round(center_bias_map(h, w) * 255).astype(np.uint8))
    assert pickle.loads(pickle.dumps(src.ref)) == src.ref  # shipped to workers as a small reference
    sub = Annotations({**demo_ann.coco.dataset, "images": demo_ann.coco.dataset["images"][:3],
                       "annotations": [a for a in demo_ann.coco.dataset["annotations"]
                                       if a["image_id"] in {im["id"] for im in demo_ann.coco.dataset["images"][:3]}]})
    fast = compute_objects(sub, {"center": src}, jobs=1).objects
    slow = object_table_reference(sub, {"center": src})
    for col in ("sal_max_center", "sal_mean_center"):
        np.testing.assert_allclose(fast[col].to_numpy(), slow[col].to_numpy(), rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="unknown built-in"):
        SizeMapSource("x", "spectral")


def test_reproduce_writes_no_builtin_maps(tmp_path):
    out = tmp_path / "out"
    res = reproduce(demo_config(), out)
    stages = {r.stage: r for r in res.stages}
    assert stages["maps"].status == "computed" and "objects stage" in stages["maps"].note
    assert stages["objects"].cpu_seconds > 0 and all(r.cpu_seconds >= 0 for r in res.stages)  # beside wall time
    maps = [p for p in (out / ".cache" / "maps").rglob("*") if p.is_file()]
    assert [p.name for p in maps] == ["manifest.json"]  # no map per image in the cache
    images = [p for p in (out / ".cache").rglob("*.png") if "figures" not in p.parts]
    assert images == []
    objects = pd.read_parquet(next((out / ".cache" / "objects").rglob("objects.parquet")))
    assert objects["sal_max_center"].notna().all() and objects["sal_mean_center"].between(0, 1).all()
