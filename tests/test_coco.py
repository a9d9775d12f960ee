"""Annotations: counts on the real 100-image file, masks against pycocotools, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from salanalysis.coco import COCO80, Annotations, is_coco80
from salanalysis.errors import InputError


def test_real_file_counts(demo_ann):
    a = demo_ann
    assert len(a.images) == 100
    assert len(a.instances) == 839
    assert len(a.categories) == 80
    assert a.instances["category_id"].nunique() == 70
    assert int(a.instances["iscrowd"].sum()) == 9
    assert len(a.instances_for(include_crowd=False)) == 830
    # tables are sorted and typed as documented
    assert a.images["image_id"].is_monotonic_increasing
    assert list(a.categories["index"]) == list(range(80))
    assert a.categories["category_id"].is_monotonic_increasing
    assert list(a.images.columns) == ["image_id", "file_name", "width", "height"]
    assert list(a.instances.columns) == [
        "ann_id", "image_id", "category_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "iscrowd",
    ]
    assert list(a.categories.columns) == ["category_id", "name", "supercategory", "index"]


def test_coco80_is_the_real_val2014_category_list(demo):
    # the reference: the categories of the bundled real COCO val2014 instances file, read as raw JSON
    raw = json.loads(demo.annotations.read_text())["categories"]
    assert COCO80 == {c["id"]: c["name"] for c in raw}
    assert len(COCO80) == 80 and max(COCO80) == 90
    ann = Annotations.load(demo.annotations)
    assert is_coco80(ann)
    renamed = [dict(c, name="tv monitor") if c["id"] == 72 else c for c in raw]
    assert not is_coco80(Annotations({"images": [], "annotations": [], "categories": renamed}))
    assert not is_coco80(Annotations({"images": [], "annotations": [], "categories": raw[:3]}))


def test_masks_equal_pycocotools(demo, demo_ann):
    ref = COCO(str(demo.annotations))
    for ann_id in demo_ann.instances["ann_id"]:
        expected = ref.annToMask(ref.anns[int(ann_id)])
        np.testing.assert_array_equal(demo_ann.mask(int(ann_id)), expected)


def test_label_matrix_and_object_counts(demo, demo_ann):
    raw = json.loads(demo.annotations.read_text())
    cats = sorted(c["id"] for c in raw["categories"])
    imgs = sorted(im["id"] for im in raw["images"])
    y = demo_ann.label_matrix(include_crowd=True)
    expected = np.zeros_like(y)
    for a in raw["annotations"]:
        expected[imgs.index(a["image_id"]), cats.index(a["category_id"])] = True
    np.testing.assert_array_equal(y, expected)
    y_nc = demo_ann.label_matrix(include_crowd=False)
    assert y_nc.sum() <= y.sum() and (y_nc <= y).all()
    n = demo_ann.n_objects()
    manual = {}
    for a in raw["annotations"]:
        if not a["iscrowd"]:
            manual[a["image_id"]] = manual.get(a["image_id"], 0) + 1
    assert all(n[i] == manual.get(i, 0) for i in imgs)
    assert int(n.sum()) == 830


def _tiny(segmentation, h=6, w=8, **extra):
    return {
        "images": [{"id": 1, "width": w, "height": h, "file_name": "a.jpg"},
                   {"id": 2, "width": w, "height": h, "file_name": "b.jpg"}],
        "categories": [{"id": 5, "name": "dog"}, {"id": 3, "name": "cat", "supercategory": "animal"}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 5, "segmentation": segmentation,
                         "area": 1.0, "bbox": [0, 0, 1, 1], "iscrowd": extra.get("iscrowd", 0)}],
    }


def test_polygon_uncompressed_and_compressed_rle():
    m = np.zeros((6, 8), dtype=np.uint8)
    m[1:4, 2:7] = 1  # 3 rows x 5 cols = 15 pixels
    rle = mask_utils.encode(np.asfortranarray(m))
    # uncompressed RLE: column-major run lengths starting with zeros
    flat = m.flatten(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    for seg in ({"counts": counts, "size": [6, 8]},
                {"counts": rle["counts"].decode(), "size": [6, 8]}):
        a = Annotations(_tiny(seg, iscrowd=1))
        np.testing.assert_array_equal(a.mask(10), m)
        assert bool(a.instances["iscrowd"].iloc[0])
    poly = [[2.0, 1.0, 7.0, 1.0, 7.0, 4.0, 2.0, 4.0]]
    a = Annotations(_tiny(poly))
    ref = COCO()
    ref.dataset = _tiny(poly)
    ref.createIndex()
    np.testing.assert_array_equal(a.mask(10), ref.annToMask(ref.anns[10]))
    # categories in id order whatever the file order, any number of classes
    assert list(a.categories["name"]) == ["cat", "dog"]
    assert a.category_index(5) == 1
    # image 2 has no annotation: an all-negative row
    assert a.label_matrix().tolist() == [[False, True], [False, False]]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"images": [], "categories": [', "malformed JSON at line 1 column"),
        ("", "file is empty"),
        ("[1, 2]", "top level is not a JSON object"),
        ('{"images": []}', "missing 'categories'"),
        # an image-info file (image_info_test2014.json) holds no annotations: not ground truth
        ('{"images": [{"id": 1, "width": 2, "height": 2}], "categories": [{"id": 1, "name": "a"}]}',
         "missing 'annotations'"),
    ],
)
def test_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(InputError, match=message) as exc:
        Annotations.load(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        Annotations.load(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["annotations"][0].update(image_id=99), "unknown image id 99"),
        (lambda d: d["annotations"][0].update(category_id=42), "unknown category id 42"),
        (lambda d: d["images"].append(dict(d["images"][0])), "duplicate image id 1"),
        (lambda d: d["annotations"].append(dict(d["annotations"][0])), "duplicate annotation id 10"),
        (lambda d: d["images"][0].pop("width"), r"images\[0\] lacks width"),
        (lambda d: d["categories"].append({"id": 9, "name": "dog"}), "duplicate category name"),
        (lambda d: d["annotations"][0].update(bbox=[1, 1, -2, 3]), r"annotation 10: bbox .* holds a negative"),
        (lambda d: d["annotations"][0].update(bbox=[-1, 0, 2, 3]), r"annotation 10: bbox .* holds a negative"),
        (lambda d: d["annotations"][0].update(bbox=[0, 0, float("nan"), 3]), "annotation 10: bbox holds a non-finite"),
        (lambda d: d["annotations"][0].update(bbox=[0, 0, float("inf"), 3]), "annotation 10: bbox holds a non-finite"),
        (lambda d: d["annotations"][0].update(bbox=[0, 0, 2]), "annotation 10: bbox must be four numbers"),
        (lambda d: d["annotations"][0].update(bbox="0 0 2 2"), "annotation 10: bbox must be four numbers"),
    ],
)
def test_inconsistent_files(tmp_path, mutate, message):
    d = _tiny([[0.0, 0.0, 2.0, 0.0, 2.0, 2.0]])
    mutate(d)
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match=message):
        Annotations.load(p)


def test_annotations_list_and_boxes_on_the_command_line(tmp_path, demo, capsys):
    from salanalysis.cli import main

    d = _tiny([[0.0, 0.0, 2.0, 0.0, 2.0, 2.0]])
    d["annotations"][0]["bbox"] = [0, 0, -1, 2]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    out = tmp_path / "o"
    assert main(["objects", "--annotations", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"salanalysis: error: {bad}: annotation 10: bbox") and len(err.splitlines()) == 1
    assert not (out / "objects.csv").exists()
    d.pop("annotations")
    bad.write_text(json.dumps(d))
    assert main(["objects", "--annotations", str(bad), "--out", str(out)]) == 2
    assert "missing 'annotations'" in capsys.readouterr().err and not (out / "objects.csv").exists()
    d["annotations"] = []  # images without objects, said so: a 0-object table
    bad.write_text(json.dumps(d))
    assert main(["objects", "--annotations", str(bad), "--out", str(out)]) == 0 and (out / "objects.csv").exists()


# --------------------------------------------------------------- ids and sizes as converters write them
def _stringified(raw: dict, images=True, categories=True, annotations=True) -> dict:
    d = json.loads(json.dumps(raw))
    if images:
        for im in d["images"]:
            im["id"] = str(im["id"])
        for a in d["annotations"]:
            a["image_id"] = str(a["image_id"])
    if categories:
        for c in d["categories"]:
            c["id"] = str(c["id"])
        for a in d["annotations"]:
            a["category_id"] = str(a["category_id"])
    if annotations:
        for a in d["annotations"]:
            a["id"] = str(a["id"])
    return d


@pytest.mark.parametrize("which", [dict(), dict(images=False, annotations=False),
                                   dict(categories=False, annotations=False)])
def test_string_ids_read_as_the_integers_they_spell(tmp_path, demo, demo_ann, which):
    # '"id": "18"' as some converters write: the numbers equal the integer file's, no column shift
    # (sorted as strings, '18' < '2' put 'traffic light' in the 'bicycle' column: C-R 9.4 instead of 43.4)
    from salanalysis.metrics import run_metrics
    from salanalysis.objects import compute_objects
    from salanalysis.scores import read_scores

    raw = json.loads(demo.annotations.read_text())
    p = tmp_path / "strings.json"
    p.write_text(json.dumps(_stringified(raw, **which)))
    a = Annotations.load(p)
    for name in ("images", "categories", "instances"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(demo_ann, name))
    np.testing.assert_array_equal(a.label_matrix(), demo_ann.label_matrix())
    ref = run_metrics(demo_ann, [("det", demo.detections)])
    got = run_metrics(a, [("det", demo.detections)])
    pd.testing.assert_frame_equal(got.tables["per_class"], ref.tables["per_class"])
    pd.testing.assert_frame_equal(got.tables["table1"], ref.tables["table1"])
    s_ref, s_got = read_scores(demo.detections, demo_ann), read_scores(demo.detections, a)
    o_ref = compute_objects(demo_ann, scores=[s_ref], jobs=1).objects
    o_got = compute_objects(a, scores=[s_got], jobs=1).objects
    pd.testing.assert_frame_equal(o_got, o_ref)
    np.testing.assert_array_equal(a.mask(int(a.instances["ann_id"].iloc[0])),
                                  demo_ann.mask(int(a.instances["ann_id"].iloc[0])))


def test_string_ids_in_a_results_file_too(tmp_path, demo, demo_ann):
    from salanalysis.scores import read_scores

    dets = json.loads(demo.detections.read_text())
    for d in dets:
        d["image_id"], d["category_id"] = str(d["image_id"]), str(d["category_id"])
    p = tmp_path / "dets.json"
    p.write_text(json.dumps(dets))
    np.testing.assert_array_equal(read_scores(p, demo_ann).scores, read_scores(demo.detections, demo_ann).scores)


_TINY_POLY = [[0.0, 0.0, 2.0, 0.0, 2.0, 2.0]]


def _strings_with_dup(d):
    d["images"].append(dict(d["images"][0], id="01"))
    for im in d["images"][:2]:
        im["id"] = str(im["id"])
    for a in d["annotations"]:
        a["image_id"] = str(a["image_id"])


@pytest.mark.parametrize(
    "mutate, message",
    [
        # a mixed-type mismatch names the type, not "unknown id 18"
        (lambda d: d["annotations"][0].update(category_id="5"),
         r"annotation 10: category_id '5' is a string; the categories use integers$"),
        (lambda d: d["annotations"][0].update(image_id="1"),
         r"annotation 10: image_id '1' is a string; the images use integers$"),
        (lambda d: [c.update(id=str(c["id"])) for c in d["categories"]],
         r"annotation 10: category_id 5 is an integer; the categories use strings of digits$"),
        (lambda d: d["categories"][0].update(id="5"), r"category id '5' is a string while other category ids"),
        (lambda d: d["images"][1].update(id=2.5), r"image id 2.5 is not an integer id \(a float\)"),
        (lambda d: d["images"][1].update(id="b2"), r"image id 'b2' is not an integer id"),
        (lambda d: d["images"][1].update(id=None), r"image id null is not an integer id \(null\)"),
        (lambda d: d["annotations"][0].update(id=True), r"annotation id True is not an integer id \(a boolean\)"),
        (lambda d: d["annotations"][0].update(category_id=5.0), r"category_id 5.0 is not an integer id"),
        (lambda d: d["images"][0].update(neg_category_ids=["3"]),
         r"image 1: 'neg_category_ids' entry '3' is a string; the categories use integers"),
        # the string "5" and the integer 5 both read as 5: one id given twice
        (lambda d: _strings_with_dup(d), "duplicate image id 1"),
        # sizes: a whole number of pixels, not a string, null or a fraction (427.9 was truncated to 427)
        (lambda d: d["images"][0].update(width="427.0"), r"image 1: width '427.0' is a string, not a number"),
        (lambda d: d["images"][0].update(height=None), r"image 1: height null is null, not a number"),
        (lambda d: d["images"][0].update(width=427.9), r"image 1: width 427.9 is not a whole number of pixels"),
        (lambda d: d["categories"][0].update(name=None), r"category 5: name None is not a string"),
    ],
)
def test_ids_and_sizes_of_another_type_are_one_line(tmp_path, mutate, message):
    d = _tiny(_TINY_POLY)
    mutate(d)
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match=message) as exc:
        Annotations.load(p)
    assert str(exc.value).startswith(f"{p}: ") and "\n" not in str(exc.value)


def test_whole_float_sizes_are_kept():
    d = _tiny(_TINY_POLY, w=8.0, h=6.0)
    a = Annotations(d)
    assert a.images["width"].tolist() == [8, 8] and a.images["height"].tolist() == [6, 6]


def test_string_ids_on_the_command_line_exit_2_with_one_line(tmp_path, demo, capsys):
    from salanalysis.cli import main

    raw = json.loads(demo.annotations.read_text())
    d = _stringified(raw, images=True, categories=False, annotations=False)
    d["annotations"][3]["image_id"] = int(d["annotations"][3]["image_id"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    out = tmp_path / "m"
    rc = main(["metrics", "--annotations", str(bad), "--scores", f"det={demo.detections}", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and not (out / "table1.csv").exists()
    assert "image_id" in err and "is an integer; the images use strings of digits" in err
