"""Termination signals during a run, noticed even where a handler's exception got lost.

certbot turns SIGTERM, SIGHUP and the like into `SignalExit` raised in the main thread,
then cleans up. But Python's logging swallows exceptions raised inside a handler's emit,
and a run that waits logs a lot: a signal landing there would be recorded and then ignored
until the wait ends on its own (minutes). So a run notes each signal itself, and the waiter
asks between rounds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT")
                if hasattr(signal, name))


@contextlib.contextmanager
def noted() -> Iterator[threading.Event]:
    """For the block, each of SIGNALS also sets the yielded event before the handler that
    was in place (certbot's) runs; handlers are restored afterwards."""
    received = threading.Event()
    previous: dict[int, Any] = {}

    def note(signum: int, frame: Any) -> None:
        received.set()
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, frame)
        elif handler != signal.SIG_IGN:  # the default action: end the process
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    if threading.current_thread() is not threading.main_thread():
        yield received  # signals reach the main thread only: nothing to note here
        return
    for signum in SIGNALS:
        previous[signum] = signal.signal(signum, note)
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
