"""Saliency map sources: matching rules, formats, resize, normalisation, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from salanalysis.errors import InputError
from salanalysis.maps import MapSource, load_map, normalize_map


def _images(*rows):
    return pd.DataFrame(rows, columns=["image_id", "file_name"])


def test_real_salicon_maps(demo, demo_ann):
    src = MapSource(demo.saliency, name="salicon")
    matched = src.match(demo_ann.images)
    assert matched.notna().sum() == 2
    assert sorted(matched.dropna().index) == [192, 208]
    row = demo_ann.images.set_index("image_id").loc[192]
    m = src.load(192, int(row.height), int(row.width), row.file_name)
    assert m.dtype == np.float32 and m.shape == (row.height, row.width)
    raw = cv2.imread(str(demo.saliency / "COCO_val2014_000000000192.png"), cv2.IMREAD_GRAYSCALE)
    # min-max normalisation of the 8-bit values, computed independently
    expected = (raw.astype(np.float64) - raw.min()) / (raw.max() - raw.min())
    assert raw.shape == m.shape == (480, 640)
    np.testing.assert_allclose(m, expected, atol=1e-6)
    assert m.min() == 0.0 and m.max() == 1.0


def test_matching_rules(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    cv2.imwrite(str(tmp_path / "COCO_val2014_000000000192.png"), arr)
    cv2.imwrite(str(tmp_path / "000000000208.png"), arr)
    np.save(tmp_path / "7.npy", arr.astype(np.float64))
    (tmp_path / "notes.txt").write_text("ignored")
    src = MapSource(tmp_path, name="s")
    imgs = _images(
        (192, "COCO_val2014_000000000192.jpg"),  # by stem
        (208, "COCO_val2014_000000000208.jpg"),  # by zero-padded id
        (7, "000000000007.jpg"),  # by plain id
        (192000, "COCO_val2014_000000192000.jpg"),  # no map: never guessed
    )
    matched = src.match(imgs)
    assert matched[192].name == "COCO_val2014_000000000192.png"
    assert matched[208].name == "000000000208.png"
    assert matched[7].name == "7.npy"
    assert matched[192000] is None
    # 2017-style file names find SALICON-named maps through the id
    assert src.find(192, "000000000192.jpg").name == "COCO_val2014_000000000192.png"


def test_ambiguous_match_is_an_error(tmp_path):
    cv2.imwrite(str(tmp_path / "5.png"), np.zeros((2, 2), np.uint8))
    np.save(tmp_path / "5.npy", np.zeros((2, 2)))
    src = MapSource(tmp_path)
    with pytest.raises(InputError, match="several maps match image 5"):
        src.find(5, "x.jpg")


def test_resize_is_bilinear_and_normalised(tmp_path, rng):
    arr = rng.uniform(0, 3, size=(5, 7)).astype(np.float32)
    np.save(tmp_path / "1.npy", arr)
    m = load_map(tmp_path / "1.npy", 10, 14)
    ref = cv2.resize(arr, (14, 10), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(m, (ref - ref.min()) / (ref.max() - ref.min()), rtol=1e-6, atol=1e-7)
    raw = load_map(tmp_path / "1.npy", normalize=False)
    np.testing.assert_array_equal(raw, arr)


def test_constant_map_normalises_to_zero():
    assert not normalize_map(np.full((3, 3), 7.0)).any()


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        MapSource(tmp_path / "missing", name="gt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no saliency maps"):
        MapSource(tmp_path / "empty", name="gt")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    np.save(bad / "4.npy", np.array([[np.nan, 1.0]]))
    np.save(bad / "6.npy", np.zeros((2, 2, 3)))
    src = MapSource(bad)
    with pytest.raises(InputError, match="cannot decode") as exc:
        src.load(3, 2, 2)
    assert "3.png" in str(exc.value)
    with pytest.raises(InputError, match="NaN"):
        src.load(4, 1, 2)
    with pytest.raises(InputError, match="must be 2-D"):
        src.load(6, 2, 2)
    with pytest.raises(InputError, match="no saliency map for image 9"):
        src.load(9, 2, 2)
