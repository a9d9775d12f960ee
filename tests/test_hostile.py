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


# ------------------------------------------------------------- outputs safe to share
def test_dollar_signs_in_category_and_model_names_are_text_not_math(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from salanalysis import figures as F
    from salanalysis.plotting import paper_style, plain_text

    assert plain_text("$5-$10") == r"\$5-\$10"
    cats = [r"$\undefinedmacro$", "$5-$10", "plain"]
    table = pd.DataFrame({"category": cats, "delta": [0.2, -0.1, 0.0], "ci95_low": [0.1, -0.2, -0.1],
                          "ci95_high": [0.3, -0.05, 0.1], "n_pos": 5,
                          "verdict": ["improved", "worsened", "within noise"]})
    fig, _ = F.draw_figure("fig4_category_delta", {"compare_categories": table},
                           F.FigureContext(compare=("A", "B"), labels={"A": "$A$", "B": "B"}))
    with paper_style():
        fig.canvas.draw()  # an unescaped "$\undefinedmacro$" raises ValueError here
    shown = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert r"\$\undefinedmacro\$" in shown and r"\$5-\$10" in shown
    # mathtext turns "\$" into a literal "$": the rendered width matches the plain string's
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    t_escaped = Text(0, 0, plain_text("$5-$10"), figure=fig)
    t_math = Text(0, 0, "$5-$10", figure=fig)
    w_esc = t_escaped.get_window_extent(renderer).width
    w_math = t_math.get_window_extent(renderer).width
    assert not np.isclose(w_esc, w_math)  # math mode renders "5-" in italics without the dollars
    plt.close(fig)


def test_csv_cells_that_look_like_formulas_get_an_apostrophe_and_read_back(tmp_path):
    import pandas as pd

    from salanalysis.io import read_table, write_table

    names = ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "plain", "it's"]
    df = pd.DataFrame({"category": names, "AP": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "=col": 1})
    p = write_table(df, tmp_path / "t.csv")
    raw = p.read_text()
    # what a spreadsheet sees: every formula-like text cell starts with an apostrophe
    import csv

    rows = list(csv.reader(raw.splitlines()))
    assert rows[0] == ["category", "AP", "'=col"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "plain", "it's"]
    assert rows[1][1] == "-0.5"  # numbers are numbers
    back = read_table(p)
    pd.testing.assert_frame_equal(back, df)


def test_markdown_tables_escape_html_and_invisible_characters():
    import pandas as pd

    from salanalysis.formatting import markdown_escape
    from salanalysis.report import table_markdown

    assert markdown_escape("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert markdown_escape("a &amp; b") == "a &amp;amp; b" and markdown_escape("< 1e-4") == "< 1e-4"
    assert markdown_escape("evil\u202egnp.exe") == "evil\\\\u202egnp.exe"  # renders as evil\\u202e...
    md = table_markdown(pd.DataFrame({"category": ["<img src=x onerror=alert(1)>", "\x1b[2Jcls"]}))
    assert "<img" not in md and "&lt;img" in md and "\x1b" not in md and "\\x1b[2Jcls" in md


def test_messages_show_terminal_escapes_and_bidi_overrides(tmp_path, capsys):
    from salanalysis.errors import visible

    assert visible("a\x1b[31mred\u202eb\u2066c") == "a\\x1b[31mred\\u202eb\\u2066c"
    assert visible("tab\tand\nnewline") == "tab\tand\nnewline"
    err = InputError("category '\x1b]0;pwned\x07' \u202eevil", "dir\x1b[1m/ann.json")
    assert "\x1b" not in str(err) and "\u202e" not in str(err) and "\\u202e" in str(err)
    bad = tmp_path / "ann\u202e.json"
    bad.write_text("{")
    rc = main(["objects", "--annotations", str(bad), "--out", str(tmp_path / "o.csv")])
    out = capsys.readouterr().err
    assert rc == 2 and "\u202e" not in out and "ann\\u202e.json" in out


def test_the_report_shows_names_escaped(tmp_path):
    from salanalysis.report import _escape

    assert _escape("<b>\u202ex</b>") == "&lt;b&gt;\\u202ex&lt;/b&gt;"


def test_the_report_shows_relative_paths_unless_asked(tmp_path, demo):
    import shutil

    from salanalysis.config import load_config
    from salanalysis.reproduce import reproduce

    home = tmp_path / "home" / "alice"
    work = home / "project"
    (work / "data").mkdir(parents=True)
    shutil.copy(demo.annotations, work / "data" / "ann.json")
    shutil.copy(demo.detections, work / "data" / "det.json")
    (work / "paper.toml").write_text(
        '[inputs]\nannotations = "data/ann.json"\n'
        '[scores]\ndet = { path = "data/det.json" }\nprior = { builtin = "class-prior" }\n'
        '[analysis]\nn_boot = 0\njobs = 1\n')
    out = work / "run"
    res = reproduce(load_config(work / "paper.toml"), out)
    html = res.report.read_text()
    assert "alice" not in html and str(tmp_path) not in html
    assert "data/ann.json" in html and "data/det.json" in html
    assert "alice" not in (out / "tables" / "inputs.csv").read_text()
    cfg = load_config(work / "paper.toml")
    import dataclasses

    res = reproduce(dataclasses.replace(cfg, report_paths="absolute"), out)
    assert str(work / "data" / "ann.json") in res.report.read_text()
