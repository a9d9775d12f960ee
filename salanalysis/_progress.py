"""Progress bars (tqdm on stderr) that do not flood log files.

On a terminal or in a notebook the bar updates as tqdm's default (at most every
0.1 s). When stderr is a file or a pipe (a batch job, ``2> log``), every update
is a new chunk of text in the log, so the bar then updates at most every
:data:`LOG_INTERVAL_S` seconds (and once at the end).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar", "interactive", "LOG_INTERVAL_S"]

LOG_INTERVAL_S = 30.0


def interactive() -> bool:
    """Whether stderr is a terminal or a notebook (where progress bars are shown by default)."""
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws a widget
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def progress_bar(iterable: Iterable | None = None, **kwargs: Any):
    """``tqdm.auto.tqdm(iterable, **kwargs)``, at most one update per 30 s into a log file."""
    from tqdm.auto import tqdm

    if not interactive():
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", max(LOG_INTERVAL_S, kwargs["mininterval"]))
    return tqdm(iterable, **kwargs)
