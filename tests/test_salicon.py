"""SALICON readers (2015 JSON, 2017 .mat), ground-truth maps and the fixations CLI.

Fixtures in tests/data/salicon_fixtures were written for these tests (see the
ATTRIBUTION.txt there); the bad-input variants are written per test.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from salanalysis.cli import build_parser, main
from salanalysis.errors import InputError
from salanalysis.maps import MapSource
from salanalysis.salicon import (
    FIXATION_COLUMNS,
    fixation_map,
    fixation_points_map,
    image_id_from_name,
    read_fixations,
    read_salicon_json,
    read_salicon_mat,
    salicon_name,
    write_fixation_maps,
)

FIX = Path(__file__).parent / "data" / "salicon_fixtures"
JSON = FIX / "fixations_val2014_tiny.json"


def _raw_points(path: Path) -> pd.DataFrame:
    """Independent parse of the 2015 JSON: [row, col] 1-based -> x = col - 1, y = row - 1."""
    data = json.loads(path.read_text())
    rows = []
    for a in data["annotations"]:
        for r, c in a["fixations"]:
            rows.append((a["image_id"], a["worker_id"], c - 1.0, r - 1.0))
    return pd.DataFrame(rows, columns=["image_id", "subject", "x", "y"])


def _write_mat(path: Path, fixations: list, *, resolution=(480, 640), image="COCO_val2014_000000000192", fields=None):
    fields = fields or ["location", "timestamp", "fixations"]
    gaze = np.zeros((len(fixations), 1), dtype=[(f, "O") for f in fields])
    for i, pts in enumerate(fixations):
        for f in fields:
            gaze[i, 0][f] = np.asarray(pts, dtype=float).reshape(-1, 2)
    data = {"gaze": gaze, "image": image}
    if resolution is not None:
        data["resolution"] = np.array([resolution], dtype=float)
    savemat(path, data)
    return path


def _write_json(path: Path, anns: list, images=None) -> Path:
    images = images if images is not None else [
        {"id": 192, "file_name": "COCO_val2014_000000000192.jpg", "width": 640, "height": 480}
    ]
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


# ------------------------------------------------------------------------- names
def test_names_round_trip():
    assert salicon_name(192, "val") == "COCO_val2014_000000000192"
    assert image_id_from_name("COCO_train2014_000000123855.jpg") == 123855
    assert image_id_from_name("000000000208.png") == 208
    assert image_id_from_name("holiday.jpg") is None
    with pytest.raises(InputError):
        salicon_name(1, "validation")


# ------------------------------------------------------------------------- JSON
def test_json_reader_matches_independent_parse():
    fx = read_salicon_json(JSON)
    t = fx.table
    assert list(t.columns) == list(FIXATION_COLUMNS)
    assert fx.format == "json" and fx.n_outside == 0
    assert fx.n_empty_subjects == 1  # worker 14 on image 208 has an empty list
    raw = _raw_points(JSON).sort_values(["image_id", "subject"], kind="stable").reset_index(drop=True)
    assert len(t) == len(raw) == 16
    np.testing.assert_array_equal(t["image_id"], raw["image_id"])
    np.testing.assert_array_equal(t["subject"], raw["subject"])
    np.testing.assert_array_equal(t["x"], raw["x"])
    np.testing.assert_array_equal(t["y"], raw["y"])
    # first point of worker 11 on image 192 is [row 241, col 321] in the file
    first = t[(t.image_id == 192) & (t.subject == 11)].iloc[0]
    assert (first.x, first.y, first.fixation) == (320.0, 240.0, 0)
    assert set(t["image"]) == {salicon_name(i) for i in (7, 192, 208)}
    sizes = fx.image_sizes()
    assert sizes.set_index("image_id").loc[7, ["width", "height"]].tolist() == [16, 12]
    assert t["image_id"].dtype == np.int64 and t["x"].dtype == np.float64


def test_json_size_override_and_split(tmp_path):
    # an image missing from 'images' needs a size and a split to be named
    p = _write_json(tmp_path / "f.json", [{"image_id": 5, "worker_id": 1, "fixations": [[2, 3]]}], images=[])
    with pytest.raises(InputError, match="file_name"):
        read_salicon_json(p)
    with pytest.raises(InputError, match="no size"):
        read_salicon_json(p, split="train")
    fx = read_salicon_json(p, split="train", sizes=(10, 8))
    row = fx.table.iloc[0]
    assert row["image"] == "COCO_train2014_000000000005"
    assert (row["width"], row["height"], row["x"], row["y"]) == (10, 8, 2.0, 1.0)
    # a mapping overrides the file's size: the 640x480 point (col 600) falls outside 500 px
    fx = read_salicon_json(JSON, sizes={192: (500, 480)})
    assert fx.n_outside == 2  # cols 601 and 640 (x 600 and 639) on image 192


def test_outside_fixations_dropped_or_error(tmp_path):
    anns = [
        {"image_id": 192, "worker_id": 1, "fixations": [[1, 1], [481, 10], [10, 641], [0, 5]]},
        {"image_id": 192, "worker_id": 2, "fixations": [[480, 640]]},
    ]
    p = _write_json(tmp_path / "out.json", anns)
    fx = read_salicon_json(p)
    # [481, 10] (row 481 > 480), [10, 641] (col 641 > 640), [0, 5] (row 0 is before 1)
    assert fx.n_outside == 3
    assert sorted(zip(fx.table.x, fx.table.y)) == [(0.0, 0.0), (639.0, 479.0)]
    with pytest.raises(InputError, match="3 fixation") as exc:
        read_salicon_json(p, on_outside="error")
    assert str(p) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_empty_fixation_lists(tmp_path):
    p = _write_json(tmp_path / "empty.json", [{"image_id": 192, "worker_id": 1, "fixations": []}])
    with pytest.raises(InputError, match="no fixations"):
        read_salicon_json(p)
    p = _write_json(tmp_path / "noann.json", [])
    with pytest.raises(InputError, match="empty"):
        read_salicon_json(p)
    # an image left without any fixation inside it cannot get a map
    images = [
        {"id": 192, "file_name": "COCO_val2014_000000000192.jpg", "width": 640, "height": 480},
        {"id": 208, "file_name": "COCO_val2014_000000000208.jpg", "width": 640, "height": 480},
    ]
    anns = [
        {"image_id": 192, "worker_id": 1, "fixations": [[5, 5]]},
        {"image_id": 208, "worker_id": 1, "fixations": [[999, 5]]},
    ]
    p = _write_json(tmp_path / "lost.json", anns, images)
    with pytest.raises(InputError, match="image 208 has no fixation inside"):
        read_salicon_json(p)


def test_json_malformed(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"images": []}))
    with pytest.raises(InputError, match="annotations"):
        read_salicon_json(tmp_path / "a.json")
    p = _write_json(tmp_path / "b.json", [{"image_id": 192, "fixations": [[1, 2, 3]]}])
    with pytest.raises(InputError, match="M x 2"):
        read_salicon_json(p)
    p = _write_json(tmp_path / "c.json", [{"image_id": 192, "worker_id": 1}])
    with pytest.raises(InputError, match="lacks image_id or fixations"):
        read_salicon_json(p)
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        read_fixations(tmp_path / "d.json")
    with pytest.raises(InputError, match="cannot tell"):
        read_fixations(tmp_path / "d.txt")


# -------------------------------------------------------------------------- MAT
def test_mat_reader_agrees_with_json():
    m = read_fixations(FIX)  # a folder of .mat files
    assert m.format == "mat" and m.n_images == 2 and m.n_empty_subjects == 1
    j = read_fixations(JSON).table
    j = j[j.image_id.isin([192, 208])]
    key = ["image_id", "x", "y"]
    a = m.table[key].sort_values(key).reset_index(drop=True)
    b = j[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert set(m.table["width"]) == {640} and set(m.table["height"]) == {480}  # resolution [480 640]
    # subjects are the 0-based positions in the gaze array
    assert sorted(m.table.loc[m.table.image_id == 192, "subject"].unique()) == [0, 1, 2]
    one = read_salicon_mat(FIX / "COCO_val2014_000000000208.mat")
    assert len(one.table) == 3 and one.n_empty_subjects == 1


def test_mat_location_field_drops_offscreen_samples():
    # each non-empty subject's raw samples hold one point at x = width + 5 (see make_fixtures.py)
    loc = read_fixations(FIX, field="location")
    assert loc.n_outside == 4
    assert len(loc.table) == 12
    with pytest.raises(InputError, match="outside"):
        read_fixations(FIX, field="location", on_outside="error")


def test_mat_bad_files(tmp_path):
    savemat(tmp_path / "nogaze.mat", {"image": "COCO_val2014_000000000192", "resolution": np.array([[480, 640]])})
    with pytest.raises(InputError, match="no 'gaze'"):
        read_salicon_mat(tmp_path / "nogaze.mat")
    p = _write_mat(tmp_path / "nofix.mat", [[[1, 1]]], fields=["location", "timestamp"])
    with pytest.raises(InputError, match="no field 'fixations'"):
        read_salicon_mat(p)
    p = _write_mat(tmp_path / "nores.mat", [[[1, 1], [3, 2]]], resolution=None)
    with pytest.raises(InputError, match="resolution"):
        read_salicon_mat(p)
    fx = read_salicon_mat(p, sizes=(4, 3))
    assert fx.table[["x", "y"]].to_numpy().tolist() == [[0.0, 0.0], [2.0, 1.0]]
    p = _write_mat(tmp_path / "empty.mat", [[], []])
    with pytest.raises(InputError, match="no fixations"):
        read_salicon_mat(p)
    p = _write_mat(tmp_path / "noid.mat", [[[1, 1]]], image="holiday")
    with pytest.raises(InputError, match="COCO image id"):
        read_salicon_mat(p)
    (tmp_path / "junk.mat").write_bytes(b"not a matlab file at all")
    with pytest.raises(InputError, match="cannot read MATLAB"):
        read_salicon_mat(tmp_path / "junk.mat")
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    with pytest.raises(InputError, match="no .mat"):
        read_fixations(empty_dir)


def test_mat_duplicate_image_in_folder(tmp_path):
    _write_mat(tmp_path / "a.mat", [[[1, 1]]])
    _write_mat(tmp_path / "b.mat", [[[2, 2]]])
    with pytest.raises(InputError, match="two files"):
        read_fixations(tmp_path)


# ------------------------------------------------------------------------- maps
def _reference_blur(m: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Explicit separable convolution: Gaussian kernel of radius int(truncate*sigma+0.5),
    normalised to sum 1, with 'reflect' borders (numpy's 'symmetric' pad: d c b a | a b c d)."""
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(m, r, mode="symmetric")
    rows = np.array([[np.dot(padded[i, j : j + 2 * r + 1], k) for j in range(m.shape[1])] for i in range(padded.shape[0])])
    return np.array([[np.dot(rows[i : i + 2 * r + 1, j], k) for j in range(m.shape[1])] for i in range(m.shape[0])])


def test_fixation_map_matches_explicit_convolution():
    t = read_fixations(JSON).table
    g = t[t.image_id == 7]  # 16 x 12, points (3, 2) twice, (10, 8), (15, 11)
    discrete = fixation_points_map(g.x, g.y, 12, 16)
    assert discrete.sum() == 3 and discrete[2, 3] == 1 and discrete[8, 10] == 1 and discrete[11, 15] == 1
    counts = fixation_points_map(g.x, g.y, 12, 16, accumulate="count")
    assert counts[2, 3] == 2 and counts.sum() == 4
    for acc, base in (("binary", discrete), ("count", counts)):
        ours = fixation_map(g.x, g.y, 12, 16, sigma=2.0, accumulate=acc)
        ref = _reference_blur(base, 2.0)
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert not np.allclose(fixation_map(g.x, g.y, 12, 16, sigma=2.0), fixation_map(g.x, g.y, 12, 16, sigma=2.0, accumulate="count"))
    # sigma 0: the binary map itself, already in [0, 1]
    np.testing.assert_array_equal(fixation_map(g.x, g.y, 12, 16, sigma=0), discrete)


def test_fixation_map_rounds_to_nearest_pixel_and_needs_a_point():
    m = fixation_points_map([0.4, 2.5], [1.6, 0.49], 3, 4)
    assert m[2, 0] == 1 and m[0, 3] == 1 and m.sum() == 2  # (0.4,1.6)->(0,2); (2.5,0.49)->(3,0)
    with pytest.raises(InputError, match="no fixation inside"):
        fixation_map([50.0], [1.0], 3, 4)


def test_write_fixation_maps_reads_back_through_mapsource(tmp_path):
    fx = read_fixations(JSON)
    out = tmp_path / "maps"
    summary = write_fixation_maps(fx, out, sigma=19)
    assert sorted(p.name for p in out.iterdir()) == [f"{salicon_name(i)}.png" for i in (7, 192, 208)]
    assert summary.set_index("image_id")["n_fixations"].to_dict() == {7: 4, 192: 9, 208: 3}
    t = fx.table[fx.table.image_id == 192]
    expected = np.round(fixation_map(t.x, t.y, 480, 640, sigma=19) * 255).astype(np.uint8)
    png = cv2.imread(str(out / f"{salicon_name(192)}.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (480, 640)
    np.testing.assert_array_equal(png, expected)
    src = MapSource(out, "gt")
    loaded = src.load(192, 480, 640, "COCO_val2014_000000000192.jpg")
    np.testing.assert_allclose(loaded, expected / 255.0, atol=1e-6)
    # no temporary folder left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("jobs", [1, 2])
def test_write_fixation_maps_is_all_or_nothing(tmp_path, jobs):
    out = tmp_path / "maps"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    table = read_fixations(JSON).table.copy()
    # corrupt the last image: its only points now lie outside the image
    table.loc[table.image_id == 208, "x"] = 5000.0
    with pytest.raises(InputError, match="image COCO_val2014_000000000208: no fixation inside"):
        write_fixation_maps(table, out, jobs=jobs)
    # bad input: nothing kept, not even for a resumed run (the input must change anyway)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    with pytest.raises(InputError, match="no fixation inside"):
        write_fixation_maps(table, tmp_path / "plain", jobs=jobs, resume=False)
    assert not (tmp_path / "plain").exists()  # created by the call, removed again


def test_write_fixation_maps_duplicate_names_fail_before_any_work(tmp_path, monkeypatch):
    from salanalysis import salicon

    table = read_fixations(JSON).table.copy()
    table.loc[table.image_id == 208, "image"] = "COCO_val2014_000000000192"  # two ids, one name
    calls = []
    monkeypatch.setattr(salicon, "_map_task", lambda task, **kw: calls.append(task))
    with pytest.raises(InputError, match="two maps are named 'COCO_val2014_000000000192'"):
        write_fixation_maps(table, tmp_path / "maps")
    assert calls == [] and not (tmp_path / "maps").exists()


def test_write_fixation_maps_resumes_after_an_interrupt(tmp_path, monkeypatch):
    from salanalysis import salicon

    fx = read_fixations(JSON)
    whole = write_fixation_maps(fx, tmp_path / "whole", sigma=19)
    calls: list[str] = []
    stop = {"at": "COCO_val2014_000000000208"}
    real = salicon._map_task

    def flaky(task, **kw):
        calls.append(task[0])
        if task[0] == stop["at"]:
            raise KeyboardInterrupt  # the user stops the run at the last image
        return real(task, **kw)

    monkeypatch.setattr(salicon, "_map_task", flaky)
    out = tmp_path / "maps"
    with pytest.raises(KeyboardInterrupt):
        write_fixation_maps(fx, out, sigma=19)
    assert [p.name for p in out.iterdir()] and not [p for p in out.iterdir() if not p.name.startswith(".")]
    calls.clear()
    stop["at"] = None
    summary = write_fixation_maps(fx, out, sigma=19)
    assert calls == ["COCO_val2014_000000000208"]  # only the missing map was computed
    assert summary.drop(columns="path").equals(whole.drop(columns="path"))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())
    for name in whole["image"]:
        assert (out / f"{name}.png").read_bytes() == (tmp_path / "whole" / f"{name}.png").read_bytes()
    # other options do not reuse kept maps
    stop["at"] = "COCO_val2014_000000000208"
    with pytest.raises(KeyboardInterrupt):
        write_fixation_maps(fx, tmp_path / "m2", sigma=19)
    calls.clear()
    stop["at"] = None
    write_fixation_maps(fx, tmp_path / "m2", sigma=5)
    assert len(calls) == 3
    assert not [p for p in (tmp_path / "m2").iterdir() if p.name.startswith(".")]  # old one removed


def test_write_fixation_maps_workers_write_the_same_files(tmp_path):
    fx = read_fixations(JSON)
    one = write_fixation_maps(fx, tmp_path / "one", sigma=19, jobs=1)
    two = write_fixation_maps(fx, tmp_path / "two", sigma=19, jobs=2)
    assert one.drop(columns="path").equals(two.drop(columns="path"))
    for name in one["image"]:
        a = (tmp_path / "one" / f"{name}.png").read_bytes()
        assert a == (tmp_path / "two" / f"{name}.png").read_bytes()
    with pytest.raises(InputError, match="jobs must be at least 1"):
        write_fixation_maps(fx, tmp_path / "x", jobs=0)


# -------------------------------------------------------------------------- CLI
def test_cli_fixations(tmp_path, capsys):
    out = tmp_path / "gt"
    rc = main(["saliency", "fixations", "--fixations", str(FIX), "--out", str(out), "--table", str(tmp_path / "f.csv"),
               "--jobs", "2"])  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{salicon_name(i)}.png" for i in (192, 208)]
    assert len(pd.read_csv(tmp_path / "f.csv")) == 12
    assert "2 maps written" in capsys.readouterr().out
    # --size overrides the .mat resolution; in a 320 px wide image x >= 320 is outside:
    # image 192 x = 320, 321, 100, 600, 330, 0, 639, 200, 320 -> 6 outside; 208 x = 50, 500, 510 -> 2
    rc = main(["saliency", "fixations", "--fixations", str(FIX), "--size", "320x480", "--sigma", "5", "--out", str(tmp_path / "g")])
    assert rc == 0
    assert "8 outside" in capsys.readouterr().out


def test_cli_fixations_bad_input(tmp_path, capsys):
    p = _write_mat(tmp_path / "nofix.mat", [[[1, 1]]], fields=["location"])
    rc = main(["saliency", "fixations", "--fixations", str(p), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("salanalysis: error:") and "nofix.mat" in err and "fixations" in err
    assert not (tmp_path / "o").exists()
    rc = main(["saliency", "fixations", "--fixations", str(JSON), "--size", "big", "--out", str(tmp_path / "o")])
    assert rc == 2


def test_predict_subcommand_registered_when_module_exists(monkeypatch):
    name = "salanalysis.commands._saliency_predict"
    predict_module = types.ModuleType(name)
    predict_module.__spec__ = importlib.machinery.ModuleSpec(name, None)

    def register(ssub):
        q = ssub.add_parser("predict")
        q.add_argument("--flag")
        q.set_defaults(func=lambda args: 0)

    predict_module.register = register
    monkeypatch.setitem(sys.modules, name, predict_module)
    args = build_parser().parse_args(["saliency", "predict", "--flag", "x"])
    assert args.flag == "x"


def test_saliency_group_works_without_predict_module(monkeypatch):
    name = "salanalysis.commands._saliency_predict"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == name else real(n, *a))
    monkeypatch.delitem(sys.modules, name, raising=False)
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["saliency", "predict"])
    assert parser.parse_args(["saliency", "evaluate", "--pred", "p", "--out", "o.csv"]).pred == "p"


# ------------------------------------------------------------ fixations outside the image: counted, warned, refused
def _many_points(path: Path, rng, n_in=(300, 200), n_out=(0, 5)) -> Path:
    """Two 640x480 images (192, 208): n_in fixations inside each, n_out of them 1-based col 700 (outside)."""
    images = [{"id": i, "file_name": f"{salicon_name(i)}.jpg", "width": 640, "height": 480} for i in (192, 208)]
    anns = []
    for iid, k, m in zip((192, 208), n_in, n_out):
        pts = [[int(rng.integers(1, 481)), int(rng.integers(1, 641))] for _ in range(k)] + [[10, 700]] * m
        anns.append({"image_id": iid, "worker_id": 1, "fixations": pts})
    return _write_json(path, anns, images)


def test_outside_counted_per_image_and_warned(tmp_path, rng):
    from salanalysis.errors import InputWarning

    p = _many_points(tmp_path / "f.json", rng, n_in=(300, 200), n_out=(0, 6))  # 6 of 506 > 1%
    with pytest.warns(InputWarning, match=r"6 of 506 fixations \(1\.2%\) lie outside .* most on image 208 \(6 of 206\)"):
        fx = read_fixations(p)
    assert fx.n_outside == 6
    assert fx.outside.to_dict("list") == {"image_id": [192, 208], "image": [salicon_name(192), salicon_name(208)],
                                          "n_read": [300, 206], "n_outside": [0, 6]}
    p = _many_points(tmp_path / "g.json", rng, n_in=(300, 200), n_out=(0, 2))  # 2 of 502: counted, no warning
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        assert read_fixations(p).outside["n_outside"].tolist() == [0, 2]


def test_a_size_the_fixations_contradict_is_refused(tmp_path, rng):
    # --size 320x240 on 640x480 fixations kept a third of them and gave NSS 0.03 instead of 1.08, exit 0
    p = _many_points(tmp_path / "f.json", rng)
    with pytest.raises(InputError, match=r"image 208: \d+ of 205 fixations lie outside its stated size 320x240 "
                                         r"\(they reach x=699, y=4\d\d\) \(and 1 more image\(s\)\)"):
        read_fixations(p, sizes=(320, 240))
    with pytest.raises(InputError, match="stated size 640x100"):
        read_fixations(p, sizes={208: (640, 100)})  # one image's size wrong: refused, not averaged away
    assert read_fixations(p, sizes={208: (640, 470)}).outside["n_outside"].iloc[1] > 0  # a few: dropped


def test_cli_evaluate_reports_outside_and_refuses_a_wrong_size(tmp_path, rng, capsys):
    p = _many_points(tmp_path / "f.json", rng, n_in=(300, 200), n_out=(1, 6))
    maps = tmp_path / "pred"
    maps.mkdir()
    for iid in (192, 208):
        cv2.imwrite(str(maps / f"{salicon_name(iid)}.png"), rng.integers(0, 255, (480, 640), dtype=np.uint8))
    out = tmp_path / "ev.csv"
    rc = main(["saliency", "evaluate", "--pred", str(maps), "--fixations", str(p), "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0
    assert "fixations: 507 read, 7 outside their image dropped (2 image(s); most on image 208: 6 of 206" in printed.out
    assert "lie outside their image and were dropped" in printed.err  # the warning, 7 of 507 > 1%
    t = pd.read_csv(out)
    assert t["n_fixations_outside"].tolist() == [1, 6, 7] and t["n_fixations"].tolist() == [300, 200, 500]
    out2 = tmp_path / "ev2"
    rc = main(["saliency", "evaluate", "--pred", str(maps), "--fixations", str(p), "--size", "320x240",
               "--out", str(out2)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "stated size 320x240" in err
    assert not (out2 / "saliency_metrics.csv").exists()
