"""Stopping a run midway in the tests of resumable commands (a helper module, not a test module)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Interrupt", "stop_at"]


class Interrupt(Exception):
    """Raised by a progress hook to stop a run as an interrupt would."""


def stop_at(n: int) -> Callable[[int], None]:
    """A progress hook (``on_step``, ``on_batch``, ``on_image``) that raises :class:`Interrupt` at ``n``."""

    def hook(i: int) -> None:
        if i == n:
            raise Interrupt

    return hook
