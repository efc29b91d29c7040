"""The pacer spaces slots, shares them process-wide, serves waiters in order, and holds."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from airflow_provider_sesinsights.pacing import SAFETY_MARGIN, Pacer, pacer_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_are_one_spacing_apart_and_start_now_when_idle() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock)
    assert [pacer.reserve() for _ in range(3)] == pytest.approx(
        [100.0, 100.0 + pacer.spacing, 100.0 + 2 * pacer.spacing]
    )
    clock.now = 500.0
    assert pacer.reserve() == 500.0
    assert pacer.spacing == pytest.approx(1.0 + SAFETY_MARGIN)


def test_seconds_until_free_counts_down() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock)
    assert pacer.seconds_until_free() == 0.0
    pacer.reserve()
    clock.now += 0.4
    assert pacer.seconds_until_free() == pytest.approx(0.6 + SAFETY_MARGIN)


def test_zero_interval_means_unpaced_and_negative_is_refused() -> None:
    pacer = Pacer(0.0, clock=FakeClock())
    assert pacer.reserve() == pacer.reserve()
    with pytest.raises(ValueError, match="-1"):
        Pacer(-1)


def test_threads_share_one_budget() -> None:
    pacer = Pacer(0.2)
    starts: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        pacer.wait()
        with lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5
    assert min(gaps) >= 0.2


def test_async_waiters_are_served_round_robin() -> None:
    pacer = Pacer(0.05)
    order: list[str] = []

    async def poller(name: str) -> None:
        for _ in range(3):
            await pacer.wait_async()
            order.append(name)
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(poller(name) for name in "abcd"))

    asyncio.run(main())
    assert order == list("abcd") * 3


def test_hold_waits_out_the_last_interval() -> None:
    pacer = Pacer(0.3)
    pacer.wait()
    before = time.monotonic()
    pacer.hold()
    assert time.monotonic() - before >= 0.25
    assert pacer.seconds_until_free() == 0.0


def test_registry_is_process_wide_and_the_longest_interval_wins() -> None:
    key = ("test-region", "http://registry.test")
    fast = pacer_for(key, 0.1)
    assert pacer_for(key, 1.0) is fast
    assert fast.interval == 1.0
    assert pacer_for(key, 0.5).interval == 1.0
    assert pacer_for(("other-region", "http://registry.test")) is not fast


def test_before_send_keeps_real_sends_apart_and_pushes_later_slots() -> None:
    clock = FakeClock()
    slept: list[float] = []

    pacer = Pacer(1.0, clock=clock)
    first_slot = pacer.reserve()
    second_slot = pacer.reserve()
    clock.now = first_slot + 0.3
    pacer.before_send()
    clock.now = second_slot
    original_sleep = time.sleep

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    time.sleep = fake_sleep
    try:
        pacer.before_send()
    finally:
        time.sleep = original_sleep
    assert slept == [pytest.approx(0.3)]
    assert clock.now == pytest.approx(first_slot + 0.3 + pacer.spacing)
    assert pacer.reserve() == pytest.approx(clock.now + pacer.spacing)
