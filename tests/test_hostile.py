"""Hostile files stay harmless: paths stay inside the folders the user named, planted links are
never followed, outputs are safe to share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salanalysis.cli import main
from salanalysis.errors import InputError
from salanalysis.io import STAGING_MARKER, remove_leftovers, staged_dir


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "notes.txt").write_text("keep me")
    (victim / "sub" / "deep.txt").write_text("keep me too")
    (victim / "photo.png").write_bytes(b"\x89PNG not really")
    return victim


def _intact(victim: Path) -> bool:
    return ((victim / "notes.txt").read_text() == "keep me"
            and (victim / "sub" / "deep.txt").read_text() == "keep me too"
            and (victim / "photo.png").is_file())


# ------------------------------------------------------------ planted staging folders
def test_a_planted_symlink_staging_folder_is_refused_not_followed(tmp_path, demo, capsys):
    from salanalysis.baselines import write_spectral_residual_maps
    from salanalysis.images import images_table
    from salanalysis.maps import files_key

    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    key = files_key("spectral-residual", images_table(demo.images, sizes=False)["path"])  # as an attacker can
    os.symlink(victim, out / f".maps.{key}.part")
    with pytest.raises(InputError, match="staging folder is a symbolic link: refusing to follow it"):
        write_spectral_residual_maps(demo.images, out)
    assert _intact(victim) and sorted(p.name for p in victim.iterdir()) == ["notes.txt", "photo.png", "sub"]
    assert (out / f".maps.{key}.part").is_symlink()  # left for the user to look at
    rc = main(["saliency", "baseline", "--kind", "spectral", "--images", str(demo.images), "--out", str(out)])
    assert rc == 2 and "symbolic link" in capsys.readouterr().err and _intact(victim)


def test_a_staging_folder_this_package_did_not_make_is_left_alone(tmp_path):
    out = tmp_path / "out"
    planted = out / ".maps.k.part"
    planted.mkdir(parents=True)
    (planted / "theirs.txt").write_text("x")
    with pytest.raises(InputError, match="was not created by salanalysis"):
        with staged_dir(out, resume_key="k", prefix=".maps.", suffix=".part"):
            pass
    assert (planted / "theirs.txt").read_text() == "x"
    # ours: marked, reused, and its marker never lands in out
    with staged_dir(out, resume_key="j", prefix=".maps.", suffix=".part") as stage:
        assert (stage / STAGING_MARKER).is_file()
        (stage / "a.png").write_bytes(b"1")
    assert (out / "a.png").read_bytes() == b"1" and not (out / STAGING_MARKER).exists()


def test_leftover_cleanup_never_leaves_the_folder(tmp_path):
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / ".maps.a.part")  # a link: removed itself, never followed
    unmarked = out / ".maps.b.part"
    unmarked.mkdir()
    (unmarked / "x.txt").write_text("x")
    marked = out / ".maps.c.part"
    marked.mkdir()
    (marked / STAGING_MARKER).touch()
    remove_leftovers(out, ".maps.*.part")
    assert not os.path.lexists(out / ".maps.a.part") and _intact(victim)
    assert (unmarked / "x.txt").is_file() and not marked.exists()


# ------------------------------------------------------ image names from annotations
@pytest.mark.parametrize("name, words", [
    ("../secret/photo.jpg", "points outside the image folder"),
    ("sub/../../secret/photo.jpg", "points outside the image folder"),
    ("/etc/hostname", "is an absolute path"),
    ("a\x00b.jpg", "holds a NUL character"),
])
def test_image_names_stay_inside_the_image_folder(tmp_path, name, words):
    from salanalysis.images import image_in_folder

    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "photo.jpg").write_bytes(b"private")
    with pytest.raises(InputError, match=words) as exc:
        image_in_folder(images, name, tmp_path / "ann.json")
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'ann.json'}: image file name") and "\n" not in msg
    assert "\x00" not in msg  # shown escaped
    assert image_in_folder(images, "sub/ok.jpg") == images / "sub" / "ok.jpg"


def test_a_link_inside_the_image_folder_that_leaves_it_is_refused(tmp_path):
    from salanalysis.images import image_in_folder

    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"private")
    os.symlink(tmp_path / "secret.jpg", images / "a.jpg")
    with pytest.raises(InputError, match="points outside the image folder"):
        image_in_folder(images, "a.jpg")


def test_training_and_prediction_data_refuse_an_escaping_file_name(tmp_path, demo):
    pytest.importorskip("torch")
    import json

    from salanalysis.dualstream.data import CocoMultiLabel

    data = json.loads(demo.annotations.read_text())
    data["images"][0]["file_name"] = "../../../../../../etc/hostname"
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"ann.json: image file name '\.\./.*etc/hostname' points outside"):
        CocoMultiLabel(p, demo.images, missing="skip")


# ------------------------------------------------------------- CAM folders
def _cam_folder(tmp_path: Path, image: str, cam: str = "cams/1.npy") -> Path:
    import json

    import numpy as np

    folder = tmp_path / "cams_out"
    (folder / "cams").mkdir(parents=True)
    np.save(folder / "cams" / "1.npy", np.ones((4, 4), np.float32))
    rec = {"image": image, "image_id": 1, "category": "cat",
           "models": [{"model": "A", "cam": cam, "confidence": 0.2},
                      {"model": "B", "cam": cam, "confidence": 0.8}]}
    (folder / "cam_manifest.json").write_text(json.dumps([rec]))
    from salanalysis.figures import cam_table

    cam_table([rec]).to_csv(folder / "cam_manifest.csv", index=False)
    return folder


@pytest.mark.parametrize("image, cam", [
    ("ABS", "cams/1.npy"), ("../outside.png", "cams/1.npy"), ("images/ok.png", "../../x.npy"),
])
def test_cam_manifest_paths_stay_inside_their_folder(tmp_path, image, cam):
    import cv2
    import numpy as np

    from salanalysis.plotting.cam import plot_cam_example

    outside = tmp_path / "outside.png"
    cv2.imwrite(str(outside), np.zeros((4, 4, 3), np.uint8))
    image = str(outside) if image == "ABS" else image
    folder = _cam_folder(tmp_path, image, cam)
    (folder / "images").mkdir()
    cv2.imwrite(str(folder / "images" / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    import json

    rec = json.loads((folder / "cam_manifest.json").read_text())[0]
    with pytest.raises(InputError, match="CAM manifest path .* (is not relative to|leaves) the CAM folder"):
        plot_cam_example(rec, root=folder)
    from salanalysis.reproduce.stages import _read_cam_manifest

    with pytest.raises(InputError, match="not a path inside the CAM folder"):
        _read_cam_manifest(folder)


def test_plot_fig5_from_a_hostile_cam_folder_is_one_line(tmp_path, capsys):
    import cv2
    import numpy as np

    outside = tmp_path / "outside.png"
    cv2.imwrite(str(outside), np.zeros((4, 4, 3), np.uint8))
    folder = _cam_folder(tmp_path, str(outside))
    rc = main(["plot", "fig5_cam", "--from", str(folder), "--out", str(tmp_path / "figs")])
    err = capsys.readouterr().err
    assert rc == 2 and "CAM manifest path" in err and err.count("\n") == 1
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").glob("fig5*"))
