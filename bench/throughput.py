"""Benchmark 1: batch throughput at the real limit of one GetMessageInsights call per second.

Three contenders fetch the same number of messages from a fresh emulator each (rate 1.0 per
account, 50-100 ms latency per answer):

* the operator in a ``dag.test()`` run, writing the batch to XCom,
* a plain boto3 loop, as a user might write first (botocore's default retries), and
* a boto3 loop that sleeps one second between calls, the usual fix.

Rates come from the emulator's own log of call arrivals, so client-side overheads that do not
change the spacing at the service do not count: rate = (n - 1) / (last arrival - first arrival).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_sesinsights.emulator import SesEmulator
from bench.common import REGION, connection_json, insights_calls, run_bench_dag, start_rate, table

LIMIT = 1.0
"""The API's limit, calls per second per account and region."""
LATENCY = (0.05, 0.1)
DEFAULT_MESSAGES = 60

DELIVERED = [
    {
        "destination": "reader@example.com",
        "events": [{"type": "SEND", "after": 0.0}, {"type": "DELIVERY", "after": 0.0}],
    }
]


@dataclass(frozen=True)
class Outcome:
    """What one contender achieved, as seen by the emulator and by the contender."""

    contender: str
    messages: int
    fetched: int
    calls: int
    throttled: int
    span: float
    call_rate: float
    answer_rate: float
    wall: float


def _operator(endpoint: str, message_ids: list[str]) -> int:
    """The operator in a ``dag.test()`` run, output to XCom; returns how many insights it returned."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json(endpoint)
    dagrun = run_bench_dag({"message_ids": message_ids})
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id="insights", key="return_value")
            .one_or_none()
        )
        return len(XComModel.deserialize_value(row)) if row is not None else 0


def _plain_loop(endpoint: str, message_ids: list[str]) -> int:
    """One call after another with botocore's defaults; a message whose retries run out is lost."""
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("sesv2", endpoint_url=endpoint, region_name=REGION)
    fetched = 0
    for message_id in message_ids:
        try:
            client.get_message_insights(MessageId=message_id)
        except ClientError:
            continue
        fetched += 1
    return fetched


def _sleeping_loop(endpoint: str, message_ids: list[str]) -> int:
    """boto3 with a one-second sleep after every call, the usual hand-made pacing."""
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("sesv2", endpoint_url=endpoint, region_name=REGION)
    fetched = 0
    for message_id in message_ids:
        try:
            client.get_message_insights(MessageId=message_id)
            fetched += 1
        except ClientError:
            pass
        time.sleep(1.0)
    return fetched


CONTENDERS: dict[str, Callable[[str, list[str]], int]] = {
    "GetMessageInsightsOperator": _operator,
    "boto3 loop": _plain_loop,
    "boto3 loop + sleep(1)": _sleeping_loop,
}


def measure(contender: str, fetch: Callable[[str, list[str]], int], messages: int) -> Outcome:
    """Run one contender against its own fresh emulator and read the figures off its call log."""
    with SesEmulator(rate=LIMIT, latency=LATENCY) as emulator:
        message_ids = emulator.add_messages([{"recipients": DELIVERED} for _ in range(messages)])
        started = time.monotonic()
        fetched = fetch(emulator.endpoint_url, message_ids)
        wall = time.monotonic() - started
        calls = insights_calls(emulator)
    answered = [call for call in calls if call.status == 200]
    return Outcome(
        contender=contender,
        messages=messages,
        fetched=fetched,
        calls=len(calls),
        throttled=sum(1 for call in calls if call.status == 429),
        span=calls[-1].monotonic - calls[0].monotonic if calls else 0.0,
        call_rate=start_rate(calls),
        answer_rate=start_rate(answered),
        wall=wall,
    )


def run(messages: int = DEFAULT_MESSAGES) -> list[Outcome]:
    """Measure every contender over ``messages`` messages and print the table."""
    print(
        f"{messages} messages per contender; emulator limit {LIMIT:g} call/s per account, "
        f"latency {LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms per answer."
    )
    outcomes = []
    for name, fetch in CONTENDERS.items():
        outcome = measure(name, fetch, messages)
        print(f"  {name}: done in {outcome.wall:.1f} s, start-up included", flush=True)
        outcomes.append(outcome)
    print()
    print(
        table(
            [
                "contender",
                "fetched",
                "calls",
                "429s",
                "seconds (first to last call)",
                "calls/s",
                "answers/s",
                "answers/s / limit",
            ],
            [
                (
                    o.contender,
                    f"{o.fetched}/{o.messages}",
                    o.calls,
                    o.throttled,
                    round(o.span, 1),
                    o.call_rate,
                    o.answer_rate,
                    o.answer_rate / LIMIT,
                )
                for o in outcomes
            ],
        )
    )
    print(
        "\ncalls/s counts every call that reached the service, 429s included; answers/s only the "
        "200s: (n - 1) / (last - first arrival)."
    )
    return outcomes
