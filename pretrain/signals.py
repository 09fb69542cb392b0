"""Stopping a run cleanly: SIGINT/SIGTERM ask the loop to stop after the current step; a second one aborts."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class StopRequest:
    """Set when a stop was asked for; the training loop reads ``requested`` between steps."""

    requested: bool = False
    signum: int = 0  # the signal that asked (SIGINT or SIGTERM)


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set the yielded request (the run then checkpoints and exports); a
    second signal raises ``KeyboardInterrupt``. Outside the main thread signals cannot be caught, and the
    request stays unset."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        request.signum = signum
        log.warning("%s received: stopping after this step (send it again to abort)", signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
