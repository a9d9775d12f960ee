"""The command line: help, version, inspect on the demo, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import salanalysis
from salanalysis.cli import main, parse_named
from salanalysis.errors import InputError


def test_help_and_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert salanalysis.__version__ in capsys.readouterr().out
    assert main([]) == 2  # no command: usage on stderr, exit 2 (as argparse's own errors)
    err = capsys.readouterr().err
    assert err.startswith("usage: salanalysis") and "a COMMAND is required" in err


def test_shared_vocabulary_options(capsys):
    import argparse

    from salanalysis.commands import _common

    p = argparse.ArgumentParser()
    _common.add_bootstrap_option(p, default=1000)
    _common.add_progress_options(p)
    _common.add_jobs_option(p, "worker processes")
    _common.add_input_size_option(p, "input")
    a = p.parse_args([])
    assert (a.bootstrap, a.progress, a.quiet, a.jobs, a.input_size) == (1000, None, False, 0, None)
    a = p.parse_args(["--n-boot", "7", "--no-progress", "--jobs", "3", "--input-size", "480", "640"])
    assert (a.bootstrap, a.progress, a.jobs, a.input_size) == (7, False, 3, (480, 640))
    assert "--n-boot is now spelled --bootstrap" in capsys.readouterr().err
    assert not _common.show_progress(p.parse_args(["--progress", "--quiet"]))
    assert _common.show_progress(p.parse_args(["--progress"]))
    assert _common.resolve_jobs(0) >= 1 and _common.resolve_jobs(3) == 3
    for bad in (["--input-size", "1", "2", "3"], ["--input-size", "16"], ["--bootstrap", "-1"]):
        try:
            p.parse_args(bad)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{bad} was accepted")


def _parsers(parser):
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_help_text_renders_cleanly():
    # argparse %-formats argument help but not descriptions: a "%%" left in a
    # description (or a lone "%" in help) shows up literally or crashes --help
    from salanalysis.cli import build_parser

    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 15  # every command and sub-command
    for p in parsers:
        text = p.format_help()
        assert "%%" not in text, p.prog


def test_import_does_not_import_torch():
    code = "import sys, salanalysis, salanalysis.cli; salanalysis.cli.build_parser(); print('torch' in sys.modules)"
    # (the parser is also built without pandas or matplotlib: salanalysis --help stays quick)
    light = ("import sys, salanalysis.cli; salanalysis.cli.build_parser(); "
             "print([m for m in ('pandas', 'matplotlib') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_inspect_demo(demo, capsys, tmp_path):
    rc = main([
        "inspect", "--annotations", str(demo.annotations),
        "--saliency", f"salicon={demo.saliency}",
        "--scores", f"sample={demo.detections}",
        "--out", str(tmp_path / "overview.csv"),
    ])
    out = capsys.readouterr().out
    assert rc == 0
    lines = {line[:31].strip(): line[31:].split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert lines["images"] == "100"
    assert lines["instances"] == "839"
    assert lines["instances crowd"] == "9"
    assert lines["categories listed"] == "80"
    assert lines["categories present"] == "70"
    assert lines["images with map"] == "2"
    # a detection-results JSON: the image without detections is scored 0, as the analyses do
    assert lines["images with detections"] == "99"
    assert lines["images without detections"] == "1"
    assert "images without scores" not in lines and "(scored 0 for every class" in out
    assert (tmp_path / "overview.csv").exists()


def test_bad_input_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc = main(["inspect", "--annotations", str(bad)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("salanalysis: error: ") and str(bad) in err and "malformed JSON" in err
    assert len(err.splitlines()) == 1


def test_parse_named():
    assert parse_named(["a=x.csv", "y/b.json"], "--scores") == [("a", "x.csv"), ("b", "y/b.json")]
    for bad in (["a=x", "a=y"], ["=x"], ["a b=x"]):
        try:
            parse_named(bad, "--scores")
        except InputError as exc:
            assert "--scores" in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")


def test_a_closed_pipe_is_not_a_failure(demo, tmp_path, monkeypatch, capsys):
    # `salanalysis metrics ... | head -1`: the outputs are written, exit 0, no "error: Broken pipe"
    import sys

    class ClosedAfterOneLine:
        def __init__(self):
            self.lines = []

        def write(self, text):
            if self.lines:
                raise BrokenPipeError(32, "Broken pipe")
            self.lines.append(text)
            return len(text)

        def flush(self):
            pass

    reader = ClosedAfterOneLine()
    monkeypatch.setattr(sys, "stdout", reader)
    out = tmp_path / "m.csv"
    rc = main(["metrics", "--annotations", str(demo.annotations), "--scores", f"det={demo.detections}",
               "--out", str(out)])
    assert rc == 0 and out.exists() and (tmp_path / "m_per_class.csv").exists()
    assert len(reader.lines) == 1 and sys.stdout is reader
    assert "error" not in capsys.readouterr().err
