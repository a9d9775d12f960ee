"""Past one machine: the object table's image chunks and the bootstraps' replicate blocks on Dask.

An optional executor beside :mod:`salanalysis._pool` (``pip install 'salanalysis[dask]'``).
Inside :func:`use_cluster` (the CLI's ``--cluster tcp://HOST:8786``, the TOML key
``[analysis] cluster``), two loops send their work to the workers of a running
``dask.distributed`` scheduler instead of local processes or threads:

- :func:`salanalysis.objects.compute_objects` sends each chunk of images (compact
  arrays of masks and the paths of their maps; the workers read the maps from the
  path the run names, which must be the same on every machine: shared storage);
- :func:`salanalysis._bootstrap.run_batches` (every bootstrap: metrics, class-wise
  AP, Fig. 3, compare) sends each block of resamples; the weights are drawn here,
  in order, so the replicates do not depend on where they are computed.

Results come back in submission order and the work is a pure function of its
inputs, so the tables are byte-identical to a local run. A worker lost mid-run
(killed, out of memory, a machine gone) is Dask's to handle: the scheduler
reschedules its tasks on the other workers (up to ``distributed.scheduler.
allowed-failures`` times per task), so the table is still complete. At most
``2 x workers`` tasks are in flight, so memory here follows the work in flight,
not the data set.

Without ``use_cluster`` nothing changes, and Dask is never imported.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from salanalysis.errors import InputError

__all__ = ["use_cluster", "active_client", "map_ordered", "connect"]

T = TypeVar("T")

_ACTIVE: ContextVar[Any] = ContextVar("salanalysis_cluster", default=None)

#: Seconds to wait for the scheduler before giving up with one line.
CONNECT_TIMEOUT = 20


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address`` (``tcp://HOST:8786``).

    Raises
    ------
    InputError
        Dask is not installed, or the scheduler cannot be reached (one line).
    """
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            f"--cluster {address}: Dask is not installed (pip install 'salanalysis[dask]')"
        ) from None
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"cluster address must be a scheduler address such as tcp://HOST:8786, got {address!r}")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT if timeout is None else timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"cluster {address}: cannot reach the Dask scheduler ({cause})") from None


@contextlib.contextmanager
def use_cluster(cluster: str | Any | None) -> Iterator[Any]:
    """Run the object table and the bootstraps inside this block on a Dask cluster.

    ``cluster``: a scheduler address (``"tcp://HOST:8786"``; the client is closed
    on exit), a ``distributed.Client`` (left open), or ``None`` (nothing changes).

    Example
    -------
    >>> from salanalysis._cluster import use_cluster            # doctest: +SKIP
    >>> with use_cluster("tcp://scheduler:8786"):               # doctest: +SKIP
    ...     tables = compute_objects(annotations, {"salicon": "/shared/maps"})
    """
    if cluster is None:
        yield None
        return
    own = isinstance(cluster, str)
    client = connect(cluster) if own else cluster
    token = _ACTIVE.set(client)
    try:
        yield client
    finally:
        _ACTIVE.reset(token)
        if own:
            client.close()


def active_client() -> Any:
    """The ``distributed.Client`` of the enclosing :func:`use_cluster`, or ``None``."""
    return _ACTIVE.get()


def _workers(client: Any) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - a scheduler that cannot say: one at a time is still right
        return 1


_TUNED = False


def _tune_malloc() -> None:
    """Raise glibc's mmap threshold in this worker process (once).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting it
    also freezes glibc's mmap threshold at 128 KiB, so every decoded map (a few
    hundred KB) is mmapped, page-faulted and unmapped again: the object table then
    ran 2-3x slower on a worker than in a local process (benchmarks/cluster.py).
    32 MiB restores the behaviour of a plain process for these sizes; the trim
    threshold stays Dask's. A no-op where the C library has no ``mallopt``.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 32 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _call(func: Callable[..., T], *args: Any) -> T:
    """A task on a worker: ``func(*args)`` after :func:`_tune_malloc`."""
    _tune_malloc()
    return func(*args)


def map_ordered(
    client: Any,
    func: Callable[..., T],
    items: Iterable[Any],
    *,
    shared: Any = None,
    in_flight: int | None = None,
) -> Iterator[T]:
    """``func(item)`` (or ``func(shared, item)``) for every item on the cluster, yielded in order.

    Items are pulled lazily: at most ``in_flight`` (default ``2 x workers``) tasks
    are pending, so a generator of chunks is never materialised here. ``shared``
    (an object every task needs, e.g. a sorted score matrix) is sent to the
    workers once. Tasks are submitted with ``pure=False`` (every chunk is its own
    task even when two are equal) and results are released as soon as they are
    yielded. A task's exception is raised here (an :class:`InputError` raised by a
    worker keeps its one-line message).
    """
    limit = max(1, int(in_flight) if in_flight else 2 * _workers(client))
    shared_future = client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
    pending: deque = deque()
    try:
        for item in items:
            if shared_future is None:
                pending.append(client.submit(_call, func, item, pure=False))
            else:
                pending.append(client.submit(_call, func, shared_future, item, pure=False))
            while len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()
        if shared_future is not None:
            shared_future.release()


def absolute_refs(chunk: dict) -> dict:
    """The chunk with its map paths made absolute (the workers' working folder is not ours)."""
    maps = [[os.path.abspath(p) if isinstance(p, str) else p for p in paths] for paths in chunk["maps"]]
    return dict(chunk, maps=maps)
