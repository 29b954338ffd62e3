"""A termination signal during a run is noted, then handed to the handler in place."""

from __future__ import annotations

import os
import signal

from certbot_dns_autopilot.cleanup import signals


def test_a_signal_is_noted_and_passed_on_and_handlers_are_restored() -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with signals.noted() as received:
            assert not received.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            assert received.is_set() and seen == [signal.SIGTERM]
        os.kill(os.getpid(), signal.SIGTERM)  # the previous handler is back
        assert seen == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)
