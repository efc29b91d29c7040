"""The rate limit across a whole deployment, on a real Airflow 3 scheduler and triggerer.

``dag.test()`` ignores pools, so the promise "one slot, one call per second" can only be shown by
the scheduler itself. One stack serves three scenarios, each against a freshly reset emulator that
enforces one GetMessageInsights call per second, as SES does:

1. fetches and reschedule-mode sensors in the SES insights pool: no two task attempts overlap,
   the sensors free the slot between pokes, and every call is at least a second after the last;
2. the same DAG without the pool (the control): attempts overlap and calls crowd each other, so
   the checks of scenario 1 can fail;
3. deferrable sensors, outside the pool, waiting together in the triggerer: the triggers' shared
   pacing alone keeps calls a second apart.

Sensor messages start with a SEND event only, and get their DELIVERY once every sensor has looked
at least as often as the scenario needs, so each sensor has to wait, whatever the timing.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

INTEGRATION_DIR = Path(__file__).resolve().parent
DAGS_DIR = INTEGRATION_DIR / "dags"
sys.path.insert(0, str(DAGS_DIR))

from airflow_stack import AirflowStack, TaskAttempt  # noqa: E402
from emulator_process import Call, EmulatorProcess  # noqa: E402
from rate_limit_plan import (  # noqa: E402
    DEFERRABLE_SENSOR_IDS,
    FETCH_BATCHES,
    POOLED_DAG_ID,
    RESCHEDULE_SENSOR_IDS,
    TRIGGERER_DAG_ID,
    UNPOOLED_DAG_ID,
)

from airflow_provider_sesinsights import SES_INSIGHTS_POOL  # noqa: E402

ACCESS_KEY = "AKIDRATELIMITTEST"
RUN_TIMEOUT = 300.0
"""Seconds a DAG run may take; about a tenth of that is usual, the rest is for a busy machine."""
MIN_GAP = 1.0
"""Seconds between two GetMessageInsights calls of one account: the API's limit."""


# -- what the checks measure (plain functions over the REST API's and the emulator's records) --


def overlapping(attempts: Sequence[TaskAttempt]) -> list[tuple[TaskAttempt, TaskAttempt]]:
    """Pairs of task attempts whose [start, end] intervals intersect."""
    ordered = sorted(attempts, key=lambda attempt: attempt.start)
    return [
        (first, second)
        for i, first in enumerate(ordered)
        for second in ordered[i + 1 :]
        if second.start < first.end
    ]


def call_gaps(calls: Sequence[Call]) -> list[float]:
    """Seconds between consecutive calls' arrivals at the emulator."""
    return [later.monotonic - earlier.monotonic for earlier, later in pairwise(calls)]


def ran_during_wait(sensor_task_id: str, attempts: Sequence[TaskAttempt]) -> list[TaskAttempt]:
    """Attempts of other tasks that ran entirely between a sensor's first and last poke: proof
    that the sensor did not hold the pool's slot while it waited."""
    pokes = [attempt for attempt in attempts if attempt.task_id == sensor_task_id]
    if len(pokes) < 2:
        return []
    first_end, last_start = pokes[0].end, pokes[-1].start
    return [
        attempt
        for attempt in attempts
        if attempt.task_id != sensor_task_id and first_end <= attempt.start and attempt.end <= last_start
    ]


def final_states(attempts: Sequence[TaskAttempt]) -> dict[str, str]:
    """Each task instance's state as of its last attempt (earlier ones show whatever state the
    instance was in when that attempt was seen, e.g. ``scheduled`` again after a reschedule)."""
    return {attempt.label: attempt.state for attempt in sorted(attempts, key=lambda a: a.start)}


def timeline(calls: Sequence[Call]) -> str:
    """The call log as lines of "seconds since the first call, gap, status, message ID"."""
    if not calls:
        return "(no calls)"
    first = calls[0].monotonic
    lines, previous = [], first
    for call in calls:
        since, gap = call.monotonic - first, call.monotonic - previous
        lines.append(f"{since:8.3f} +{gap:6.3f} {call.status} {call.message_id}")
        previous = call.monotonic
    return "\n".join(lines)


@contextmanager
def diagnostics(stack: AirflowStack, ses: EmulatorProcess) -> Iterator[None]:
    """On a failure, print the component logs and the emulator's call timeline."""
    with stack.logs_on_failure():
        try:
            yield
        except BaseException:
            print(f"----- GetMessageInsights calls -----\n{timeline(ses.insights_calls())}")
            raise


def summary(name: str, seconds: float, calls: Sequence[Call], attempts: Sequence[TaskAttempt]) -> str:
    """One line of figures for the run log (``pytest -s``)."""
    gaps = call_gaps(calls)
    throttled = sum(call.status == 429 for call in calls)
    gap_text = f"gap min {min(gaps):.3f} s, median {statistics.median(gaps):.3f} s" if gaps else "no gaps"
    return (
        f"[{name}] {seconds:.1f} s, {len(calls)} calls, {gap_text}, {throttled} x 429, "
        f"{len(attempts)} task attempts, {len(overlapping(attempts))} overlapping pairs"
    )


def test_overlapping_and_gaps_measure_what_they_claim() -> None:
    """The measuring functions on hand-made records, so a pass of the scenarios means something."""
    from datetime import datetime, timedelta

    t0 = datetime(2025, 1, 1)

    def attempt(task_id: str, start: float, end: float) -> TaskAttempt:
        return TaskAttempt(task_id, -1, t0 + timedelta(seconds=start), t0 + timedelta(seconds=end), "success")

    poke_1, fetch, poke_2, other = (
        attempt("wait", 0, 1),
        attempt("fetch", 2, 4),
        attempt("wait", 5, 6),
        attempt("other", 3.5, 7),
    )
    assert overlapping([poke_1, fetch, poke_2]) == []
    assert overlapping([poke_1, fetch, poke_2, other]) == [(fetch, other), (other, poke_2)]
    assert ran_during_wait("wait", [poke_1, fetch, poke_2, other]) == [fetch]
    assert ran_during_wait("wait", [poke_1, fetch]) == []
    calls = [Call(10.0, "a", 200), Call(11.25, "b", 200), Call(11.75, "c", 429)]
    assert call_gaps(calls) == [1.25, 0.5]


def port_in_use(port: int) -> bool:
    """Whether something listens on ``port`` of 127.0.0.1 (connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# -- the stack, shared by the scenarios -------------------------------------------------------


@pytest.fixture(scope="module")
def ses() -> Iterator[EmulatorProcess]:
    """The SES emulator in its own process, enforcing one call per second per account."""
    with EmulatorProcess(rate=1.0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def stack(ses: EmulatorProcess) -> Iterator[AirflowStack]:
    """A running Airflow stack whose ``aws_default`` points at the emulator, with the pool made
    through the REST API (and removed again at the end)."""
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": "rate-limit-test-secret",
        "extra": {
            "region_name": "us-east-1",
            "service_config": {"sesv2": {"endpoint_url": ses.endpoint_url}},
        },
    }
    env = {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection), "AWS_EC2_METADATA_DISABLED": "true"}
    with AirflowStack(DAGS_DIR, env=env, parallelism=4) as airflow:
        dag_ids = (POOLED_DAG_ID, UNPOOLED_DAG_ID, TRIGGERER_DAG_ID)
        airflow.wait_ready(dag_ids)
        listening = airflow.listening_addresses()
        assert {address for address, _ in listening} == {"127.0.0.1"}, listening
        airflow.create_pool(SES_INSIGHTS_POOL, 1, "GetMessageInsights: one call per second per account")
        for dag_id in dag_ids:
            airflow.unpause(dag_id)
        yield airflow
        airflow.delete_pool(SES_INSIGHTS_POOL)
        assert SES_INSIGHTS_POOL not in airflow.pool_names()
    assert airflow.pids() == [], "processes of the stack outlived its stop"
    assert not port_in_use(airflow.port)


def script_messages(ses: EmulatorProcess, sensor_ids: Sequence[str], delivered: bool) -> None:
    """(Re)script the sensors' messages: SEND only while they should wait, then DELIVERY too."""
    events: list[dict[str, Any]] = [{"type": "SEND", "after": 0}]
    if delivered:
        events.append({"type": "DELIVERY", "after": 0})
    recipient = {"destination": "someone@example.com", "events": events}
    ses.add_messages([{"message_id": message_id, "recipients": [recipient]} for message_id in sensor_ids])


class Deliverer:
    """Called at each poll of a run: delivers the sensors' messages once each has been checked
    ``checks`` times, and counts how many sensors were deferred at once."""

    def __init__(self, ses: EmulatorProcess, sensor_ids: Sequence[str], checks: int):
        self.ses = ses
        self.sensor_ids = list(sensor_ids)
        self.checks = checks
        self.delivered = False
        self.most_deferred = 0

    def __call__(self, instances: list[dict[str, Any]]) -> None:
        """Look at one poll's task instances and the emulator's call log."""
        deferred = sum(instance["state"] == "deferred" for instance in instances)
        self.most_deferred = max(self.most_deferred, deferred)
        if self.delivered:
            return
        calls = self.ses.insights_calls()
        if all(sum(call.message_id == mid for call in calls) >= self.checks for mid in self.sensor_ids):
            script_messages(self.ses, self.sensor_ids, delivered=True)
            self.delivered = True


def run_scenario(
    stack: AirflowStack, ses: EmulatorProcess, dag_id: str, sensor_ids: Sequence[str], checks: int
) -> tuple[str, list[TaskAttempt], list[Call], Deliverer, float]:
    """Reset the emulator, script the messages, run ``dag_id`` to its end and collect the records."""
    ses.reset()
    ses.add_messages([{"message_id": message_id} for batch in FETCH_BATCHES for message_id in batch])
    script_messages(ses, sensor_ids, delivered=False)
    deliverer = Deliverer(ses, sensor_ids, checks)
    started = time.monotonic()
    run_id = stack.trigger(dag_id)
    state, attempts = stack.wait_for_run(dag_id, run_id, RUN_TIMEOUT, on_poll=deliverer)
    return state, attempts, ses.insights_calls(), deliverer, time.monotonic() - started


# -- the scenarios ----------------------------------------------------------------------------


@pytest.mark.integration
def test_pool_serializes_tasks_and_spaces_calls(stack: AirflowStack, ses: EmulatorProcess) -> None:
    """Scenario 1: in the pool, attempts never overlap, sensors free the slot between pokes, and
    the emulator sees every call at least a second after the previous one: zero 429s."""
    with diagnostics(stack, ses):
        state, attempts, calls, deliverer, seconds = run_scenario(
            stack, ses, POOLED_DAG_ID, RESCHEDULE_SENSOR_IDS, checks=1
        )
        print(summary("pool", seconds, calls, attempts))
        assert state == "success"
        states = final_states(attempts)
        assert set(states.values()) == {"success"}
        assert len(states) == len(FETCH_BATCHES) + len(RESCHEDULE_SENSOR_IDS)
        assert deliverer.delivered
        assert overlapping(attempts) == []
        for number in range(len(RESCHEDULE_SENSOR_IDS)):
            sensor = f"wait_{number}"
            assert sum(attempt.task_id == sensor for attempt in attempts) >= 2, f"{sensor} poked once"
            assert ran_during_wait(sensor, attempts), f"nothing ran while {sensor} waited"
        assert len(calls) >= sum(map(len, FETCH_BATCHES)) + 2 * len(RESCHEDULE_SENSOR_IDS)
        assert [call.status for call in calls if call.status != 200] == []
        assert min(call_gaps(calls)) >= MIN_GAP


@pytest.mark.integration
def test_without_the_pool_tasks_and_calls_collide(stack: AirflowStack, ses: EmulatorProcess) -> None:
    """Scenario 2, the control: the same DAG outside the pool runs tasks side by side and crowds
    the emulator, which is what scenario 1's checks would catch. Throttling retries still carry
    every task to success: a burst is slowed, not failed."""
    with diagnostics(stack, ses):
        state, attempts, calls, _, seconds = run_scenario(
            stack, ses, UNPOOLED_DAG_ID, RESCHEDULE_SENSOR_IDS, checks=1
        )
        print(summary("no pool", seconds, calls, attempts))
        assert state == "success"
        assert overlapping(attempts) != []
        assert min(call_gaps(calls)) < MIN_GAP


@pytest.mark.integration
def test_triggerer_paces_deferred_sensors(stack: AirflowStack, ses: EmulatorProcess) -> None:
    """Scenario 3: deferrable sensors in no pool at all, all waiting in the triggerer at once,
    still make at most one call per second, with zero 429s."""
    with diagnostics(stack, ses):
        state, attempts, calls, deliverer, seconds = run_scenario(
            stack, ses, TRIGGERER_DAG_ID, DEFERRABLE_SENSOR_IDS, checks=3
        )
        figures = summary("triggerer", seconds, calls, attempts)
        print(f"{figures}, {deliverer.most_deferred} sensors deferred at once")
        assert state == "success"
        assert set(final_states(attempts).values()) == {"success"}
        assert deliverer.delivered
        assert deliverer.most_deferred == len(DEFERRABLE_SENSOR_IDS)
        assert [call.status for call in calls if call.status != 200] == []
        assert min(call_gaps(calls)) >= MIN_GAP
