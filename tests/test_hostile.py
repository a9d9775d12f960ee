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
