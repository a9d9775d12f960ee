"""Atomic writes: nothing partial on failure, usual file mode on success."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from salanalysis.errors import InputError
from salanalysis.io import atomic_path, read_json, read_table, write_table


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
    from salanalysis.io import remove_leftovers

    for name in (".maps.a.part", ".maps.b.part", "maps.c.part"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"x")
    (tmp_path / ".maps.f.part").write_bytes(b"a stray file")
    remove_leftovers(tmp_path, ".maps.*.part", keep=tmp_path / ".maps.b.part")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".maps.b.part", "maps.c.part"]
    assert (tmp_path / ".maps.b.part" / "x.png").exists()
