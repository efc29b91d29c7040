"""SesMessageEventTrigger against the emulator: serialization, deadlines, errors, shared hooks, and
many triggers in one event loop sharing the one-call-per-second budget fairly."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from conftest import aws_connection_uri

from airflow_provider_sesinsights.event_wait import ERROR, MET, TIMED_OUT, EventWait, Verdict
from airflow_provider_sesinsights.triggers.ses_insights import SesMessageEventTrigger, shared_hook

if TYPE_CHECKING:
    import pytest

SINGLE = "reader@gmail.com"
SENT = [{"destination": SINGLE, "events": [{"type": "SEND", "after": 0}]}]
DELIVERED_SOON = [
    {"destination": SINGLE, "events": [{"type": "SEND", "after": 0}, {"type": "DELIVERY", "after": 0.3}]}
]


def a_wait(message_id: str, **overrides: Any) -> EventWait:
    return EventWait(
        **{
            "message_id": message_id,
            "started_at": time.time(),
            "timeout": 300.0,
            "poke_interval": 0.5,
            **overrides,
        }
    )


def run_to_end(trigger: SesMessageEventTrigger) -> list[Verdict]:
    """Every event the trigger yields, as verdicts."""

    async def collect() -> list[Verdict]:
        return [Verdict.from_dict(event.payload) async for event in trigger.run()]

    return asyncio.run(collect())


def insights_calls(emulator: Any) -> list[Any]:
    return [call for call in emulator.calls if call.operation == "GetMessageInsights"]


def test_serialize_round_trips_through_the_trigger_table() -> None:
    from airflow.models.trigger import Trigger

    wait = a_wait(
        "0100-abc-000000",
        target_events=["DELIVERY"],
        failure_events=["REJECT", "BOUNCE"],
        not_found_timeout=120,
        exponential_backoff=True,
        max_wait=600,
    )
    trigger = SesMessageEventTrigger(
        wait=wait,
        aws_conn_id="ses",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"read_timeout": 5},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sesinsights.triggers.ses_insights.SesMessageEventTrigger"
    row = Trigger(classpath=classpath, kwargs=kwargs)  # as the scheduler stores it for the triggerer
    module, _, name = row.classpath.rpartition(".")
    restored = getattr(importlib.import_module(module), name)(**row.kwargs)
    assert restored.serialize() == (classpath, kwargs)
    assert restored.wait == wait
    assert (restored.aws_conn_id, restored.region_name, restored.verify) == ("ses", "eu-west-1", False)


def test_no_call_when_the_next_free_slot_is_past_the_deadline(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=SENT)
    pacer = shared_hook(aws_conn, None, None, None).pacer
    for _ in range(20):  # the next free slot is now about 20 s away
        pacer.reserve()
    started = time.monotonic()
    (verdict,) = run_to_end(SesMessageEventTrigger(wait=a_wait(message_id, timeout=2)))
    assert verdict.state == TIMED_OUT and "no check completed" in verdict.reason
    assert insights_calls(emulator) == []
    assert time.monotonic() - started < 15, "the trigger waited for a slot beyond its deadline"


def test_timeout_cuts_a_slow_answer(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=SENT)
    emulator.inject("slow", count=10, message_id=message_id, seconds=6.0)
    wait = a_wait(message_id, timeout=2)

    async def run_and_time() -> tuple[Verdict, float]:
        (event,) = [event async for event in SesMessageEventTrigger(wait=wait).run()]
        return Verdict.from_dict(event.payload), time.time() - wait.started_at

    verdict, took = asyncio.run(run_and_time())
    assert verdict.state == TIMED_OUT and "no check completed" in verdict.reason
    assert took >= 2.0, "the trigger gave up before its deadline"
    assert took < 5.5, "the trigger waited for the slow answer (6 s) beyond its deadline (2 s)"


def test_times_out_at_the_deadline_with_the_last_answer(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=SENT)
    wait = a_wait(message_id, timeout=4, poke_interval=1)
    (verdict,) = run_to_end(SesMessageEventTrigger(wait=wait))
    assert time.time() >= wait.deadline
    assert verdict.state == TIMED_OUT
    assert "within timeout=4 s" in verdict.reason and "seen: SEND" in verdict.reason
    assert verdict.insights is not None and verdict.insights["MessageId"] == message_id
    assert {call.status for call in insights_calls(emulator)} == {200}


def test_api_errors_end_the_wait_with_an_error_naming_them(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=SENT)
    emulator.inject("bad_request", message_id=message_id)
    (verdict,) = run_to_end(SesMessageEventTrigger(wait=a_wait(message_id)))
    assert verdict.state == ERROR
    assert "MessageInsightsBadRequest" in verdict.reason and message_id in verdict.reason


def test_hooks_are_shared_per_connection_and_renewed_when_it_changes(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_sesinsights.emulator import SesEmulator

    monkeypatch.setenv("AIRFLOW_CONN_SES_SHARED", aws_connection_uri(emulator.endpoint_url))
    first = shared_hook("ses_shared", None, None, None)
    assert shared_hook("ses_shared", None, None, None) is first
    assert shared_hook("ses_shared", "eu-west-1", None, None) is not first
    assert shared_hook("ses_shared", None, None, {"read_timeout": 5}) is not first
    with SesEmulator(rate=1.0) as other:
        monkeypatch.setenv("AIRFLOW_CONN_SES_SHARED", aws_connection_uri(other.endpoint_url))
        renewed = shared_hook("ses_shared", None, None, None)
        assert renewed is not first
        assert renewed.conn.meta.endpoint_url == other.endpoint_url


@contextmanager
def deliver_all_after_calls(emulator: Any, message_ids: list[str], calls: int) -> Iterator[None]:
    """Deliver every message once the emulator has answered ``calls`` calls, whatever the load."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not stop.wait(0.02):
            if len(insights_calls(emulator)) >= calls:
                emulator.add_messages([{"message_id": m, "recipients": DELIVERED_SOON} for m in message_ids])
                return

    watcher = threading.Thread(target=watch, name="deliver-all", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=5)


def test_many_triggers_share_one_call_per_second_fairly(aws_conn: str, emulator: Any) -> None:
    count, first_round_pending = 24, 6
    message_ids = emulator.add_messages([{"recipients": SENT} for _ in range(count)])
    triggers = [SesMessageEventTrigger(wait=a_wait(message_id)) for message_id in message_ids]

    async def run_all() -> list[list[Verdict]]:
        async def one(trigger: SesMessageEventTrigger) -> list[Verdict]:
            return [Verdict.from_dict(event.payload) async for event in trigger.run()]

        return await asyncio.gather(*(one(trigger) for trigger in triggers))

    with deliver_all_after_calls(emulator, message_ids, first_round_pending):
        results = asyncio.run(run_all())

    calls = insights_calls(emulator)
    assert emulator.throttled_count() == 0 and {call.status for call in calls} == {200}
    # Every trigger resolved, with exactly one event carrying its own message's insights.
    assert [len(events) for events in results] == [1] * count
    assert all(events[0].state == MET for events in results)
    assert [events[0].insights["MessageId"] for events in results] == message_ids  # type: ignore[index]
    # One call per second at most, as the service counts them.
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 1.0 - 1e-6
    # Fair: every trigger was served once before any was served twice, and the ones that had to
    # ask again did so in the order of their first calls (round robin); nobody asked a third time.
    order = [call.message_id for call in calls]
    first_round, second_round = order[:count], order[count:]
    assert sorted(first_round) == sorted(message_ids)
    assert second_round == first_round[: len(second_round)]
    assert first_round_pending <= len(second_round) < count
    assert max(Counter(order).values()) == 2
