"""Baseline map sources (center bias, spectral residual), image folders and the map-directory writer."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from salanalysis.baselines import (
    SPECTRAL_RESIDUAL_ATOL,
    center_bias_map,
    spectral_residual_map,
    write_center_bias_maps,
    write_spectral_residual_maps,
)
from salanalysis.cli import main
from salanalysis.errors import InputError
from salanalysis.images import images_table, read_image
from salanalysis.maps import MapSource, write_map_directory


# ------------------------------------------------------------------ center bias
def test_center_bias_by_hand():
    # 3 x 5, sigma_frac 0.5: cx = 2, cy = 1, sx = 2.5, sy = 1.5.
    # g(x=0, y=1) = exp(-0.5 * (2 / 2.5)^2) = exp(-0.32)
    # g(x=0, y=0) = exp(-0.5 * ((2 / 2.5)^2 + (1 / 1.5)^2)) = exp(-0.5 * (0.64 + 0.4444...)) (the minimum)
    # normalised: (exp(-0.32) - exp(-0.54222)) / (1 - exp(-0.54222)) = 0.144706 / 0.418557 = 0.345708
    m = center_bias_map(3, 5, sigma_frac=0.5)
    assert m.shape == (3, 5)
    lo = math.exp(-0.5 * (0.64 + 4 / 9))
    assert m[1, 0] == pytest.approx((math.exp(-0.32) - lo) / (1 - lo), abs=1e-12)
    assert m[1, 0] == pytest.approx(0.345708, abs=1e-6)
    assert m[1, 2] == 1.0 and m[0, 0] == 0.0 and m[2, 4] == 0.0
    np.testing.assert_allclose(m, m[::-1, ::-1])  # symmetric about the center


def test_center_bias_spread_follows_the_image_size():
    # the column profile through the center is a Gaussian with sd = sigma_frac * width:
    # at one sd from the center it is exp(-1/2) of the peak (before min-max normalisation)
    w, h, f = 101, 51, 0.2
    m = center_bias_map(h, w, sigma_frac=f)
    lo = math.exp(-0.5 * ((50 / (f * w)) ** 2 + (25 / (f * h)) ** 2))  # the corner value
    raw = m * (1 - lo) + lo
    sd_px = f * w  # 20.2 px; sample at 20 px from the center column 50
    assert raw[25, 70] == pytest.approx(math.exp(-0.5 * (20 / sd_px) ** 2), rel=1e-12)
    with pytest.raises(InputError):
        center_bias_map(0, 5)


# ------------------------------------------------------------ spectral residual
def _opencv_spectral_residual(img):
    ok, ref = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(img)
    assert ok
    ref = ref.astype(np.float64)
    return (ref - ref.min()) / (ref.max() - ref.min())


@pytest.mark.skipif(not hasattr(cv2, "saliency"), reason="compared with opencv-contrib's cv2.saliency")
def test_spectral_residual_equals_opencv_contrib(demo):
    # the reference: cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(img),
    # min-max normalised; ours is numpy's FFT + plain OpenCV, equal within SPECTRAL_RESIDUAL_ATOL
    # on every demo photograph (000000000415's 64 x 64 spectrum has an exactly-zero coefficient)
    # and a flat image with a bright square (most of its spectrum is zero)
    imgs = [read_image(p) for p in sorted(demo.images.glob("*.jpg"))]
    assert len(imgs) >= 20
    square = np.full((128, 128, 3), 90, np.uint8)
    square[80:96, 24:40] = 250
    for img in [*imgs, square]:
        ours = spectral_residual_map(img)
        assert ours.shape == img.shape[:2]
        np.testing.assert_allclose(ours, _opencv_spectral_residual(img), rtol=0, atol=SPECTRAL_RESIDUAL_ATOL)
        # 8-bit maps as written to disk differ by at most one grey level
        a = np.round(ours * 255).astype(int)
        b = np.round(_opencv_spectral_residual(img) * 255).astype(int)
        assert np.abs(a - b).max() <= 1
    # noise (a flat spectrum, sensitive to rounding): looser, as the module docstring states
    rng = np.random.default_rng(3)
    for shape in [(64, 64, 3), (37, 91), (201, 150, 3)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_allclose(spectral_residual_map(img), _opencv_spectral_residual(img), rtol=0, atol=0.03)


def test_spectral_residual_equals_stored_opencv_contrib_maps(demo):
    # runs without opencv-contrib (the package depends on plain headless OpenCV): maps that
    # cv2.saliency.StaticSaliencySpectralResidual (opencv-contrib-python-headless 5.1.0) computed,
    # min-max normalised and stored as uint16 (/65535) in tests/data/spectral_residual_contrib.npz
    # for three demo photographs (000000000415's spectrum has an exactly-zero coefficient) and the
    # flat image with a bright square (most of its spectrum is zero)
    stored = np.load(Path(__file__).parent / "data" / "spectral_residual_contrib.npz")
    square = np.full((128, 128, 3), 90, np.uint8)
    square[80:96, 24:40] = 250
    assert len(stored.files) == 4
    for key in stored.files:
        img = square if key == "square" else read_image(demo.images / key.split(":", 1)[1])
        ref = stored[key].astype(np.float64) / 65535
        ours = spectral_residual_map(img)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=SPECTRAL_RESIDUAL_ATOL + 1 / 65535)


def test_spectral_residual_known_properties():
    # properties that hold without opencv-contrib: shape, range, min 0 and max 1, the same map
    # for the BGR image and its grayscale (the algorithm sees only gray), zeros for a constant image
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    m = spectral_residual_map(img)
    assert m.shape == (50, 70) and m.dtype == np.float64
    assert m.min() == 0.0 and m.max() == 1.0
    np.testing.assert_array_equal(m, spectral_residual_map(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)))
    assert not spectral_residual_map(np.full((20, 30, 3), 90, np.uint8)).any()
    with pytest.raises(InputError):
        spectral_residual_map(np.zeros((0, 3), np.uint8))
    # a flat image's spectrum has only the DC term, so a single 64 x 64 impulse leaves a residual
    # peaking at the impulse (the inverse DFT of a flat spectrum is a delta at the origin)
    flat = np.zeros((64, 64), np.uint8)
    flat[32, 32] = 255
    r, c = np.unravel_index(np.argmax(spectral_residual_map(flat)), (64, 64))
    assert abs(r - 32) <= 2 and abs(c - 32) <= 2


def test_spectral_residual_finds_an_odd_patch():
    # a flat grey image with one bright square: the saliency peak lies in or next to the square
    img = np.full((128, 128, 3), 90, np.uint8)
    img[80:96, 24:40] = 250
    m = spectral_residual_map(img)
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert 70 <= r <= 106 and 14 <= c <= 50
    assert m[80:96, 24:40].mean() > 3 * m[:40, 80:].mean()


# ------------------------------------------------------------------ directories
def test_center_maps_from_annotations(tmp_path, demo_ann):
    out = tmp_path / "center"
    table = write_center_bias_maps(demo_ann, out)
    assert len(table) == 100 and len(list(out.iterdir())) == 100
    src = MapSource(out, "center")
    assert src.match(demo_ann.images).notna().all()
    row = demo_ann.images.iloc[0]
    png = cv2.imread(str(out / (row.file_name.rsplit(".", 1)[0] + ".png")), cv2.IMREAD_UNCHANGED)
    expected = np.round(center_bias_map(row.height, row.width) * 255).astype(np.uint8)
    np.testing.assert_array_equal(png, expected)
    assert png.shape == (row.height, row.width)


def test_center_maps_from_image_files(tmp_path, demo):
    table = write_center_bias_maps(demo.images, tmp_path / "c")
    assert len(table) == 27
    for _, r in table.head(3).iterrows():
        h, w = cv2.imread(str(demo.images / r.file_name)).shape[:2]  # independent size
        assert (r.width, r.height) == (w, h)
        assert cv2.imread(r.path, cv2.IMREAD_UNCHANGED).shape == (h, w)


def test_spectral_maps_directory(tmp_path, demo, demo_ann):
    out = tmp_path / "sr"
    table = write_spectral_residual_maps(demo.images, out)
    assert len(table) == 27 and table["image_id"].notna().all()
    src = MapSource(out, "spectral")
    matched = src.match(demo_ann.images)
    assert int(matched.notna().sum()) == 27  # every demo JPEG is one of the 100 annotated images
    img = read_image(demo.images / "COCO_val2014_000000000208.jpg")
    png = cv2.imread(str(out / "COCO_val2014_000000000208.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png, np.round(spectral_residual_map(img) * 255).astype(np.uint8))


def test_spectral_maps_resume_after_an_interrupt(tmp_path, demo, monkeypatch):
    from salanalysis import baselines

    whole = write_spectral_residual_maps(demo.images, tmp_path / "whole")
    real, calls = baselines.spectral_residual_map, []

    def flaky(img):
        calls.append(1)
        if len(calls) == 5 and stop:
            raise KeyboardInterrupt
        return real(img)

    stop = True
    monkeypatch.setattr(baselines, "spectral_residual_map", flaky)
    out = tmp_path / "sr"
    with pytest.raises(KeyboardInterrupt):
        write_spectral_residual_maps(demo.images, out)
    (stage,) = out.iterdir()  # no map in out yet; 4 finished ones kept
    assert stage.name.startswith(".maps.") and len(list(stage.glob("*.png"))) == 4
    stop, calls[:] = False, []
    table = write_spectral_residual_maps(demo.images, out)
    assert len(calls) == 27 - 4  # only the missing maps were computed
    pd.testing.assert_frame_equal(table.drop(columns="path"), whole.drop(columns="path"))
    for name in whole["path"].map(lambda p: Path(p).name):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_spectral_maps_with_one_name_twice_fail_before_any_work(tmp_path, demo, monkeypatch):
    # checked up front: a resumed run that had kept 'a' would otherwise never see the clash
    from salanalysis import baselines

    src = tmp_path / "imgs"
    src.mkdir()
    img = read_image(demo.images / "COCO_val2014_000000000192.jpg")
    cv2.imwrite(str(src / "a.jpg"), img)
    cv2.imwrite(str(src / "a.png"), img[:50, :30])
    calls = []
    monkeypatch.setattr(baselines, "spectral_residual_map", lambda im: calls.append(1))
    with pytest.raises(InputError, match="two maps are named 'a'"):
        write_spectral_residual_maps(src, tmp_path / "out")
    assert calls == [] and not (tmp_path / "out").exists()


def test_images_table(tmp_path, demo):
    t = images_table(demo.images)
    assert list(t.columns) == ["image_id", "file_name", "width", "height", "path"]
    assert t["file_name"].is_monotonic_increasing and str(t["image_id"].dtype) == "Int64"
    (tmp_path / "holiday.jpg").write_bytes((demo.images / "COCO_val2014_000000000192.jpg").read_bytes())
    t2 = images_table(tmp_path)
    assert pd.isna(t2["image_id"].iloc[0]) and t2["width"].iloc[0] == 640
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        images_table(empty)
    with pytest.raises(InputError, match="not found"):
        images_table(tmp_path / "missing")


def test_corrupt_image_writes_nothing(tmp_path, demo):
    src = tmp_path / "imgs"
    src.mkdir()
    (src / "COCO_val2014_000000000192.jpg").write_bytes((demo.images / "COCO_val2014_000000000192.jpg").read_bytes())
    (src / "COCO_val2014_000000000999.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="000000000999"):
        write_spectral_residual_maps(src, out)
    assert not out.exists()  # the folder this call created is removed again


def test_write_map_directory_errors(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "a.png").write_bytes(b"old")
    good = np.linspace(0, 1, 12).reshape(3, 4)
    with pytest.raises(InputError, match="two maps"):
        write_map_directory([("a", good), ("a", good)], out)
    with pytest.raises(InputError, match="NaN"):
        write_map_directory([("a", good), ("b", np.full((2, 2), np.nan))], out)
    with pytest.raises(InputError, match="plain file name"):
        write_map_directory([("../x", good)], out)
    with pytest.raises(InputError, match="no maps"):
        write_map_directory([], out)
    assert sorted(p.name for p in out.iterdir()) == ["a.png"] and (out / "a.png").read_bytes() == b"old"
    written = write_map_directory([("a", good)], out)
    png = cv2.imread(str(written["a"]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png, np.round(good * 255).astype(np.uint8))
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="directory"):
        write_map_directory([("a", good)], tmp_path / "f")


def test_cli_baseline(tmp_path, demo, capsys):
    rc = main(["saliency", "baseline", "--kind", "center", "--annotations", str(demo.annotations), "--out", str(tmp_path / "c")])
    assert rc == 0 and len(list((tmp_path / "c").iterdir())) == 100
    rc = main(["saliency", "baseline", "--kind", "spectral", "--images", str(demo.images), "--out", str(tmp_path / "s")])
    assert rc == 0 and len(list((tmp_path / "s").iterdir())) == 27
    capsys.readouterr()
    rc = main(["saliency", "baseline", "--kind", "spectral", "--annotations", str(demo.annotations), "--out", str(tmp_path / "x")])
    assert rc == 2 and "--images" in capsys.readouterr().err
    rc = main(["saliency", "baseline", "--kind", "center", "--images", str(tmp_path / "nope"), "--out", str(tmp_path / "y")])
    assert rc == 2


def test_one_set_of_image_name_patterns():
    from salanalysis.images import ImageName, coco_image_name, image_id_from_name, parse_image_name

    assert parse_image_name("x/COCO_val2014_000000000192.jpg") == ImageName(192, "COCO", "val", 2014)
    assert parse_image_name("000000000208.png") == ImageName(208)
    assert parse_image_name("LVIS_train2017_000000000001") == ImageName(1, "LVIS", "train", 2017)
    assert parse_image_name("holiday.jpg") is None and image_id_from_name("COCO_val2014_x.jpg") is None
    assert coco_image_name(42, "train") == "COCO_train2014_000000000042"
    # the map matcher, the SALICON reader and the map writers use these same rules
    from salanalysis import images, salicon
    from salanalysis.maps import source

    assert salicon.image_id_from_name is image_id_from_name
    assert source.parse_image_stem is images.parse_image_stem


def test_read_image_orders(demo):
    bgr = read_image(demo.images / "COCO_val2014_000000000192.jpg")
    rgb = read_image(demo.images / "COCO_val2014_000000000192.jpg", order="rgb")
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])
    with pytest.raises(InputError, match="image not found"):
        read_image(demo.images / "nope.jpg")
