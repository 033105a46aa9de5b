"""Signal handlers installed for the length of a ``with`` block, then given back."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


@contextmanager
def handled(
    signals: Collection[signal.Signals],
    handler: Handler,
    *,
    left_if_ignored: Collection[signal.Signals] = (),
) -> Iterator[None]:
    """``handler`` for ``signals`` inside the block. One of ``left_if_ignored`` that the
    process was started ignoring stays ignored: `nohup` ignores SIGHUP, and a shell
    without job control SIGINT for a command put in the background, so that it outlives
    the terminal, and the POSIX convention is to leave such a signal ignored. Only the
    main thread may set handlers: elsewhere (a test's thread) nothing is changed."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            if sig in left_if_ignored and signal.getsignal(sig) == signal.SIG_IGN:
                continue
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
