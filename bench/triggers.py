"""Benchmark 2: many deferred sensors waiting at once, as in one triggerer.

A hundred :class:`SesMessageEventTrigger` instances run in one asyncio event loop against an
emulator enforcing one call per second. Each waits for the DELIVERY of its own message, and each
DELIVERY appears at a random time within a window. All triggers start together, the worst case
for a burst, and each would poll every ``POKE_INTERVAL`` seconds if it were alone.

Figures: the call rate the service saw (also the most calls within any one second, which must not
exceed 1), the 429s, and per message the delay from its DELIVERY appearing to its trigger firing.
Since the pacer serves waiting triggers round robin, a trigger is polled at least every
``k x spacing`` seconds while ``k`` triggers are pending, so a message's delay is bounded by
``POKE_INTERVAL + k x spacing + the longest answer time``, where ``k`` is the number of triggers
still pending when its event appeared.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_sesinsights.emulator import SesEmulator
from airflow_provider_sesinsights.event_wait import MET, EventWait
from airflow_provider_sesinsights.pacing import DEFAULT_INTERVAL, SAFETY_MARGIN
from airflow_provider_sesinsights.triggers.ses_insights import SesMessageEventTrigger
from bench.common import connection_json, insights_calls, max_calls_in_window, min_gap, start_rate, table

TRIGGERS = 100
WINDOW = 90.0
"""Seconds after the start within which the DELIVERY events appear, uniformly at random."""
POKE_INTERVAL = 5.0
LATENCY = (0.05, 0.1)
TIME_LIMIT = 900.0
"""Seconds after which the benchmark gives up on triggers that have not fired."""
SEED = 7
CONN_ID = "ses_bench_triggers"


@dataclass(frozen=True)
class Wait:
    """One message's wait: when its event appeared and when its trigger fired (epoch seconds)."""

    message_id: str
    appeared: float
    fired: float | None
    state: str | None


async def _watch(trigger: SesMessageEventTrigger) -> tuple[float, dict[str, Any]]:
    """Run a trigger to its single event; return when it fired and the event's payload."""
    async for event in trigger.run():
        return time.time(), dict(event.payload)
    raise RuntimeError("the trigger ended without an event")


async def _run_all(triggers: list[SesMessageEventTrigger]) -> list[tuple[float, dict[str, Any]] | None]:
    """Run every trigger in this event loop; a trigger still waiting at the time limit gives None."""
    tasks = [asyncio.create_task(_watch(trigger)) for trigger in triggers]
    done, pending = await asyncio.wait(tasks, timeout=TIME_LIMIT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [task.result() if task in done and task.exception() is None else None for task in tasks]


def _pending_at(moment: float, waits: list[Wait]) -> int:
    """How many triggers had not fired yet at ``moment``."""
    return sum(1 for wait in waits if wait.fired is None or wait.fired > moment)


def run(triggers: int = TRIGGERS) -> dict[str, float]:
    """Run the waits, print the figures and return the main ones."""
    shuffler = random.Random(SEED)
    spacing = DEFAULT_INTERVAL + SAFETY_MARGIN
    with SesEmulator(rate=1.0, latency=LATENCY) as emulator:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = connection_json(emulator.endpoint_url)
        start = time.time()
        appears = [start + shuffler.uniform(0.0, WINDOW) for _ in range(triggers)]
        message_ids = emulator.add_messages(
            [
                {
                    "recipients": [
                        {
                            "destination": f"reader{i}@example.com",
                            "events": [{"type": "SEND", "at": start}, {"type": "DELIVERY", "at": at}],
                        }
                    ]
                }
                for i, at in enumerate(appears)
            ]
        )
        appears = [round(at, 3) for at in appears]  # the emulator keeps milliseconds
        instances = [
            SesMessageEventTrigger(
                wait=EventWait(
                    message_id=message_id,
                    started_at=start,
                    timeout=TIME_LIMIT,
                    target_events=("DELIVERY",),
                    poke_interval=POKE_INTERVAL,
                ),
                aws_conn_id=CONN_ID,
            )
            for message_id in message_ids
        ]
        print(
            f"{triggers} triggers in one event loop, DELIVERY at random times within {WINDOW:g} s, "
            f"poke_interval {POKE_INTERVAL:g} s, emulator limit 1 call/s, latency "
            f"{LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms.",
            flush=True,
        )
        results = asyncio.run(_run_all(instances))
        finished = time.time()
        calls = insights_calls(emulator)
    waits = [
        Wait(message_id, appeared, result[0] if result else None, result[1]["state"] if result else None)
        for message_id, appeared, result in zip(message_ids, appears, results, strict=True)
    ]
    fired = [wait for wait in waits if wait.fired is not None and wait.state == MET]
    delays = [wait.fired - wait.appeared for wait in fired if wait.fired is not None]
    bounds = [POKE_INTERVAL + _pending_at(wait.appeared, waits) * spacing + LATENCY[1] for wait in fired]
    over = sum(1 for delay, bound in zip(delays, bounds, strict=True) if delay > bound)
    worst = max((delay / bound for delay, bound in zip(delays, bounds, strict=True)), default=float("nan"))
    busiest = max_calls_in_window(calls)
    throttled = sum(1 for call in calls if call.status == 429)
    print()
    print(
        table(
            ["figure", "value"],
            [
                ("triggers fired with DELIVERY", f"{len(fired)}/{triggers}"),
                ("run time, s", round(finished - start, 1)),
                ("GetMessageInsights calls", len(calls)),
                ("calls per trigger", round(len(calls) / triggers, 2)),
                ("calls/s, (n - 1) / (last - first arrival)", start_rate(calls)),
                ("most calls within any 1 s (must be <= 1)", busiest),
                ("shortest gap between two calls, s", min_gap(calls)),
                ("429s (target 0)", throttled),
                ("delay event -> fire, median s", statistics.median(delays) if delays else float("nan")),
                ("delay event -> fire, max s", max(delays, default=float("nan"))),
                ("round-robin bound, median s", statistics.median(bounds) if bounds else float("nan")),
                ("delay / bound, max (<= 1: within the bound)", worst),
                ("messages over their bound", over),
            ],
        )
    )
    print(
        f"\nbound for a message = poke_interval + k x {spacing:.3f} s + {LATENCY[1]:g} s, with k the "
        "triggers still pending when its DELIVERY appeared."
    )
    return {"max_calls_in_1s": busiest, "throttled": throttled, "worst_delay_over_bound": worst}
