"""Saliency map sources: matching rules, map patterns, colour images, results JSON, resize, normalisation, errors."""

from __future__ import annotations

import base64
import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from salanalysis.cli import main
from salanalysis.errors import InputError, InputWarning
from salanalysis.maps import (
    NOTE_ALPHA,
    NOTE_COLOUR,
    MapSource,
    load_map,
    normalize_map,
    read_map,
    read_results_json,
    write_results_json,
)
from salanalysis.objects import compute_objects


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


# ------------------------------------------------ folders as released: photos, suffixes, duplicates
PHOTO = "COCO_val2014_000000000192.jpg"


def _gray(demo, iid: int) -> np.ndarray:
    return cv2.imread(str(demo.saliency / f"COCO_val2014_{iid:012d}.png"), cv2.IMREAD_UNCHANGED)


def _released(tmp_path, demo, suffix="_final_bw"):
    """A folder as a saliency model releases it: the photo beside each map, maps with a suffix."""
    folder = tmp_path / "released"
    folder.mkdir()
    shutil.copy(demo.images / PHOTO, folder / PHOTO)
    for iid in (192, 208):
        shutil.copy(demo.saliency / f"COCO_val2014_{iid:012d}.png", folder / f"COCO_val2014_{iid:012d}{suffix}.png")
    (folder / "readme.txt").write_text("maps of a made-up model")
    return folder


def test_a_photo_is_refused_as_a_map(tmp_path, demo, demo_ann):
    folder = _released(tmp_path, demo)
    src = MapSource(folder, "s")  # no pattern: the photo matches image 192 by its name
    with pytest.raises(InputError, match="a colour image .* not a grayscale saliency map") as exc:
        src.load(192, 480, 640, PHOTO)
    assert str(exc.value).startswith(str(folder / PHOTO)) and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="colour image"):
        compute_objects(demo_ann, {"s": src}, jobs=1)
    # the colour rule 'luminance' reads it: 0.299 R + 0.587 G + 0.114 B (OpenCV rounds in fixed point)
    lum = MapSource(folder, "s", normalize=False, colour="luminance").load(192, 480, 640, PHOTO)
    b, g, r = (cv2.imread(str(folder / PHOTO)).astype(np.float64)[..., k] for k in range(3))
    np.testing.assert_allclose(lum, 0.299 * r + 0.587 * g + 0.114 * b, atol=1.0)
    _, notes = read_map(folder / PHOTO, colour="luminance")
    assert notes == NOTE_COLOUR


def test_gray_maps_stored_with_colour_channels_are_read_exactly(tmp_path, demo):
    gray = _gray(demo, 192)
    cv2.imwrite(str(tmp_path / "bgr.png"), cv2.merge([gray, gray, gray]))
    opaque = cv2.merge([gray, gray, gray, np.full_like(gray, 255)])
    cv2.imwrite(str(tmp_path / "opaque.png"), opaque)
    see_through = opaque.copy()
    see_through[:10, :10, 3] = 0
    cv2.imwrite(str(tmp_path / "alpha.png"), see_through)
    for name, note in (("bgr.png", 0), ("opaque.png", 0), ("alpha.png", NOTE_ALPHA)):
        arr, notes = read_map(tmp_path / name, normalize=False)
        np.testing.assert_array_equal(arr, gray.astype(np.float32))
        assert notes == note, name


def test_map_pattern_skips_the_photos(tmp_path, demo, demo_ann):
    folder = _released(tmp_path, demo)
    src = MapSource(folder, "s", pattern="{stem}_final_bw")
    assert src.skipped == [PHOTO] and src.other_files == ["readme.txt"] and src.n_files == 2
    matched = src.match(demo_ann.images).dropna()
    assert {k: v.name for k, v in matched.items()} == {192: "COCO_val2014_000000000192_final_bw.png",
                                                      208: "COCO_val2014_000000000208_final_bw.png"}
    ref = compute_objects(demo_ann, {"s": demo.saliency}, jobs=1).objects
    got = compute_objects(demo_ann, {"s": src}, jobs=2).objects
    pd.testing.assert_frame_equal(got, ref)
    # '{id}' patterns, and the pattern with its extension
    ids = tmp_path / "ids"
    ids.mkdir()
    shutil.copy(demo.saliency / "COCO_val2014_000000000192.png", ids / "sal_000192.png")
    assert MapSource(ids, pattern="sal_{id}").find(192, PHOTO).name == "sal_000192.png"
    assert MapSource(ids, pattern="sal_{id}.png").find(192, PHOTO).name == "sal_000192.png"
    for bad in ("{stem}_{id}", "maps", "{name}_x", "{stem"):
        with pytest.raises(InputError, match="map pattern"):
            MapSource(ids, pattern=bad)


def test_no_match_names_the_expected_map_names(tmp_path, demo, demo_ann):
    folder = _released(tmp_path, demo)
    with pytest.raises(InputError, match=r"no file of source 's' matches the map pattern '\{stem\}_imgt' "
                                         r"\(the folder holds e.g. COCO_val2014_000000000192.jpg"):
        MapSource(folder, "s", pattern="{stem}_imgt")
    others = tmp_path / "others"
    others.mkdir()
    shutil.copy(demo.saliency / "COCO_val2014_000000000192.png", others / "COCO_val2014_000000999999_final_bw.png")
    with pytest.raises(InputError) as exc:
        compute_objects(demo_ann, {"s": MapSource(others, "s", pattern="{stem}_final_bw")}, jobs=1)
    msg = str(exc.value)
    assert "expected e.g. COCO_val2014_000000000042_final_bw.png, 000000000042_final_bw.png or 42_final_bw.png " \
        "for image 42, map pattern '{stem}_final_bw'" in msg and "holds names like COCO_val2014_000000999999_final_bw.png" in msg


def test_two_maps_for_one_image_are_an_error(tmp_path, demo):
    gray = _gray(demo, 192)
    cv2.imwrite(str(tmp_path / "COCO_val2014_000000000192.png"), gray)
    cv2.imwrite(str(tmp_path / "192.png"), gray)
    src = MapSource(tmp_path)
    for name in (PHOTO, "000000000192.jpg", None):
        with pytest.raises(InputError, match="several maps match image 192: 192.png, COCO_val2014_000000000192.png"):
            src.find(192, name)
    # a map named for another split is not a match for a COCO_val2014 image
    (tmp_path / "192.png").unlink()
    cv2.imwrite(str(tmp_path / "COCO_test2014_000000000192.png"), gray)
    src = MapSource(tmp_path)
    assert src.find(192, PHOTO).name == "COCO_val2014_000000000192.png"
    with pytest.raises(InputError, match="several maps match image 192"):
        src.find(192, "000000000192.jpg")  # a 2017 name has no split: both match


# ------------------------------------------------ SALICON results JSON
def _results_json(demo, path, ids=(192, 208)):
    entries = [{"image_id": i, "saliency_map": base64.b64encode(
        (demo.saliency / f"COCO_val2014_{i:012d}.png").read_bytes()).decode("ascii")} for i in ids]
    path.write_text(json.dumps(entries))
    return path


def test_results_json_is_a_map_source(tmp_path, demo, demo_ann):
    path = _results_json(demo, tmp_path / "results.json")
    src = MapSource(path, "s")
    folder = MapSource(demo.saliency, "s")
    assert src.kind == "results-json" and src.n_files == 2
    for iid in (192, 208):
        name = f"COCO_val2014_{iid:012d}.jpg"
        np.testing.assert_array_equal(src.load(iid, 480, 640, name), folder.load(iid, 480, 640, name))
        np.testing.assert_array_equal(read_map(src.find(iid), normalize=False)[0], _gray(demo, iid))
    ref = compute_objects(demo_ann, {"s": folder}, jobs=1).objects
    pd.testing.assert_frame_equal(compute_objects(demo_ann, {"s": path}, jobs=2).objects, ref)


def test_results_json_written_and_read_back(tmp_path, rng):
    maps = [(5, rng.random((6, 8))), (192, np.eye(4))]
    path = write_results_json(maps, tmp_path / "out.json")
    back = read_results_json(path)
    assert sorted(back) == [5, 192]
    for iid, arr in maps:
        got, _ = read_map(back[iid], normalize=False)
        np.testing.assert_array_equal(got, np.round(arr * 255).astype(np.float32))
    with pytest.raises(InputError, match="two maps for image 5"):
        write_results_json([(5, np.eye(2)), (5, np.eye(2))], tmp_path / "dup.json")
    assert not (tmp_path / "dup.json").exists()


@pytest.mark.parametrize("content, message", [
    ({"image_id": 1}, "not a SALICON results JSON: expected a list"),
    ([], "holds no maps"),
    ([{"image_id": 1}], "entry 0 lacks image_id or saliency_map"),
    ([{"image_id": "x", "saliency_map": "aGk="}], "entry 0: image_id must be an integer"),
    ([{"image_id": 1, "saliency_map": 3}], r"entry 0 \(image 1\): saliency_map must be a base64-encoded image"),
    ([{"image_id": 1, "saliency_map": "aGk="}, {"image_id": 1, "saliency_map": "aGk="}],
     r"two maps for image 1 \(entries 0 and 1\)"),
])
def test_malformed_results_json(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match=message):
        MapSource(path, "s")


def test_undecodable_results_entries_name_the_image(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"image_id": 7, "saliency_map": "not base64 at all!"},
                                {"image_id": 8, "saliency_map": base64.b64encode(b"no image").decode()}]))
    src = MapSource(path, "s")
    with pytest.raises(InputError, match=r"r.json \(image 7\): saliency_map is not valid base64"):
        src.load(7, 2, 2)
    with pytest.raises(InputError, match=r"r.json \(image 8\): cannot decode saliency map image"):
        src.load(8, 2, 2)


# ------------------------------------------------ reading rules that are reported
def test_stretched_and_constant_maps_are_reported_once(tmp_path, demo, demo_ann):
    for iid in (192, 208):  # landscape 640x480 images, portrait maps
        cv2.imwrite(str(tmp_path / f"{iid}.png"), cv2.resize(_gray(demo, iid), (480, 640)))
    with pytest.warns(InputWarning) as rec:
        res = compute_objects(demo_ann, {"s": tmp_path}, jobs=2)
    messages = [str(w.message) for w in rec if issubclass(w.category, InputWarning)]
    assert len(messages) == 1 and "2 map(s) of another aspect ratio than their image, stretched" in messages[0]
    assert res.map_notes["s"] == {"stretched": 2, "constant": 0, "alpha_ignored": 0, "colour_converted": 0}
    flat = tmp_path / "flat"
    flat.mkdir()
    cv2.imwrite(str(flat / "208.png"), np.full((480, 640), 7, np.uint8))
    with pytest.warns(InputWarning, match=r"1 constant map\(s\): no saliency, read as all zeros, e.g. 208.png"):
        res = compute_objects(demo_ann, {"s": flat}, jobs=1)
    assert (res.objects.loc[res.objects.image_id == 208, "sal_max_s"] == 0).all()


def test_opencv_messages_do_not_leak(tmp_path, demo, capfd):
    data = (demo.saliency / "COCO_val2014_000000000192.png").read_bytes()
    (tmp_path / "COCO_val2014_000000000192.png").write_bytes(data[: len(data) // 2])  # truncated
    rc = main(["objects", "--annotations", str(demo.annotations), "--saliency", f"s={tmp_path}",
               "--jobs", "1", "--out", str(tmp_path / "o")])
    err = capfd.readouterr().err
    assert rc == 2 and not (tmp_path / "o").exists()
    assert err.splitlines() == [f"salanalysis: error: {tmp_path / 'COCO_val2014_000000000192.png'}: cannot decode "
                                "saliency map image (corrupted or not an image)"]


# ------------------------------------------------ on the command line and in a configuration
def test_commands_read_released_folders(tmp_path, demo, capsys):
    folder = _released(tmp_path, demo)
    base = ["--annotations", str(demo.annotations), "--saliency", f"tempsal={folder}"]
    out = tmp_path / "o"
    assert main(["objects", *base, "--jobs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "colour image" in err and PHOTO in err and not out.exists()
    assert main(["objects", *base, "--map-pattern", "tempsal={stem}_final_bw", "--jobs", "1", "--out", str(out)]) == 0
    assert pd.read_csv(out / "objects.csv")["sal_max_tempsal"].notna().sum() == 9  # the objects of images 192 and 208
    assert main(["objects", *base, "--map-pattern", "other={stem}_x", "--out", str(out)]) == 2
    assert "no saliency source named 'other'" in capsys.readouterr().err
    # inspect says what it would use and what it skips
    assert main(["inspect", *base]) == 0
    text = capsys.readouterr().out
    assert "colour maps refused          1" in text and PHOTO in text
    assert main(["inspect", *base, "--map-pattern", "{stem}_final_bw"]) == 0
    text = capsys.readouterr().out
    assert "files skipped                1" in text and "colour maps refused          0" in text
    assert "files other type             1  (ignored)  e.g. readme.txt" in text


def test_convert_and_evaluate_results_json(tmp_path, demo, capsys):
    path = tmp_path / "r.json"
    assert main(["saliency", "convert", "--from", str(demo.saliency), "--out", str(path)]) == 0
    assert main(["saliency", "convert", "--from", str(path), "--out", str(tmp_path / "maps"), "--split", "val"]) == 0
    for iid in (192, 208):  # the round trip keeps every value
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / "maps" / f"COCO_val2014_{iid:012d}.png"), cv2.IMREAD_UNCHANGED), _gray(demo, iid))
    assert main(["saliency", "convert", "--from", str(path), "--out", str(tmp_path / "ids")]) == 0
    assert sorted(p.name for p in (tmp_path / "ids").iterdir()) == ["000000000192.png", "000000000208.png"]
    assert main(["saliency", "evaluate", "--pred", str(path), "--gt-maps", str(demo.saliency),
                 "--out", str(tmp_path / "e.csv")]) == 0
    t = pd.read_csv(tmp_path / "e.csv")
    assert t["CC"].iloc[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    capsys.readouterr()
    assert main(["saliency", "convert", "--from", str(path), "--out", str(tmp_path / "again.json")]) == 2
    assert "both results JSONs" in capsys.readouterr().err


def test_results_json_and_patterns_in_a_configuration(tmp_path, demo):
    from salanalysis.config import config_from_dict
    from salanalysis.reproduce.run import Runner

    path = _results_json(demo, tmp_path / "r.json")
    folder = _released(tmp_path, demo)
    data = {"inputs": {"annotations": str(demo.annotations)},
            "saliency": {"pred": str(path),
                         "tempsal": {"path": str(folder), "pattern": "{stem}_final_bw", "colour": "refuse"}},
            "scores": {"d": str(demo.detections)}}
    cfg = config_from_dict(data, tmp_path / "c.toml")
    pred, tempsal = cfg.saliency
    assert pred.path == path and tempsal.pattern == "{stem}_final_bw"
    assert tempsal.map_source().find(192, PHOTO).name == "COCO_val2014_000000000192_final_bw.png"
    assert pred.map_source().kind == "results-json"
    # the reproduce cache keys a results JSON by its content and a folder by its maps and pattern
    run = Runner(cfg, tmp_path / "out", False, False, None)
    key = run.source_digest(pred)
    assert key.startswith("json:") and key == Runner(cfg, tmp_path / "o2", False, False, None).source_digest(pred)
    _results_json(demo, path, ids=(192,))
    assert Runner(cfg, tmp_path / "o3", False, False, None).source_digest(pred) != key
    other = config_from_dict({**data, "saliency": {"tempsal": {"path": str(folder), "pattern": "{stem}_x"}}},
                             tmp_path / "c.toml")
    assert run.source_digest(other.saliency[0]) != run.source_digest(tempsal)
    for bad, msg in (({"path": str(folder), "colour": "rgb"}, "'saliency.tempsal.colour' must be"),
                     ({"path": str(folder), "pattern": "x"}, "'saliency.tempsal.pattern': map pattern"),
                     ({"builtin": "center-bias", "pattern": "{stem}"}, "apply to map folders")):
        with pytest.raises(InputError, match=msg):
            config_from_dict({**data, "saliency": {"tempsal": bad}}, tmp_path / "c.toml")


def test_a_broken_symlink_in_a_map_folder_is_named(demo, tmp_path, capsys):
    # a link whose target is gone was counted silently as "no map"
    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.copy(demo.saliency / "COCO_val2014_000000000192.png", maps)
    (maps / "COCO_val2014_000000000208.png").symlink_to(tmp_path / "gone" / "208.png")
    with pytest.warns(InputWarning, match=r"1 broken symbolic link\(s\), e.g. COCO_val2014_000000000208.png"):
        src = MapSource(maps, "sal")
    assert src.broken_links == ["COCO_val2014_000000000208.png"] and src.n_files == 1
    assert main(["inspect", "--annotations", str(demo.annotations), "--saliency", f"sal={maps}"]) == 0
    captured = capsys.readouterr()
    line = next(x for x in captured.out.splitlines() if "broken links" in x)
    assert "1" in line and "COCO_val2014_000000000208.png" in line
    assert "broken symbolic link" in captured.err
    out = tmp_path / "objects.csv"
    assert main(["objects", "--annotations", str(demo.annotations), "--saliency", f"sal={maps}",
                 "--jobs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(1 broken link(s) in the folder, e.g. COCO_val2014_000000000208.png)" in printed
