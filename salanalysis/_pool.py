"""The worker pools of :mod:`salanalysis.objects` and :mod:`salanalysis.salicon`."""

from __future__ import annotations

import multiprocessing as mp

__all__ = ["pool_context"]


def pool_context() -> mp.context.BaseContext:
    """The start method of the worker pool: fork where it exists, else spawn.

    fork: workers start at once and need no ``if __name__ == "__main__"`` guard in
    the caller's script (forkserver and spawn re-import the caller's ``__main__`` in
    every worker: a script without the guard then makes the pool restart workers
    for ever). Workers touch neither torch nor OpenCV's thread settings (a
    ``cv2.setNumThreads`` call in a forked worker of a parent that had used OpenCV
    deadlocked), and the progress bar's thread starts after the pool. Where fork
    does not exist (Windows), spawn, which needs the guard.
    """
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")
