"""When a long batch reports its progress, and the words it uses.

One line every 30 seconds is plenty for a batch of minutes, but a batch of hours (3,600 messages
an hour at the API's limit) would print thousands; so a line is due when 30 s have passed *and*
another tenth of the batch is done, or when 5 minutes have passed whatever the count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MIN_INTERVAL = 30.0
"""Seconds between two progress lines, at least."""

MAX_INTERVAL = 300.0
"""Seconds between two progress lines, at most, however slowly the batch moves."""


def format_duration(seconds: float) -> str:
    """``4s``, ``2m05s`` or ``1h02m``: short enough for a log line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class BatchProgress:
    """Counts fetched messages and says when a progress line is due.

    :param total: messages this attempt has to fetch.
    :param clock: monotonic clock, replaceable in tests.
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self._clock = clock
        self._started = clock()
        self._last_time = self._started
        self._last_done = 0
        self._step = max(1, math.ceil(total / 10))

    def advance(self) -> str | None:
        """Count one more message; return a progress line if one is due, else ``None``."""
        self.done += 1
        now = self._clock()
        waited = now - self._last_time
        if self.done >= self.total or waited < MIN_INTERVAL:
            return None
        if self.done - self._last_done < self._step and waited < MAX_INTERVAL:
            return None
        self._last_time, self._last_done = now, self.done
        return self.describe(now)

    def describe(self, now: float | None = None) -> str:
        """``done/total (percent), rate, ETA`` as of ``now`` (default: the clock)."""
        elapsed = (self._clock() if now is None else now) - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        left = self.total - self.done
        eta = format_duration(left / rate) if rate > 0 else "unknown"
        return (
            f"{self.done}/{self.total} messages ({percent:.0f} %), {rate:.2f} messages/s, "
            f"elapsed {format_duration(elapsed)}, ETA {eta}"
        )
