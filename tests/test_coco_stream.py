"""The streaming reader (salanalysis._coco_stream) against the in-memory one: same tables, masks, errors.

The reference is ``Annotations.load(path, stream=False)`` (``json.load`` and
pycocotools' ``COCO``), itself tested against pycocotools in test_coco.py and
test_objects.py; here every result of the streamed file must equal it.
"""

from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from salanalysis import coco as coco_mod
from salanalysis._coco_stream import POLY, RAW, RLE_STR
from salanalysis.coco import Annotations, load_annotations
from salanalysis.errors import InputError
from salanalysis.objects import compute_objects


def _load_both(tmp_path, data, name="inst.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return Annotations.load(p, stream=False), Annotations.load(p, stream=True)


def _assert_same(a: Annotations, b: Annotations, same_raw_boxes: bool = True) -> None:
    assert a.segments is None and b.segments is not None
    for table in ("images", "categories", "instances"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    for crowd in (True, False):
        np.testing.assert_array_equal(a.label_matrix(crowd), b.label_matrix(crowd))
    pd.testing.assert_series_equal(a.n_objects(), b.n_objects())
    assert a.has_federated_fields == b.has_federated_fields
    fa, fb = a.federated_labels(), b.federated_labels()
    assert (fa is None) == (fb is None)
    if fa is not None:
        for x, y in zip(fa, fb):
            np.testing.assert_array_equal(x, y)
    for ann_id in a.instances["ann_id"].tolist():
        if same_raw_boxes:
            assert a.ann(ann_id) == b.ann(ann_id)
        try:
            want = a.rle(ann_id)
        except Exception as exc:  # a malformed segmentation pycocotools cannot read: the same failure
            with pytest.raises(type(exc)):
                b.rle(ann_id)
            continue
        assert b.rle(ann_id) == want
        np.testing.assert_array_equal(a.mask(ann_id), b.mask(ann_id))
    assert repr(a) == repr(b)


def _same_error(tmp_path, data, run=lambda ann: ann) -> str:
    """The InputError of the in-memory reader; the streamed file must give the same line."""
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InputError) as want:
        run(Annotations.load(p, stream=False))
    with pytest.raises(InputError) as got:
        run(Annotations.load(p, stream=True))
    assert str(got.value) == str(want.value)
    return str(want.value)


# ------------------------------------------------------------------- real demo data
def test_demo_identical_tables_masks_and_objects(demo, demo_ann):
    b = Annotations.load(demo.annotations, stream=True)
    _assert_same(demo_ann, b)
    want = compute_objects(demo_ann, {"salicon": demo.saliency}, jobs=1)
    got = compute_objects(b, {"salicon": demo.saliency}, jobs=1)
    pd.testing.assert_frame_equal(got.objects, want.objects)
    assert (got.n_clipped, got.n_dropped_polygons, got.n_zero_area) == (
        want.n_clipped, want.n_dropped_polygons, want.n_zero_area)
    # pycocotools' own index built from the streamed arrays gives the same masks
    ann_id = int(demo_ann.instances["ann_id"].iloc[3])
    np.testing.assert_array_equal(b.coco.annToMask(b.coco.anns[ann_id]), demo_ann.mask(ann_id))
    # the polygons sit in one float64 array, not in Python lists
    assert (b.segments.kind == POLY).sum() == 830 and len(b.segments.raw) == 9  # 9 crowd: uncompressed RLE
    assert b.segments.coords.dtype == np.float64


# ------------------------------------------------------------------ an LVIS-style file
def _lvis(rng, strings=False):
    images, anns, aid = [], [], 100
    cats = [{"id": c, "name": f"c{c}", "synset": "x"} for c in (3, 1, 7, 12)]
    for iid in range(1, 13):
        w, h = int(rng.integers(9, 30)), int(rng.integers(9, 30))
        im = {"id": iid, "width": w, "height": h, "file_name": f"{iid:06d}.jpg"}
        if iid % 3:
            im["neg_category_ids"] = [12] if iid % 2 else []
            im["not_exhaustive_category_ids"] = [7, 1][: iid % 3]
        images.append(im)
        for _ in range(int(rng.integers(0, 4))):
            aid += int(rng.integers(1, 5))
            m = np.asfortranarray((rng.random((h, w)) < 0.4).astype(np.uint8))
            kind = aid % 3
            if kind == 0:
                segm = {"size": [h, w], "counts": mask_utils.encode(m)["counts"].decode()}
            elif kind == 1:
                x0, y0 = float(rng.uniform(0, w / 2)), float(rng.uniform(0, h / 2))
                segm = [[x0, y0, w - 1.5, y0, w - 1.5, h - 2.0, x0, h - 2.0], [1, 1, 2, 2]]
            else:  # uncompressed RLE (crowd)
                flat = m.flatten(order="F")
                edges = np.flatnonzero(np.diff(flat)) + 1
                runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
                segm = {"size": [h, w], "counts": ([0] if flat[0] else []) + runs}
            anns.append({"id": aid, "image_id": iid, "category_id": int(rng.choice([3, 1, 7, 12])),
                         "segmentation": segm, "bbox": [0.5, 1, 3.25, 4], "area": float(m.sum()),
                         "iscrowd": int(kind == 2)})
    rng.shuffle(anns)
    data = {"info": {"v": 1}, "annotations": anns, "images": images[::-1], "categories": cats}
    if strings:
        for im in data["images"]:
            im["id"] = str(im["id"])
            for k in ("neg_category_ids", "not_exhaustive_category_ids"):
                if k in im:
                    im[k] = [str(c) for c in im[k]]
        for c in data["categories"]:
            c["id"] = str(c["id"])
        for a in data["annotations"]:
            a["id"], a["image_id"], a["category_id"] = str(a["id"]), str(a["image_id"]), str(a["category_id"])
    return data


@pytest.mark.parametrize("strings", [False, True])
def test_lvis_style_federated_rle_and_string_ids(tmp_path, rng, strings):
    data = _lvis(rng, strings)
    a, b = _load_both(tmp_path, data)
    _assert_same(a, b)
    assert b.has_federated_fields and set(np.unique(b.segments.kind)) == {POLY, RLE_STR, RAW}
    maps = tmp_path / "maps"
    maps.mkdir()
    for r in a.images.itertuples():
        assert cv2.imwrite(str(maps / f"{r.image_id:06d}.png"),
                           rng.integers(0, 256, (r.height, r.width), dtype=np.uint8))
    want = compute_objects(a, {"m": maps}, jobs=1)
    got = compute_objects(b, {"m": maps}, jobs=1)
    pd.testing.assert_frame_equal(got.objects, want.objects)
    assert got.n_dropped_polygons == want.n_dropped_polygons > 0


def test_default_streams_large_files_only(tmp_path, rng, monkeypatch):
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(_lvis(rng)))
    assert Annotations.load(p).segments is None  # far below STREAM_BYTES
    monkeypatch.setattr(coco_mod, "STREAM_BYTES", p.stat().st_size)
    assert Annotations.load(p).segments is not None
    assert load_annotations(p, stream=False).segments is None


# ------------------------------------------------------------------------ bad files
def _tiny():
    return {
        "images": [{"id": 1, "width": 8, "height": 6, "file_name": "a.jpg"},
                   {"id": 2, "width": 8, "height": 6, "file_name": "b.jpg"}],
        "categories": [{"id": 5, "name": "dog"}, {"id": 3, "name": "cat", "supercategory": "animal"}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 5, "segmentation": [[0, 0, 2, 0, 2, 2]],
                         "area": 1.0, "bbox": [0, 0, 1, 1], "iscrowd": 0},
                        {"id": 11, "image_id": 2, "category_id": 3, "segmentation": [[0, 0, 2, 0, 2, 2]],
                         "area": 1.0, "bbox": [0, 0, 1, 1], "iscrowd": 0}],
    }


def _set(where, i, **kw):
    return lambda d: d[where][i].update(kw)


def _pop(where, i, key):
    return lambda d: d[where][i].pop(key)


def _all(*fns):
    return lambda d: [f(d) for f in fns]


_MUTATIONS = [
    _set("annotations", 0, image_id=99), _set("annotations", 1, category_id=42),
    lambda d: d["images"].append(dict(d["images"][0])),
    lambda d: d["annotations"].append(dict(d["annotations"][0])),
    _pop("images", 0, "width"), _pop("images", 1, "id"), _pop("annotations", 1, "category_id"),
    _pop("categories", 0, "name"),
    lambda d: d["categories"].append({"id": 9, "name": "dog"}),
    lambda d: d["categories"].append({"id": 5, "name": "cow"}),
    lambda d: d["categories"].clear(), lambda d: d.pop("annotations"), lambda d: d.pop("images"),
    lambda d: d.update(images={"a": 1}), lambda d: d.update(annotations=7),
    _set("annotations", 0, bbox=[1, 1, -2, 3]), _set("annotations", 0, bbox=[0, 0, 2]),
    _set("annotations", 0, bbox="0 0 2 2"), _set("annotations", 1, bbox=[0, 0, None, 2]),
    _all(_set("annotations", 0, bbox=[0, 0, True, 2]), _set("annotations", 1, bbox=[0, 0, 2])),
    _all(_set("annotations", 0, bbox=[0, 0, "1", 2]), _set("annotations", 1, bbox=[0, -1, 2, 2])),
    lambda d: [d["annotations"][0].pop(k) for k in ("bbox", "segmentation")],
    _set("annotations", 0, category_id="5"), _set("annotations", 0, image_id="1"),
    lambda d: [c.update(id=str(c["id"])) for c in d["categories"]],
    _set("categories", 0, id="5"), _set("images", 1, id=2.5), _set("images", 1, id="b2"),
    _set("images", 1, id=None), _set("annotations", 0, id=True), _set("annotations", 1, id="11"),
    _set("annotations", 0, category_id=5.0), _set("images", 0, neg_category_ids=["3"]),
    _set("images", 0, neg_category_ids=[4]), _set("images", 0, not_exhaustive_category_ids=3),
    _set("images", 0, width="427.0"), _set("images", 0, height=None), _set("images", 0, width=427.9),
    _set("categories", 0, name=None),
    # two faults at once: the same one is named (the in-memory reader's order of checks)
    _all(_set("annotations", 1, bbox=[-1, 0, 1, 1]), _set("annotations", 0, image_id=99)),
    _all(_set("images", 0, width=2.5), _set("annotations", 1, category_id=42)),
    _all(_set("annotations", 1, image_id=99), lambda d: d["annotations"].append(dict(d["annotations"][0]))),
    _all(_set("annotations", 1, id=10), _set("annotations", 0, image_id="1")),
    _all(_pop("annotations", 1, "id"), _set("images", 0, id="x")),
    _all(_set("images", 1, id=1), _set("categories", 0, name=3)),
]


@pytest.mark.parametrize("k", range(len(_MUTATIONS)))
def test_bad_files_give_the_same_line(tmp_path, k):
    d = _tiny()
    _MUTATIONS[k](d)
    message = _same_error(tmp_path, d)
    assert "\n" not in message


@pytest.mark.parametrize("content, message", [
    ('{"images": [], "categories": [', "malformed JSON"), ("", "file is empty"),
    ("[1, 2]", "top level is not a JSON object"), ('"text"', "top level is not a JSON object"),
    ('{"images": [], "categories": [{"id": 1, "name": "a"}], "annotations": [{"id": 1, "image_id": NaN}]}',
     "malformed JSON"),
])
def test_malformed_json_is_one_line(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(InputError, match=message) as exc:
        Annotations.load(p, stream=True)
    assert str(exc.value).startswith(f"{p}: ") and "\n" not in str(exc.value)


def test_not_utf8_is_one_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b'{"images": [{"id": 1, "width": 2, "height": 2, "file_name": "\xff"}], '
                  b'"categories": [{"id": 1, "name": "a"}], "annotations": []}')
    with pytest.raises(InputError, match=r"malformed JSON: lexical error: invalid bytes in UTF8") as exc:
        Annotations.load(p, stream=True)
    assert "\n" not in str(exc.value) and "b'" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        Annotations.load(tmp_path / "nope.json", stream=True)


@pytest.mark.parametrize("segm", [
    [[1, 1, 5, 1, 5]], [[1, 1, 5, 1, 5, "x"]], [[1, 1, 5, 1, 5, None]], [[[1, 1], [5, 1], [5, 5]]],
    {"size": [4, 4], "counts": [64]}, {"size": [8, 6], "counts": [10, 5]}, None, 7, [3],
    {"size": [6, 8], "counts": "3X12~"}, {"size": [6], "counts": "38"}, {"size": [6, 8]},
    [[1, 1, 30, 1, 30, 5]], [[1e10, 1, 5, 1, 5, 5]],
])
def test_malformed_segmentations_give_the_same_line(tmp_path, segm):
    d = _tiny()
    d["annotations"][1]["segmentation"] = [[0, 0, 1, 0, 1]]  # a later fault: the first one is named
    if segm is None:
        del d["annotations"][0]["segmentation"]
    else:
        d["annotations"][0]["segmentation"] = segm
    _same_error(tmp_path, d, lambda ann: compute_objects(ann, jobs=1))


@pytest.mark.parametrize("segm", [
    [["a", "b"], [1, 1, 5, 1, 5, 5]],  # a bad polygon too short to be read is dropped, as in memory
    [[1, 1, 5, 1, 5, True]], [], [[]], [[1, 1, 5, 1, 5, 5], [2, 2, 3, 3]],
    {"size": [6, 8], "counts": [10, 5, 33]},
    {"size": [6, 8], "counts": mask_utils.encode(np.asfortranarray(np.eye(6, 8, dtype=np.uint8)))["counts"].decode()},
])
def test_odd_but_readable_segmentations_give_the_same_objects(tmp_path, segm):
    d = _tiny()
    d["annotations"][0]["segmentation"] = copy.deepcopy(segm)
    a, b = _load_both(tmp_path, d)
    want, got = compute_objects(a, jobs=1), compute_objects(b, jobs=1)
    pd.testing.assert_frame_equal(got.objects, want.objects)
    assert got.n_dropped_polygons == want.n_dropped_polygons


def test_boxes_numpy_reads_are_kept_as_in_memory(tmp_path):
    # json + numpy read [0, 0, true, "2"] as four floats; the streamed file keeps that rule
    d = _tiny()
    d["annotations"][0]["bbox"] = [0, 0, True, "2"]
    d["annotations"][1]["area"] = "3.5"
    a, b = _load_both(tmp_path, d)
    _assert_same(a, b, same_raw_boxes=False)  # ann() of the streamed file: the box as read, floats
    assert b.ann(10)["bbox"] == [0.0, 0.0, 1.0, 2.0]
    assert b.instances["bbox_w"].iloc[0] == 1.0 and b.instances["area"].iloc[1] == 3.5


def test_cli_objects_on_a_streamed_file_equal(demo, tmp_path, monkeypatch, capsys):
    # the command line streams by file size; two worker processes get the streamed objects' chunks
    from salanalysis.cli import main

    outs, calls = [], []
    real = coco_mod.read_stream
    monkeypatch.setattr(coco_mod, "read_stream", lambda path, **kw: calls.append(path) or real(path, **kw))
    for limit in (coco_mod.STREAM_BYTES, 0):
        monkeypatch.setattr(coco_mod, "STREAM_BYTES", limit)
        out = tmp_path / f"objects_{limit}.parquet"
        rc = main(["objects", "--annotations", str(demo.annotations), "--saliency", f"salicon={demo.saliency}",
                   "--out", str(out), "--jobs", "2", "--quiet"])
        assert rc == 0
        outs.append(pd.read_parquet(out))
        assert (len(calls) > 0) == (limit == 0)  # the second run streamed, the first did not
    capsys.readouterr()
    assert len(outs[0]) == 830
    pd.testing.assert_frame_equal(outs[1], outs[0])


# ------------------------------------------------------------------- hostile files
def _depth_reference(text: str) -> int:
    """Bracket depth outside strings, one character at a time."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_depth_scan_equals_a_character_loop(tmp_path, chunk):
    from salanalysis._coco_stream import max_depth

    rng = np.random.default_rng(chunk)
    texts = ['{"a": [[1, 2], {"b": "x[[[y"}], "c": "\\\\"}', '["\\"[[[", [[["\\\\\\"]]]"]]]',
             '{"k\\\\": [["\\\\\\\\", "]]"], [[[]]]]}']
    for _ in range(30):  # random well-formed nestings with brackets, quotes and backslashes in strings
        parts = [json.dumps("".join(rng.choice(list('[]{}"\\ab'), size=int(rng.integers(0, 6)))))
                 for _ in range(4)]
        d = int(rng.integers(1, 9))
        texts.append("[" * d + ", ".join(parts) + "]" * d)
    for text in texts:
        p = tmp_path / "t.json"
        p.write_text(text)
        assert max_depth(p, chunk) == _depth_reference(text), text


def test_hostile_files_are_refused_in_one_line(tmp_path):
    from salanalysis.limits import LimitError

    p = tmp_path / "deep.json"
    p.write_text('{"images": ' + "[" * 1_000_000 + "]" * 1_000_000 + "}")
    with pytest.raises(InputError, match="malformed JSON: nested too deeply to read"):
        Annotations.load(p, stream=True)  # ijson itself would need terabytes for its prefixes
    p.write_text('{"images": ' + "9" * 400 + "}")
    with pytest.raises(InputError, match="malformed JSON: .*integer overflow") as exc:
        Annotations.load(p, stream=True)
    assert "\n" not in str(exc.value)
    d = _tiny()
    d["images"][1].update(width=60000, height=60000)
    assert "declares 60,000 x 60,000" in _same_error(tmp_path, d)
    with pytest.raises(LimitError):
        Annotations.load(tmp_path / "inst.json", stream=True)
    d["images"][1].update(width="abc")
    assert "images[1] (id 2): width must be a number, got 'abc'" in _same_error(tmp_path, d)


def _random_segmentation(rng, h, w):
    k = int(rng.integers(0, 40))  # 1 in 40 each: one of three malformed kinds
    if k < 16:  # polygons, some short, ints or floats
        return [np.round(rng.uniform(-2, max(h, w) + 2, 2 * int(rng.integers(1, 7))), int(rng.integers(0, 3))).tolist()
                for _ in range(int(rng.integers(0, 3)))]
    m = np.asfortranarray((rng.random((h, w)) < 0.3).astype(np.uint8))
    if k < 28:
        return {"size": [h, w], "counts": mask_utils.encode(m)["counts"].decode()}
    if k < 37:
        flat = m.flatten(order="F")
        edges = np.flatnonzero(np.diff(flat)) + 1
        runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
        return {"size": [h, w], "counts": ([0] if flat[0] else []) + runs}
    if k == 38:  # a well-formed RLE of another size (a mask pycocotools decodes; the object table refuses it)
        return {"size": [h + 1, w], "counts": mask_utils.encode(np.asfortranarray(
            np.zeros((h + 1, w), dtype=np.uint8)))["counts"].decode()}
    return [[1, 1, 4, 1, 4, "x"]] if k == 37 else [[1, 2, 3]]


@pytest.mark.parametrize("seed", range(16))
def test_random_files_same_objects_or_same_error(tmp_path, seed):
    rng = np.random.default_rng([28, seed])
    images, anns = [], []
    for iid in range(1, 6):
        h, w = int(rng.integers(4, 12)), int(rng.integers(4, 12))
        images.append({"id": iid, "width": w, "height": h, "file_name": f"{iid}.jpg"})
        for _ in range(int(rng.integers(0, 4))):
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": int(rng.integers(1, 3)),
                         "segmentation": _random_segmentation(rng, h, w), "bbox": [0, 0, 1, 1],
                         "iscrowd": int(rng.random() < 0.2)})
    d = {"images": images, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "annotations": anns}
    a, b = _load_both(tmp_path, d)
    _assert_same(a, b)
    try:
        want = compute_objects(a, jobs=1)
    except InputError:
        _same_error(tmp_path, d, lambda ann: compute_objects(ann, jobs=1))
        return
    got = compute_objects(b, jobs=1)
    pd.testing.assert_frame_equal(got.objects, want.objects)
    assert (got.n_clipped, got.n_dropped_polygons) == (want.n_clipped, want.n_dropped_polygons)
