"""Atomic writes: nothing partial on failure (an interrupt, a read-only folder, a full disk), usual file mode."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from salanalysis.cli import main
from salanalysis.errors import InputError
from salanalysis.io import (
    all_or_nothing,
    atomic_path,
    read_json,
    read_table,
    write_table,
    write_text,
)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_written_files_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_table_round_trip_and_errors(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    for name in ("t.csv", "t.parquet"):
        pd.testing.assert_frame_equal(read_table(write_table(df, tmp_path / name)), df)
    with pytest.raises(InputError, match="must end in .csv or .parquet"):
        write_table(df, tmp_path / "t.xlsx")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_table(tmp_path / "e.csv")
    (tmp_path / "j.json").write_text('{"a": 1,\n "b": }')
    with pytest.raises(InputError, match="malformed JSON at line 2 column 7"):
        read_json(tmp_path / "j.json")
    with pytest.raises(InputError, match="expected a JSON file, got a directory"):
        read_json(tmp_path)


def test_file_stamp_and_fingerprint(tmp_path):
    import os

    from salanalysis.io import file_stamp, fingerprint

    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    st = f.stat()
    assert file_stamp(f) == [str(f.resolve()), 3, st.st_mtime_ns]
    assert file_stamp(tmp_path / "missing") == [str(tmp_path / "missing"), None, None]
    key = fingerprint({"x": file_stamp(f), "n": 1})
    assert len(key) == 16 and int(key, 16) >= 0
    assert key == fingerprint({"n": 1, "x": file_stamp(f)})  # key order does not matter
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file changed
    assert fingerprint({"x": file_stamp(f), "n": 1}) != key


def test_remove_leftovers_keeps_the_current_and_other_names(tmp_path):
    from salanalysis.io import STAGING_MARKER, remove_leftovers

    for name in (".maps.a.part", ".maps.b.part", "maps.c.part"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"x")
        (tmp_path / name / STAGING_MARKER).touch()  # made by salanalysis
    (tmp_path / ".maps.f.part").write_bytes(b"a stray file")
    remove_leftovers(tmp_path, ".maps.*.part", keep=tmp_path / ".maps.b.part")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".maps.b.part", "maps.c.part"]
    assert (tmp_path / ".maps.b.part" / "x.png").exists()


# ------------------------------------------------ operating-system faults are input errors
def _writable(folder) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch):
    """A folder the operating system refuses to write into.

    Permission bits stop other users; root ignores them, so for root the folder
    is made immutable (``chattr +i``). Where neither works, creating a file in
    it raises the error a read-only folder raises (EACCES), by patching
    ``tempfile.mkstemp`` and ``Path.mkdir`` for that folder.
    """
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    immutable = False
    if _writable(d) and subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0:
        immutable = True
    if _writable(d):
        real_mkstemp, real_mkdir = tempfile.mkstemp, Path.mkdir

        def refuse(path):
            if str(path).startswith(str(d)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        def mkstemp(*args, dir=None, **kws):
            refuse(Path(dir or ".") / "x")
            return real_mkstemp(*args, dir=dir, **kws)

        def mkdir(self, *args, **kws):
            if not self.exists():
                refuse(self)
            return real_mkdir(self, *args, **kws)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(Path, "mkdir", mkdir)
    yield d
    if immutable:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    d.chmod(0o755)


def _one_error_line(err: str, path) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"salanalysis: error: {path}"), lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_read_only_output_folder(read_only_dir, demo, capsys):
    base = ["--annotations", str(demo.annotations), "--scores", f"d={demo.detections}"]
    runs = [
        (["metrics", *base, "--bootstrap", "0", "--out", str(read_only_dir / "t")], read_only_dir / "t"),
        (["objects", "--annotations", str(demo.annotations), "--jobs", "1", "--out", str(read_only_dir / "o")],
         read_only_dir / "o"),
        (["clutter", *base, "--bootstrap", "0", "--out", str(read_only_dir / "clutter")], read_only_dir / "clutter"),
        (["saliency", "convert", "--from", str(demo.saliency), "--out", str(read_only_dir / "r.json")],
         read_only_dir / "r.json"),
        (["saliency", "baseline", "--kind", "center", "--annotations", str(demo.annotations),
          "--out", str(read_only_dir / "maps")], read_only_dir / "maps"),
    ]
    capsys.readouterr()
    for argv, path in runs:
        assert main(argv) == 2, argv
        line = _one_error_line(capsys.readouterr().err, path)
        assert "Permission denied" in line or "Operation not permitted" in line
    assert list(read_only_dir.iterdir()) == []


def test_a_write_failing_part_way_leaves_the_earlier_output(tmp_path, demo, monkeypatch, capsys):
    out = tmp_path / "t"
    argv = ["metrics", "--annotations", str(demo.annotations), "--scores", f"d={demo.detections}",
            "--bootstrap", "0", "--out", str(out)]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"table1.csv", "table1.md", "table1.tex", "table1_long.csv", "per_class.csv",
                           "per_class.md", "per_class.tex", "excluded.csv"}
    real = pd.DataFrame.to_csv

    def full_disk(self, path, *args, **kws):  # the per-class table: half written, then the disk is full
        if "per_class.csv" in str(path):
            Path(path).write_text(real(self, None, *args, **kws)[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, path, *args, **kws)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    capsys.readouterr()
    assert main([*argv, "--threshold", "0.3"]) == 2  # other numbers: every file would change
    line = _one_error_line(capsys.readouterr().err, out / "per_class.csv")
    assert line.endswith("cannot write: No space left on device (ENOSPC)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing new, nothing partial


def test_all_or_nothing_and_analysis_results(tmp_path, monkeypatch):
    from salanalysis.results import AnalysisResult

    class Two(AnalysisResult):
        FILES = {"a": "a.csv", "b": "b.csv"}

    Two({"a": pd.DataFrame({"x": [1]}), "b": pd.DataFrame({"x": [2]})}).write(tmp_path)
    real = pd.DataFrame.to_csv

    def fail_b(self, path, *args, **kws):
        if "b.csv" in str(path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(self, path, *args, **kws)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_b)
    with pytest.raises(InputError, match=r"b.csv: cannot write: Input/output error \(EIO\)"):
        Two({"a": pd.DataFrame({"x": [10]}), "b": pd.DataFrame({"x": [20]})}).write(tmp_path)
    assert read_table(tmp_path / "a.csv")["x"].tolist() == [1]  # a.csv was ready but did not replace the old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
    with pytest.raises(RuntimeError):
        with all_or_nothing():
            write_text(tmp_path / "c.txt", "c")
            raise RuntimeError("interrupted")
    assert not (tmp_path / "c.txt").exists()


def test_other_operating_system_errors_are_one_line(monkeypatch, capsys):
    import salanalysis.commands.metrics as cmd

    def refused(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/instances.json")

    monkeypatch.setattr(cmd, "run", refused)
    assert main(["metrics", "--annotations", "a.json", "--scores", "s.csv", "--out", "t.csv"]) == 2
    assert capsys.readouterr().err == "salanalysis: error: /data/instances.json: Permission denied (EACCES)\n"
