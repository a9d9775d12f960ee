"""Tests of the object table (salanalysis.objects) and its exact mask geometry (_masks).

Every number is compared with an independent reference: pycocotools'
``COCO.annToMask`` / ``mask.decode`` for masks, ``np.nonzero(...).mean()`` for
centroids, ``MapSource.load`` (decode, resize, normalise) for saliency, or a hand
computation written next to the expected value.
"""

from __future__ import annotations

import copy
import json
import shutil
import warnings

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from salanalysis._masks import (
    counts_runs,
    polygon_runs,
    rle_string_counts,
    runs_to_mask,
    union_runs,
)
from salanalysis.cli import main
from salanalysis.coco import Annotations
from salanalysis.errors import InputError, InputWarning
from salanalysis.maps import MapSource
from salanalysis.objects import (
    OBJECT_COLUMNS,
    center_distance,
    compute_objects,
    object_table,
    object_table_reference,
)
from salanalysis.scores import Scores, read_scores

EXACT = ["area_px", "cx", "cy", "center_dist"]


def _same(a: pd.Series, b: pd.Series) -> bool:
    return bool(np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))


def _dataset(images, anns, n_cat=3) -> Annotations:
    cats = [{"id": c, "name": f"c{c}"} for c in range(1, n_cat + 1)]
    return Annotations({"images": images, "annotations": anns, "categories": cats})


def _img(iid, w, h):
    return {"id": iid, "file_name": f"COCO_val2014_{iid:012d}.jpg", "width": w, "height": h}


def _ann(aid, iid, segm, cat=1, bbox=(0, 0, 1, 1), crowd=0):
    return {"id": aid, "image_id": iid, "category_id": cat, "segmentation": segm,
            "bbox": list(bbox), "area": 1.0, "iscrowd": crowd}  # fmt: skip


def _write_map(folder, iid, arr):
    folder.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(folder / f"COCO_val2014_{iid:012d}.png"), arr)


# ------------------------------------------------------------- the real demo data
@pytest.fixture(scope="module")
def demo_tables(demo_ann, demo):
    sc = read_scores(demo.detections, demo_ann, name="sample")
    fast = compute_objects(demo_ann, {"salicon": demo.saliency}, [sc], jobs=1)
    ref = object_table_reference(demo_ann, {"salicon": demo.saliency}, [sc])
    return fast, ref


def test_demo_exact_equality_with_straightforward_method(demo_tables):
    fast, ref = demo_tables
    obj = fast.objects
    assert len(obj) == 830  # 839 annotations, 9 crowd
    assert list(obj.columns) == list(ref.columns)
    for col in EXACT + ["sal_max_salicon", "score_sample", "detected_sample", "n_objects"]:
        assert _same(obj[col], ref[col]), col
    # two real SALICON maps: their objects have saliency, the others NaN
    with_map = obj["image_id"].isin([192, 208])
    assert obj.loc[with_map, "sal_max_salicon"].notna().all()
    assert obj.loc[~with_map, "sal_max_salicon"].isna().all()
    # sal_mean: float64 accumulation here, float32 in the reference
    np.testing.assert_allclose(
        obj["sal_mean_salicon"], ref["sal_mean_salicon"], rtol=1e-5, atol=1e-7
    )


def test_demo_area_and_centroid_equal_annToMask(demo_ann, demo_tables):
    obj = demo_tables[0].objects
    for row in obj.itertuples():
        m = demo_ann.coco.annToMask(demo_ann.coco.anns[row.ann_id])
        ys, xs = np.nonzero(m)
        assert row.area_px == m.sum()
        assert row.cx == xs.mean() and row.cy == ys.mean()


def test_demo_columns_order_counts(demo_ann, demo_tables):
    fast = demo_tables[0]
    obj = fast.objects
    assert list(obj.columns) == OBJECT_COLUMNS + [
        "sal_max_salicon", "sal_mean_salicon", "score_sample", "detected_sample",
    ]  # fmt: skip
    assert obj["detected_sample"].dtype == bool
    assert obj["area_px"].dtype == np.int64
    keys = list(zip(obj["image_id"], obj["ann_id"]))
    assert keys == sorted(keys)
    inst = demo_ann.instances
    assert set(obj["ann_id"]) == set(inst.loc[~inst["iscrowd"], "ann_id"])
    assert fast.n_crowd_excluded == 9
    # objects without a map: every non-crowd object outside images 192 and 208
    n_without = int((~inst["iscrowd"] & ~inst["image_id"].isin([192, 208])).sum())
    assert fast.missing_maps == {"salicon": n_without}
    assert fast.images_without_map == {"salicon": 98}
    img = fast.images
    assert list(img.columns) == ["image_id", "width", "height", "n_objects", "has_map_salicon"]
    assert len(img) == 100 and img["has_map_salicon"].sum() == 2
    n_obj = inst[~inst["iscrowd"]].groupby("image_id").size()
    assert (img.set_index("image_id")["n_objects"].reindex(n_obj.index) == n_obj).all()
    assert (obj["n_objects"].to_numpy() == n_obj.reindex(obj["image_id"]).to_numpy()).all()
    np.testing.assert_allclose(
        obj["area_frac"],
        obj["area_px"]
        / (
            img.set_index("image_id")
            .loc[obj["image_id"], ["width", "height"]]
            .prod(axis=1)
            .to_numpy()
        ),
    )


def test_demo_workers_give_identical_table(demo_ann, demo, demo_tables):
    sc = read_scores(demo.detections, demo_ann, name="sample")
    par = object_table(demo_ann, {"salicon": demo.saliency}, [sc], jobs=2, progress=True)
    pd.testing.assert_frame_equal(par, demo_tables[0].objects)


def test_demo_map_of_another_size(demo_ann, demo, tmp_path):
    # the real 640x480 maps stored at 320x240 (and 301x173): resized back bilinearly
    for size in ((320, 240), (301, 173)):
        d = tmp_path / f"{size[0]}"
        d.mkdir()
        for f in demo.saliency.iterdir():
            cv2.imwrite(str(d / f.name), cv2.resize(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), size))
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            fast = object_table(demo_ann, {"s": d}, jobs=1)
        # 320x240 keeps the 4:3 aspect ratio; 301x173 does not: stretched, and said once
        said = [str(w.message) for w in rec if issubclass(w.category, InputWarning)]
        assert said == ([] if size == (320, 240) else
                        [f"{d}: saliency source 's': 2 map(s) of another aspect ratio than their image, stretched "
                         "to it (bilinear resize), e.g. COCO_val2014_000000000192.png for image 192"])
        ref = object_table_reference(demo_ann, {"s": d})
        assert _same(fast["sal_max_s"], ref["sal_max_s"])
        np.testing.assert_allclose(fast["sal_mean_s"], ref["sal_mean_s"], rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------- hand computations
def test_hand_computed_rectangle():
    # COCO coordinates put pixel centers at j + 0.5: the square x 2..5, y 1..3 covers
    # columns 2, 3, 4 and rows 1, 2 -> 6 pixels, centroid (3, 1.5) with centers at integers.
    ann = _dataset([_img(1, 10, 8)], [_ann(1, 1, [[2, 1, 5, 1, 5, 3, 2, 3]])])
    row = object_table(ann, jobs=1).iloc[0]
    assert row["area_px"] == 6 == ann.mask(1).sum()
    assert row["cx"] == 3.0 and row["cy"] == 1.5
    # center ((10-1)/2, (8-1)/2) = (4.5, 3.5); distance hypot(1.5, 2) = 2.5;
    # half diagonal hypot(10, 8)/2 = 6.4031242374328485 -> 0.3904344047215152
    assert row["center_dist"] == pytest.approx(0.3904344047215152, rel=1e-12)
    assert row["area_frac"] == pytest.approx(6 / 80)
    assert row["n_objects"] == 1


def test_center_distance_convention():
    # center -> 0; outer image corner -> 1; the corner pixel's center just below 1
    assert center_distance(4.5, 3.5, 10, 8) == 0
    assert center_distance(-0.5, -0.5, 10, 8) == pytest.approx(1.0)
    # hypot(4.5, 3.5) / hypot(5, 4) = sqrt(32.5 / 41) = 0.890327426753365
    assert center_distance(0, 0, 10, 8) == pytest.approx(0.890327426753365, rel=1e-12)


def test_one_pixel_objects_in_corners_and_border():
    # one pixel at each corner: polygons around the pixel centers (j + .5, i + .5)
    W, H = 7, 5
    sq = lambda x, y: [[x + 0.2, y + 0.2, x + 0.8, y + 0.2, x + 0.8, y + 0.8, x + 0.2, y + 0.8]]  # noqa: E731
    anns = [_ann(i + 1, 1, sq(x, y)) for i, (x, y) in enumerate([(0, 0), (6, 0), (0, 4), (6, 4)])]
    anns.append(_ann(9, 1, [[0, 0, 7, 0, 7, 5, 0, 5]]))  # the whole image, touching every border
    a = _dataset([_img(1, W, H)], anns)
    obj = object_table(a, jobs=1)
    assert obj["area_px"].tolist() == [1, 1, 1, 1, 35]
    assert obj["cx"].tolist() == [0, 6, 0, 6, 3] and obj["cy"].tolist() == [0, 0, 4, 4, 2]
    corner = np.hypot(3, 2) / (np.hypot(7, 5) / 2)  # center (3, 2)
    np.testing.assert_allclose(obj["center_dist"], [corner] * 4 + [0.0])
    ref = object_table_reference(a)
    for col in EXACT:
        assert _same(obj[col], ref[col])


# --------------------------------------------------------------- property tests
@st.composite
def _polygon(draw, w, h):
    kind = draw(st.sampled_from(["random", "random", "pixel", "border", "degenerate"]))
    if kind == "pixel":
        x, y = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
        return [x + 0.3, y + 0.3, x + 0.7, y + 0.3, x + 0.7, y + 0.7, x + 0.3, y + 0.7]
    if kind == "border":
        x0, y0 = draw(st.sampled_from([-1.0, 0.0])), draw(st.sampled_from([-1.0, 0.0]))
        x1 = draw(st.sampled_from([float(w), w + 1.5]))
        return [x0, y0, x1, y0, x1 / 2, h + 0.7]
    if kind == "degenerate":  # collinear or a sliver between pixel centers: zero area
        y = draw(st.integers(0, h - 1)) + 0.1
        return [0.0, y, w * 0.5, y, float(w), y]
    k = draw(st.integers(3, 9))
    decimals = draw(st.sampled_from([1, 2, 6]))
    xs = draw(st.lists(st.floats(-0.4 * w, 1.4 * w), min_size=k, max_size=k))
    ys = draw(st.lists(st.floats(-0.4 * h, 1.4 * h), min_size=k, max_size=k))
    return [round(v, decimals) for xy in zip(xs, ys) for v in xy]


@st.composite
def _segmentation(draw, w, h):
    kind = draw(st.sampled_from(["poly", "poly", "poly", "rle", "ucrle"]))
    if kind == "poly":
        return draw(st.lists(_polygon(w, h), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    m = np.asfortranarray(rng.random((h, w)) < draw(st.sampled_from([0.0, 0.05, 0.5, 1.0])))
    rle = mask_utils.encode(m.astype(np.uint8))
    if kind == "rle":
        return {"size": [h, w], "counts": rle["counts"].decode()}
    flat = m.ravel(order="F").astype(np.int8)
    # uncompressed counts alternate 0-runs and 1-runs, starting with 0s, summing to h * w
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[-1], flat, [-1]])) != 0))
    counts = ([0] if flat[0] == 1 else []) + [int(r) for r in runs]
    return {"size": [h, w], "counts": counts}


def _inside(segm, w, h) -> bool:
    if isinstance(segm, dict):
        return True
    xy = np.concatenate([np.reshape(p, (-1, 2)) for p in segm])
    return xy[:, 0].max() > 0 and xy[:, 0].min() < w and xy[:, 1].max() > 0 and xy[:, 1].min() < h


@st.composite
def _scene(draw):
    w, h = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    segms = draw(st.lists(_segmentation(w, h), min_size=1, max_size=4))
    segms = [s for s in segms if _inside(s, w, h)]
    map_w, map_h = draw(st.sampled_from([(w, h), (max(1, w // 2), h + 3), (40, 9)]))
    seed = draw(st.integers(0, 2**31 - 1))
    return w, h, segms, (map_w, map_h), seed


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scene=_scene())
@pytest.mark.filterwarnings("ignore::salanalysis.errors.InputWarning")  # maps of any size: stretched ones said
def test_property_matches_straightforward_method(scene, tmp_path_factory):
    w, h, segms, (mw, mh), seed = scene
    anns = [_ann(i + 1, 1, s, cat=1 + i % 3) for i, s in enumerate(segms)]
    a = _dataset([_img(1, w, h), _img(2, w, h)], anns + [_ann(99, 2, [[0, 0, w, 0, w, h]])])
    d = tmp_path_factory.mktemp("maps")
    rng = np.random.default_rng(seed)
    _write_map(d, 1, rng.integers(0, 256, (mh, mw), dtype=np.uint8))  # image 2 has no map
    sc = Scores.from_array("m", a, rng.random((2, 3)))
    res = compute_objects(a, {"s": d}, [sc], jobs=1)
    ref = object_table_reference(a, {"s": d}, [sc])
    for col in EXACT + ["sal_max_s", "score_m", "detected_m"]:
        assert _same(res.objects[col], ref[col]), col
    np.testing.assert_allclose(res.objects["sal_mean_s"], ref["sal_mean_s"], rtol=1e-5, atol=1e-6)
    for row in res.objects.itertuples():  # area against annToMask itself, not the reference
        if isinstance(a.ann(row.ann_id)["segmentation"], dict):
            assert row.area_px == a.coco.annToMask(a.ann(row.ann_id)).sum()
    assert res.missing_maps == {"s": 1}
    assert res.n_zero_area == int((ref["area_px"] == 0).sum())


@settings(max_examples=300, deadline=None)
@given(
    w=st.integers(1, 50),
    h=st.integers(1, 50),
    polys=st.lists(
        st.lists(st.floats(-8, 60).map(lambda v: round(v, 1)), min_size=6, max_size=24).filter(
            lambda p: len(p) % 2 == 0
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_property_polygon_pixels_equal_pycocotools(w, h, polys):
    ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
    nv = np.array([len(p) // 2 for p in polys])
    coords = np.concatenate([np.asarray(p, dtype=float) for p in polys])
    for dense in (False, True):
        pid, s, e = polygon_runs(coords, nv, h, w, dense=dense)
        _, s, e = union_runs(np.zeros_like(pid), s, e, h * w)
        assert np.array_equal(runs_to_mask(s, e, h, w), ref)


def test_combined_key_sorts_equal_lexsort(monkeypatch):
    # the fast paths sort one int64 key group * big + value; the fallback (keys that
    # could overflow) is np.lexsort: both must give lexsort's order
    from salanalysis import _masks

    rng = np.random.default_rng(3)
    group = rng.integers(0, 40, 5000)
    value = rng.integers(0, 1000, 5000)
    order = np.lexsort((value, group))
    for limit in (_masks._KEY_LIMIT, 0):
        monkeypatch.setattr(_masks, "_KEY_LIMIT", limit)
        g, v = _masks._sort_pairs(group, value, 1000, 40)
        assert np.array_equal(g, group[order]) and np.array_equal(v, value[order])
    # union_runs: random overlapping runs of 40 groups, both paths against a mask union
    start = rng.integers(0, 900, 3000)
    end = start + rng.integers(0, 100, 3000)
    outs = []
    for limit in (2**62, 0):
        monkeypatch.setattr(_masks, "_KEY_LIMIT", limit)
        outs.append(union_runs(group[:3000], start, end, 1000))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    g, s, e = outs[0]
    for k in (0, 17, 39):
        want = np.zeros(1001, dtype=bool)
        for s0, e0 in zip(start[group[:3000] == k], end[group[:3000] == k]):
            want[s0:e0] = True
        got = np.zeros(1001, dtype=bool)
        for s0, e0 in zip(s[g == k], e[g == k]):
            got[s0:e0] = True
        assert np.array_equal(got, want)
        assert (s[g == k][1:] > e[g == k][:-1]).all()  # disjoint, non-touching, sorted


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 700),
    w=st.integers(1, 700),
    blocks=st.lists(st.tuples(*[st.floats(0, 1)] * 4), max_size=6),
    noise=st.sampled_from([0.0, 0.001, 0.3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_compressed_rle_runs_equal_pycocotools(h, w, blocks, noise, seed):
    # large masks (long runs: counts of several 5-bit groups, negative differences)
    m = np.random.default_rng(seed).random((h, w)) < noise
    for a, b, c, d in blocks:
        m[int(a * h) : int(b * h) + 1, int(c * w) : int(d * w) + 1] ^= True
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    for counts in (rle["counts"], rle["counts"].decode()):
        cnt = rle_string_counts(counts)
        assert int(cnt.sum()) == h * w
        s, e = counts_runs(cnt)
        assert np.array_equal(runs_to_mask(s, e, h, w), mask_utils.decode(rle))


def test_rle_string_counts_hand_example():
    # counts [3, 40, 2, 35]: '3' (3); 40 = 0b1_01000 -> groups 8 | 0x20 and 1 -> 'X1';
    # '2' (2); 35 - 40 = -5 -> 27 & 0x1f with the sign bit 0x10 -> chr(48 + 27) = 'K'
    assert rle_string_counts("3X12K").tolist() == [3, 40, 2, 35]
    assert mask_utils.encode(
        np.asfortranarray(
            np.concatenate([[0] * 3, [1] * 40, [0] * 2, [1] * 35]).reshape(80, 1).astype(np.uint8)
        )
    )["counts"] == b"3X12K"


@pytest.mark.parametrize(
    "counts, message",
    [
        ("3X12K~", "malformed compressed RLE counts: characters outside"),
        ("3X12X", "malformed compressed RLE counts: the string ends inside a count"),
        ("Q" + "P" * 6 + "1", "more than 6 five-bit groups"),  # pycocotools' C overflows
        ("3X12", "RLE counts sum to 45, not 80"),
        ("3X12KK", "RLE counts sum to 4294967373, not 80"),  # 2 - 5 wraps as C uint
    ],
)
def test_malformed_compressed_rle_is_an_error(tmp_path, counts, message):
    data = {"images": [_img(1, 1, 80)], "categories": [{"id": 1, "name": "c1"}],
            "annotations": [_ann(1, 1, {"size": [80, 1], "counts": counts})]}  # fmt: skip
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    a = Annotations.load(path)
    for jobs in (1, 2):
        with pytest.raises(InputError, match=message) as err:
            compute_objects(a, jobs=jobs)
        assert str(err.value).startswith(f"{path}: annotation 1: ")


def test_shifted_crop_with_pycocotools_is_not_exact():
    # why _masks replays pycocotools' arithmetic instead of rasterising a shifted crop:
    # 5 * 123.1 rounds to 615.5 (-> 616) but 5 * 23.1 to 115.49999999999999 (-> 115)
    assert int(5 * 123.1 + 0.5) - 5 * 100 != int(5 * (123.1 - 100) + 0.5)


# ----------------------------------------------------------------------- bad input
def test_mask_outside_its_image_is_an_error():
    a = _dataset([_img(1, 10, 10)], [_ann(1, 1, [[12, 1, 15, 1, 15, 5]])])
    with pytest.raises(
        InputError, match="annotation 1: mask lies entirely outside its 10x10 image"
    ):
        compute_objects(a, jobs=1)
    far = _dataset([_img(1, 10, 10)], [_ann(1, 1, [[1, 1, 5e9, 1, 5, 5]])])
    with pytest.raises(InputError, match="far outside"):
        compute_objects(far, jobs=1)


def test_zero_area_mask_is_nan_and_counted(tmp_path):
    # a sliver between pixel-center rows (y 1.1 .. 1.3 contains no center i + .5)
    sliver = [[1.1, 1.1, 6.2, 1.1, 6.2, 1.3, 1.1, 1.3]]
    on_border = [[8, 1, 8, 5, 8, 3]]  # collapsed onto the right border line x = W
    a = _dataset(
        [_img(1, 8, 8)],
        [
            _ann(1, 1, sliver),
            _ann(2, 1, []),
            _ann(3, 1, [[1, 1, 5, 1, 5, 5]]),
            _ann(4, 1, on_border),
        ],
    )
    assert a.mask(1).sum() == 0 and a.mask(4).sum() == 0  # pycocotools agrees: no pixel
    _write_map(tmp_path, 1, np.arange(64, dtype=np.uint8).reshape(8, 8))
    res = compute_objects(a, {"s": tmp_path}, jobs=1)
    obj = res.objects.set_index("ann_id")
    assert res.n_zero_area == 3
    assert obj.loc[[1, 2, 4], "area_px"].tolist() == [0, 0, 0]
    nan_cols = ["cx", "cy", "center_dist", "sal_max_s", "sal_mean_s"]
    assert obj.loc[[1, 2, 4], nan_cols].isna().all().all()
    assert obj.loc[3, "area_px"] == a.mask(3).sum() > 0


def test_short_polygons_are_ignored_and_counted():
    a = _dataset([_img(1, 8, 8)], [_ann(1, 1, [[1, 1, 5, 1, 5, 5], [1, 1, 3, 3]])])
    res = compute_objects(a, jobs=1)
    assert res.n_dropped_polygons == 1
    assert (
        res.objects["area_px"].iloc[0]
        == Annotations(
            {
                "images": [_img(1, 8, 8)],
                "annotations": [_ann(1, 1, [[1, 1, 5, 1, 5, 5]])],
                "categories": [{"id": 1, "name": "c1"}],
            }  # fmt: skip
        )
        .mask(1)
        .sum()
    )


@pytest.mark.parametrize(
    "segm, message",
    [
        ([[1, 1, 5, 1, 5]], "odd number of coordinates"),
        ([[1, 1, 5, 1, 5, float("nan")]], "finite numbers"),
        ([[1, 1, 5, 1, 5, "x"]], "finite numbers"),
        ([[1, 1, 5, 1, 5, None]], "finite numbers"),
        ([[[1, 1], [5, 1], [5, 5], [1, 5], [0, 0], [2, 2]]], "finite numbers"),  # nested pairs
        ({"size": [4, 4], "counts": [64]}, "RLE size 4x4 differs from its image 8x8"),
        ({"size": [8, 8], "counts": [10, 5]}, "summing to 64"),
        (None, "has no segmentation"),
        (7, "neither polygons nor RLE"),
    ],
)
def test_malformed_segmentation_is_an_error(segm, message):
    ann = _ann(5, 1, segm)
    if segm is None:
        del ann["segmentation"]
    a = _dataset([_img(1, 8, 8)], [ann])
    with pytest.raises(InputError, match=message):
        compute_objects(a, jobs=1)


def test_corrupted_map_is_an_error(demo_ann, demo, tmp_path):
    shutil.copytree(demo.saliency, tmp_path / "maps")
    bad = tmp_path / "maps" / "COCO_val2014_000000000208.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    for jobs in (1, 2):
        with pytest.raises(InputError, match="000000000208.png: cannot decode saliency map"):
            compute_objects(demo_ann, {"s": tmp_path / "maps"}, jobs=jobs)


def test_map_directory_matching_nothing_is_an_error(demo_ann, tmp_path):
    _write_map(tmp_path, 99999999, np.zeros((4, 4), np.uint8))
    with pytest.raises(
        InputError, match="no saliency map of source 's' matches any of the 100 images"
    ):
        compute_objects(demo_ann, {"s": tmp_path}, jobs=1)


def test_scores_must_cover_the_objects(demo_ann):
    sc = Scores("m", demo_ann.image_ids[:10], demo_ann.category_ids, demo_ann.category_names,
                np.zeros((10, 80)))  # fmt: skip
    with pytest.raises(InputError, match=r"score set 'm' lacks 90 image\(s\) of the annotations"):
        compute_objects(demo_ann, scores=[sc], jobs=1)
    with pytest.raises(InputError, match="given twice"):
        compute_objects(demo_ann, scores=[sc, sc], jobs=1)


def test_detected_threshold(demo_ann):
    rng = np.random.default_rng(3)
    sc = Scores.from_array("m", demo_ann, rng.random((100, 80)))
    obj = object_table(demo_ann, scores={"m": sc}, threshold=0.7, jobs=1)
    rows = np.searchsorted(demo_ann.image_ids, obj["image_id"])
    cols = np.searchsorted(demo_ann.category_ids, obj["category_id"])
    assert (obj["score_m"].to_numpy() == sc.scores[rows, cols]).all()
    assert (obj["detected_m"] == (obj["score_m"] >= 0.7)).all()
    for bad in (1.5, -0.1, float("nan"), True):
        with pytest.raises(InputError, match="threshold must be a number in \\[0, 1\\]"):
            object_table(demo_ann, scores={"m": sc}, threshold=bad, jobs=1)


def test_rle_objects_across_chunks():
    # 70 images = 3 chunks of 32: each chunk must get its own RLE objects, at the right rows
    rng = np.random.default_rng(11)
    images, anns = [], []
    for iid in range(1, 71):
        images.append(_img(iid, 12, 9))
        m = np.asfortranarray((rng.random((9, 12)) < 0.3).astype(np.uint8))
        rle = mask_utils.encode(m)
        anns.append(_ann(2 * iid, iid, [[1.0, 1.0, 8.5, 1.0, 8.5, 7.5]]))
        anns.append(_ann(2 * iid + 1, iid, {"size": [9, 12], "counts": rle["counts"].decode()}))
    a = _dataset(images, anns)
    res = compute_objects(a, jobs=1).objects
    want = [int(a.coco.annToMask(a.ann(i)).sum()) for i in res["ann_id"]]
    assert res["area_px"].tolist() == want
    assert len(set(want[1::2])) > 5  # the RLE masks differ from image to image


def test_16_bit_maps_small_and_large(tmp_path):
    # 16-bit maps keep their integer values; the inside-mask sums are accumulated in
    # uint32 where no sum can overflow it (30x20 px) and in int64 otherwise (400x300 px:
    # 120000 * 65535 > 2**32). Reference: annToMask and float64 NumPy on the raw values.
    rng = np.random.default_rng(5)
    images = [_img(1, 30, 20), _img(2, 400, 300)]
    anns = [
        _ann(1, 1, [[2.5, 1.5, 27.0, 3.0, 20.0, 18.5]]),
        _ann(2, 2, [[0.0, 0.0, 400.0, 0.0, 400.0, 300.0, 0.0, 300.0]]),  # the whole image
        _ann(3, 2, [[50.2, 40.7, 300.1, 60.3, 210.4, 290.9, 20.0, 250.0]]),
    ]
    a = _dataset(images, anns)
    raw = {1: rng.integers(60000, 65536, (20, 30), dtype=np.uint16),
           2: rng.integers(60000, 65536, (300, 400), dtype=np.uint16)}  # fmt: skip
    for iid, arr in raw.items():
        _write_map(tmp_path, iid, arr)
    res = compute_objects(a, {"s": tmp_path}, jobs=1).objects.set_index("ann_id")
    for ann in anns:
        m = a.coco.annToMask(a.ann(ann["id"])).astype(bool)
        r = raw[ann["image_id"]].astype(np.float64)
        lo, hi = r.min(), r.max()
        want_max = np.float32((np.float32(r[m].max()) - lo) / (hi - lo))
        want_mean = (r[m].mean() - lo) / (hi - lo)
        assert res.at[ann["id"], "sal_max_s"] == pytest.approx(float(want_max), rel=1e-7)
        assert res.at[ann["id"], "sal_mean_s"] == pytest.approx(want_mean, rel=1e-12)
    assert res.at[2, "area_px"] == 400 * 300


def test_unnormalised_source_and_npy_maps(demo_ann, demo, tmp_path):
    for f in demo.saliency.iterdir():
        np.save(
            tmp_path / (f.stem + ".npy"),
            cv2.imread(str(f), cv2.IMREAD_UNCHANGED).astype(np.float32) / 7,
        )
    raw = MapSource(tmp_path, name="raw", normalize=False)
    fast = object_table(demo_ann, {"raw": raw}, jobs=1)
    ref = object_table_reference(demo_ann, {"raw": raw})
    assert _same(fast["sal_max_raw"], ref["sal_max_raw"])
    assert fast["sal_max_raw"].max() > 1  # stored values, not normalised


# ----------------------------------------------------------------------------- CLI
def test_cli_writes_tables_and_reports_missing(demo, tmp_path, capsys):
    out, imgs = tmp_path / "objects.csv", tmp_path / "images.parquet"
    rc = main([
        "objects", "--annotations", str(demo.annotations), "--saliency", f"salicon={demo.saliency}",
        "--scores", f"sample={demo.detections}", "--out", str(out), "--images-out", str(imgs),
        "--jobs", "1", "--quiet",
    ])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "saliency salicon: 821 objects without a map (NaN) in 98 images without a map" in text
    obj = pd.read_csv(out)
    assert len(obj) == 830 and "detected_sample" in obj.columns
    assert len(pd.read_parquet(imgs)) == 100


def test_cli_bad_input_exits_2_without_output(demo, tmp_path, capsys):
    shutil.copytree(demo.saliency, tmp_path / "maps")
    (tmp_path / "maps" / "COCO_val2014_000000000192.png").write_bytes(b"")
    out = tmp_path / "objects.parquet"
    rc = main(["objects", "--annotations", str(demo.annotations), "--saliency",
               f"s={tmp_path / 'maps'}", "--out", str(out), "--quiet"])  # fmt: skip
    assert rc == 2
    assert "000000000192.png" in capsys.readouterr().err
    assert not out.exists()
    rc = main(["objects", "--annotations", str(demo.annotations), "--out", str(tmp_path / "x.txt")])
    assert rc == 2


def test_image_without_objects_and_crowd_only(tmp_path):
    data = {
        "images": [_img(1, 8, 6), _img(2, 8, 6)],
        "annotations": [
            _ann(1, 1, {"size": [6, 8], "counts": [10, 4, 34]}, crowd=1),
            _ann(2, 1, [[1, 1, 4, 1, 4, 4]]),
        ],
        "categories": [{"id": 1, "name": "c1"}],
    }
    res = compute_objects(Annotations(copy.deepcopy(data)), jobs=1)
    assert res.objects["ann_id"].tolist() == [2]
    assert res.images["n_objects"].tolist() == [1, 0]
    assert res.n_crowd_excluded == 1
    json.dumps(res.missing_maps)  # plain ints


def test_worker_pool_is_safe_after_threads_started(tmp_path):
    # Workers forked from a process whose OpenCV and torch thread pools already run
    # (as in this suite, in reproduce with CAMs, or in a notebook) must neither hang
    # nor change the result (forked workers that called cv2.setNumThreads hung in this
    # suite once). A fresh interpreter with a deadline.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import cv2, numpy as np
        cv2.resize(np.random.rand(2000, 2000).astype(np.float32), (3000, 3000))  # starts cv2's pool
        try:
            import torch
            torch.randn(512, 512) @ torch.randn(512, 512)  # starts torch's intra-op pool
        except ImportError:
            pass
        from salanalysis.coco import Annotations
        from salanalysis.demo import demo_paths
        from salanalysis.objects import compute_objects, object_table_reference
        d = demo_paths()
        ann = Annotations.load(d.annotations)
        res = compute_objects(ann, {"salicon": d.saliency}, jobs=2)
        ref = object_table_reference(ann, {"salicon": d.saliency})
        assert len(res.objects) == 830
        assert (res.objects["area_px"].to_numpy() == ref["area_px"].to_numpy()).all()
        print("ok")
        """
    )
    # run as a script file without an `if __name__ == "__main__"` guard: with a start
    # method that re-imports __main__ in the workers (spawn, forkserver) this would
    # restart workers for ever and hit the deadline
    path = tmp_path / "no_guard.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
