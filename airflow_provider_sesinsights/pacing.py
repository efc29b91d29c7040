"""Process-wide pacing of API calls: at most one call per interval for each key.

GetMessageInsights allows one call per second per account and region, whoever makes it. A
:class:`Pacer` hands out start times ("slots") one interval apart; every hook in the process,
thread or coroutine that uses the same key draws from the same pacer (:func:`pacer_for`).

Slots are handed out in the order they are asked for, so waiters are served first come, first
served: pollers that ask again after each call (the triggers) take turns round robin, and none
starves. Sync callers sleep until their slot; async callers ``await`` it, so the event loop keeps
running.

A slot is when a caller may start preparing its request; the request itself leaves a little
later, and the first call of a new boto3 client can take a few hundred milliseconds to prepare.
So the pacer also sees every request just before it is sent (:meth:`Pacer.before_send`, hooked
into botocore's ``before-send`` event) and keeps the real sends one spacing apart, pushing later
slots back when a send was late. :meth:`Pacer.hold` lets a task keep its pool slot until its last
interval has passed, so the next task in a pool of one slot is paced as well.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable

DEFAULT_INTERVAL = 1.0
"""Seconds between calls: the API's documented limit of one call per second."""

SAFETY_MARGIN = 0.02
"""Seconds added to every interval, so that timer and network jitter cannot turn an exact 1.000 s
gap into 0.999 s at the service (a 429). Costs 2 % of throughput."""


class Pacer:
    """Hands out call start times at least ``interval`` seconds apart.

    :param interval: seconds between the starts of two calls (before the safety margin).
    :param clock: monotonic clock, replaceable in tests.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic):
        if interval < 0:
            raise ValueError(f"pacing interval must be >= 0 seconds, got {interval!r}")
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = float("-inf")
        self._last_send = float("-inf")

    @property
    def spacing(self) -> float:
        """The real distance between two slots: the interval plus :data:`SAFETY_MARGIN`."""
        return self.interval + SAFETY_MARGIN if self.interval > 0 else 0.0

    def reserve(self) -> float:
        """Take the next free slot and return its start time on the pacer's clock."""
        with self._lock:
            slot = max(self._clock(), self._next_free)
            self._next_free = slot + self.spacing
            return slot

    def seconds_until_free(self) -> float:
        """How long until a call made now would not crowd the last one handed out."""
        with self._lock:
            return max(0.0, self._next_free - self._clock())

    def wait(self) -> None:
        """Block the calling thread until its slot has come."""
        slot = self.reserve()
        while (remaining := slot - self._clock()) > 0:
            time.sleep(remaining)

    async def wait_async(self) -> None:
        """Wait for a slot without blocking the event loop."""
        slot = self.reserve()
        while (remaining := slot - self._clock()) > 0:
            await asyncio.sleep(remaining)

    def before_send(self) -> None:
        """Block until the last request sent is one spacing old, then count this one as sent.

        Called by every request right before it goes out (botocore retries included), so the
        gaps the service sees are kept even when a request took long to prepare.
        """
        while True:
            with self._lock:
                now = self._clock()
                remaining = self._last_send + self.spacing - now
                if remaining <= 0:
                    self._last_send = now
                    self._next_free = max(self._next_free, now + self.spacing)
                    return
            time.sleep(remaining)

    def hold(self) -> None:
        """Block until the interval after the last slot handed out has passed.

        A task calls this before it ends, so that whatever runs next in its pool slot (possibly
        on another worker) cannot call the API within one interval of this task's last call.
        """
        while (remaining := self.seconds_until_free()) > 0:
            time.sleep(remaining)


_registry: dict[Hashable, Pacer] = {}
_registry_lock = threading.Lock()


def pacer_for(key: Hashable, interval: float = DEFAULT_INTERVAL) -> Pacer:
    """Return the process-wide pacer for ``key``, creating it on first use.

    If callers ask for different intervals under one key, the longest wins: a rate limit is only
    as safe as its fastest caller.
    """
    with _registry_lock:
        pacer = _registry.get(key)
        if pacer is None:
            pacer = _registry[key] = Pacer(interval)
        elif interval > pacer.interval:
            pacer.interval = interval
        return pacer
