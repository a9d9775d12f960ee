"""The progress bar helper: tqdm's pace on a terminal, one update per 30 s into a log."""

from __future__ import annotations

import io
import sys

from salanalysis import _progress
from salanalysis._progress import LOG_INTERVAL_S, progress_bar


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_log_file_gets_few_updates(monkeypatch):
    log = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    bar = progress_bar(range(5000), file=log, desc="x")
    assert bar.mininterval == LOG_INTERVAL_S == 30.0
    for _ in bar:
        pass
    assert bar.maxinterval >= LOG_INTERVAL_S  # tqdm's monitor does not force updates sooner
    assert "5000/5000" in log.getvalue()  # the final state is always written


def test_terminal_keeps_tqdm_defaults(monkeypatch):
    term = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", term)
    bar = progress_bar(total=3, file=term)
    assert bar.mininterval == 0.1  # tqdm's default
    bar.close()
    # an explicit choice is kept either way
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert progress_bar(total=3, file=term, mininterval=1.0).mininterval == 1.0


def test_notebook_counts_as_interactive(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert _progress.interactive()
    monkeypatch.delitem(sys.modules, "ipykernel")
    assert not _progress.interactive()
