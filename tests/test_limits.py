"""Hostile inputs stay harmless: size limits checked before anything is allocated.

Every "huge" file here is a few hundred bytes that only *declares* a huge size;
nothing in these tests allocates more than a few megabytes.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest

from salanalysis.cli import main
from salanalysis.errors import InputError
from salanalysis.images import read_image
from salanalysis.limits import (
    DEFAULT_LIMITS,
    LimitError,
    check_pixels,
    get_limit,
    limits,
    parse_limit,
    set_limits,
)
from salanalysis.maps.read import decode_map


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width x height`` 8-bit gray, then a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------ the registry
def test_limits_defaults_env_override_and_context(monkeypatch):
    monkeypatch.delenv("SALANALYSIS_MAX_PIXELS", raising=False)
    assert get_limit("pixels") == DEFAULT_LIMITS["pixels"] == 100_000_000
    monkeypatch.setenv("SALANALYSIS_MAX_PIXELS", "2e8")
    assert get_limit("pixels") == 200_000_000
    with limits(pixels=5):
        assert get_limit("pixels") == 5  # an explicit setting beats the environment
        import os

        assert os.environ["SALANALYSIS_MAX_PIXELS"] == "5"  # what spawned workers see
    assert get_limit("pixels") == 200_000_000
    monkeypatch.setenv("SALANALYSIS_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="SALANALYSIS_MAX_PIXELS"):
        get_limit("pixels")
    prev = set_limits(bootstrap=10)
    try:
        assert get_limit("bootstrap") == 10
    finally:
        set_limits(bootstrap=None, **prev)
    assert get_limit("bootstrap") == 100_000


@pytest.mark.parametrize("text", ["pixels", "pixels=", "pixels=0", "pixels=1.5", "pixels=nan",
                                  "pixels=inf", "colours=5", "pixels=-3"])
def test_parse_limit_refuses_bad_values(text):
    with pytest.raises(ValueError):
        parse_limit(text)
    assert parse_limit("input-size=8192") == ("input_size", 8192)


def test_check_pixels_one_line():
    check_pixels(10_000, 10_000, "image")  # 1e8: at the limit, allowed
    with pytest.raises(LimitError) as exc:
        check_pixels(10_001, 10_000, "image 5 declared as", "ann.json")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("ann.json: image 5 declared as 10,001 x 10,000")
    assert "--limit pixels=N" in msg and isinstance(exc.value, InputError)


# ------------------------------------------------------------- headers, not pixels
def test_a_png_declaring_30000_squared_is_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_declaring(30000, 30000))
    assert p.stat().st_size < 1000
    for read, what in ((read_image, "image"), (decode_map, "saliency map")):
        with pytest.raises(LimitError, match=r"header declares 30,000 x 30,000 = 900,000,000 pixels") as exc:
            read(p)
        assert str(exc.value).startswith(f"{p}: {what} header declares")


def test_the_pixel_limit_can_be_raised(tmp_path):
    p = tmp_path / "wide.png"
    p.write_bytes(png_declaring(2000, 1000))  # 2 megapixels declared, garbage data
    with limits(pixels=1_000_000), pytest.raises(LimitError, match="over the limit of 1,000,000"):
        read_image(p)
    with limits(pixels=3_000_000), pytest.raises(InputError) as exc:
        read_image(p)  # past the limit: the decoder now says the data are broken
    assert not isinstance(exc.value, LimitError)


def test_an_npy_map_declaring_a_huge_shape_is_refused(tmp_path):
    p = tmp_path / "m.npy"
    header = {"descr": "<f4", "fortran_order": False, "shape": (30000, 30000)}
    with open(p, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\x00" * 64)  # a few bytes of the 3.6 GB it declares
    from salanalysis.maps.read import _read_npy

    with pytest.raises(InputError, match=r"m.npy: (saliency map has 30000 x 30000|cannot read)"):
        _read_npy(str(p))


# ------------------------------------------------------------- command-line bounds
@pytest.mark.parametrize("args, words", [
    (["--bootstrap", "1000000000"], "--bootstrap: 1000000000 is over the limit of 100000"),
    (["--jobs", "100000"], "--jobs: 100000 is over the limit of 256"),
    (["--bootstrap", "9" * 5000], "expected an integer, got 5000 characters"),
])
def test_metrics_bounds_are_one_line_errors(tmp_path, demo, capsys, args, words):
    rc = None
    with pytest.raises(SystemExit) as exc:
        rc = main(["metrics", "--annotations", str(demo.annotations), "--scores",
                   f"det={demo.detections}", "--out", str(tmp_path / "m.csv"), *args])
    assert rc is None and exc.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_input_size_bound_and_raising_it(capsys):
    from salanalysis.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["cam", "--input-size", "100000"])
    assert "--input-size: 100000 is over the limit of 4096" in capsys.readouterr().err
    with limits(input_size=200_000):
        args = build_parser().parse_args(["predict", "--checkpoint", "x.pt", "--annotations", "a.json",
                                          "--images", "i", "--out", "o.csv", "--input-size", "100000"])
    assert args.input_size == (100000,)


def test_limit_option_raises_a_bound_for_one_run(tmp_path, demo, capsys, monkeypatch):
    monkeypatch.delenv("SALANALYSIS_MAX_BOOTSTRAP", raising=False)
    out = tmp_path / "m.csv"
    base = ["metrics", "--annotations", str(demo.annotations), "--scores", f"det={demo.detections}",
            "--out", str(out), "--bootstrap", "0", "--jobs", "300"]
    with pytest.raises(SystemExit):
        main(base)
    capsys.readouterr()
    assert main(["--limit", "jobs=300", *base]) == 0
    assert out.is_file()
    assert get_limit("jobs") == 256  # only for that run
    with pytest.raises(SystemExit):
        main(["--limit", "jobs=many", *base])
    assert "limit jobs must be a whole number" in capsys.readouterr().err


def test_library_bootstrap_bound_before_allocating(demo_ann):
    from salanalysis.metrics.bootstrap import bootstrap_metrics

    y = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    with pytest.raises(LimitError, match="n_boot is 1,000,000,000, over the limit of 100,000"):
        bootstrap_metrics(y, s, n_boot=10**9)


# ------------------------------------------------------------------------- TOML
def test_toml_n_boot_jobs_input_size_bounds_and_limits_table(tmp_path, demo):
    from salanalysis.config import config_from_dict

    base = {"inputs": {"annotations": str(demo.annotations)},
            "scores": {"det": {"path": str(demo.detections)}}}
    for section, key, value, name in (("analysis", "n_boot", 10**9, "bootstrap"),
                                      ("analysis", "jobs", 10**5, "jobs")):
        with pytest.raises(InputError, match=rf"'{section}.{key}' = {value} is over the limit .*\[limits\] {name}"):
            config_from_dict({**base, section: {key: value}}, tmp_path / "c.toml", base=tmp_path)
    cfg = config_from_dict({**base, "analysis": {"n_boot": 200_000}, "limits": {"bootstrap": 300_000}},
                           tmp_path / "c.toml", base=tmp_path)
    assert cfg.n_boot == 200_000 and cfg.limits == {"bootstrap": 300_000}
    assert cfg.to_dict()["limits"] == {"bootstrap": 300_000}
    with pytest.raises(InputError, match="unknown limit 'colours'"):
        config_from_dict({**base, "limits": {"colours": 3}}, tmp_path / "c.toml", base=tmp_path)
    json.dumps(cfg.to_dict())  # the resolved configuration stays serialisable


# ------------------------------------------------------------------ JSON readers
@pytest.mark.parametrize("text, words", [
    ("[" * 1_000_000 + "]" * 1_000_000, "nested too deeply"),
    ('{"images": ' + "9" * 100_000 + "}", "integer of 100000 digits"),
    ('{"images": 1e99999}', "number 1e99999 out of range"),
    ('[{"image_id": 1' + "0" * 400 + ', "category_id": 1, "score": 0.5}]', "integer of 401 digits"),
])
def test_json_that_breaks_parsers_is_one_line(tmp_path, text, words):
    from salanalysis.coco import Annotations
    from salanalysis.io import read_json

    p = tmp_path / "f.json"
    p.write_text(text)
    for reader in (read_json, Annotations.load):
        with pytest.raises(InputError, match=words) as exc:
            reader(p)
        assert str(exc.value).startswith(f"{p}: malformed JSON") and "\n" not in str(exc.value)


def _tiny_annotations(width, height):
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": width, "height": height}],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1,
                             "iscrowd": 0}]}


@pytest.mark.parametrize("width, height, words", [
    (20000, 20000, r"images\[0\] \(id 1\) declares 20,000 x 20,000 = 400,000,000 pixels, over the limit"),
    (60000, 60000, "declares 60,000 x 60,000"),
    (1e300, 10, r"declares 1e\+300 x 10 = 1e\+301 pixels"),
    ("abc", 10, r"images\[0\] \(id 1\): width must be a number, got 'abc'"),
    (10, [3], r"height must be a number, got \[3\]"),
])
def test_annotation_image_sizes_are_checked(tmp_path, width, height, words):
    from salanalysis.coco import Annotations

    with pytest.raises(InputError, match=words):
        Annotations(_tiny_annotations(width, height), tmp_path / "a.json")
    with limits(pixels=10**10):
        if isinstance(width, int) and isinstance(height, int):
            assert Annotations(_tiny_annotations(width, height)).images["width"].iloc[0] == width


def test_objects_refuses_a_20000_squared_annotation_before_allocating(tmp_path, capsys):
    p = tmp_path / "a.json"
    p.write_text(json.dumps(_tiny_annotations(20000, 20000)))
    rc = main(["objects", "--annotations", str(p), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "over the limit of 100,000,000" in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "objects.csv").exists()


def test_a_checkpoint_declaring_300000_classes_is_refused_before_allocating(tmp_path):
    pytest.importorskip("torch")
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.predict import load_model

    p = tmp_path / "model.pt"
    meta = {"arch": "baseline", "backbone": "resnet18", "num_classes": 300_000, "pooling": "max"}
    save_checkpoint(p, {"model": {}, "meta": meta})
    assert p.stat().st_size < 10_000
    with pytest.raises(LimitError, match="checkpoint meta: num_classes is 300,000, over the limit of 100,000"):
        load_model(p)
    save_checkpoint(p, {"model": {}, "meta": {**meta, "num_classes": "3e5"}})
    with pytest.raises(InputError, match="num_classes must be a positive integer, got '3e5'"):
        load_model(p)


def test_score_files_declaring_too_many_cells_are_refused_before_reading(tmp_path, demo):
    import pandas as pd

    from salanalysis.scores import _frame_from_file

    wide = pd.DataFrame({"image_id": [1, 2, 3], "cat": [0.1, 0.2, 0.3], "dog": [0.5, 0.6, 0.7]})
    pq = tmp_path / "s.parquet"
    wide.to_parquet(pq)
    npz = tmp_path / "s.npz"
    np.savez_compressed(npz, image_ids=np.arange(3), categories=np.array([1, 2]), scores=np.zeros((3, 2)))
    for path in (pq, npz):
        with limits(cells=5), pytest.raises(LimitError, match="over the limit of 5") as exc:
            _frame_from_file(path)  # 9 (parquet) and 20 (npz: 6 + 2 + 3 int64/float64) cells
        assert str(exc.value).startswith(str(path))
    assert len(_frame_from_file(pq)[0]) == 3 and len(_frame_from_file(npz)[0]) == 3  # default limit


@pytest.mark.parametrize("image, words", [
    ({"width": 60000, "height": 60000}, "declares 60,000 x 60,000"),
    ({"width": "abc", "height": 10}, r"width must be a positive whole number, got 'abc'"),
    ({"width": 1e300, "height": 10}, r"declares 1e\+300 x 10 = 1e\+301 pixels"),
    ({"width": 10, "height": 10, "file_name": "a\x00b.jpg"}, "file_name must be text without NUL"),
])
def test_fixation_files_sizes_and_names(tmp_path, image, words):
    from salanalysis.salicon import read_salicon_json

    p = tmp_path / "fix.json"
    data = {"images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg", **image}],
            "annotations": [{"image_id": 1, "worker_id": 1, "fixations": [[2, 3]]}]}
    p.write_text(json.dumps(data))
    with pytest.raises(InputError, match=words) as exc:
        read_salicon_json(p)
    assert str(exc.value).startswith(str(p)) and "\x00" not in str(exc.value)


def test_fixation_maps_with_a_nul_name_leave_nothing_behind(tmp_path, capsys):
    p = tmp_path / "fix.json"
    data = {"images": [{"id": 1, "file_name": "a\x00b.jpg", "width": 8, "height": 8}],
            "annotations": [{"image_id": 1, "worker_id": 1, "fixations": [[2, 3]]}]}
    p.write_text(json.dumps(data))
    out = tmp_path / "maps"
    rc = main(["saliency", "fixations", "--fixations", str(p), "--out", str(out)])
    assert rc == 2 and "NUL" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_toml_device_folder_and_deep_nesting_messages(tmp_path, capsys):
    from salanalysis.config import load_config

    with pytest.raises(InputError, match="config file is a character device, not a regular file"):
        load_config("/dev/null")
    with pytest.raises(InputError, match="config file is a folder"):
        load_config(tmp_path)
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"config file is a FIFO \(named pipe\)"):
        load_config(fifo)  # refused without opening it (opening a FIFO would block)
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "none.toml")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        load_config(deep)


def test_saliency_convert_refuses_a_results_json_map_declaring_30000_squared(tmp_path, capsys):
    import base64

    p = tmp_path / "results.json"
    p.write_text(json.dumps([{"image_id": 192, "saliency_map": base64.b64encode(png_declaring(30000, 30000)).decode()}]))
    rc = main(["saliency", "convert", "--from", str(p), "--out", str(tmp_path / "maps")])
    err = capsys.readouterr().err
    assert rc == 2 and "image 192" in err and "30,000 x 30,000 = 900,000,000 pixels" in err
    assert err.count("\n") == 1 and not (tmp_path / "maps").exists()


def test_a_huge_image_id_in_a_results_json_is_one_line(tmp_path, capsys):
    p = tmp_path / "results.json"
    p.write_text('[{"image_id": 1' + "0" * 400 + ', "saliency_map": "aGk="}]')
    rc = main(["saliency", "convert", "--from", str(p), "--out", str(tmp_path / "maps")])
    err = capsys.readouterr().err
    assert rc == 2 and "integer of 401 digits" in err and err.count("\n") == 1


def test_input_size_in_training_toml_and_old_spellings_is_bounded(capsys):
    from salanalysis.cli import build_parser
    from salanalysis.dualstream.options import parse_input_size

    with pytest.raises(InputError, match="'input_size' = 100000 is over the limit of 4096"):
        parse_input_size(100_000, "train.toml")
    with pytest.raises(InputError, match="over the limit"):
        parse_input_size("480 99999", "train.toml")
    assert parse_input_size(4096) == (4096, 4096)
    with limits(input_size=10**5):
        assert parse_input_size(100_000, square=True) == 100_000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "--image-size", "100000"])
    assert "over the limit of 4096" in capsys.readouterr().err
