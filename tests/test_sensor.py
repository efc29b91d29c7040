"""SesMessageEventSensor: arguments checked at parse time, and real DAG runs in all three modes.

The DAG runs (``tests/dags/sensor_dags.py``) script each scenario's message in the emulator right
before its sensor, so every sensor sees its own message's timing. They are not about pacing, so
the emulator and the connection allow 20 calls per second; pacing has its own tests.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import airflow
import pytest
from conftest import DAGS_DIR, aws_connection_uri, run_dag, xcom_value

from airflow_provider_sesinsights import insights
from airflow_provider_sesinsights.event_wait import (
    ERROR,
    FAILED,
    MET,
    NOT_FOUND_TIMEOUT,
    TIMED_OUT,
    UNREACHABLE,
    Verdict,
)
from airflow_provider_sesinsights.exceptions import InvalidMessageIdError
from airflow_provider_sesinsights.sensors.ses_insights import DEFAULT_POKE_INTERVAL, SesMessageEventSensor

FAST_RATE = 20.0
SINGLE = "reader@gmail.com"


def single(*events: dict[str, Any], **message: Any) -> dict[str, Any]:
    return {"recipients": [{"destination": SINGLE, "events": list(events)}], **message}


SENT = single({"type": "SEND", "after": 0})
BOUNCE = {
    "type": "BOUNCE",
    "after": 0.5,
    "bounce": {"BounceType": "PERMANENT", "BounceSubType": "General", "DiagnosticCode": "smtp; 550"},
}

FIRST_MESSAGES: dict[str, dict[str, Any]] = {
    "delivery": SENT,
    "bounce": SENT,
    "timeout": SENT,
    "timeout_soft": SENT,
    "multi": {
        "recipients": [
            {"destination": "a@example.com", "events": [{"type": "SEND", "after": 0}]},
            {"destination": "b@example.com", "events": [{"type": "SEND", "after": 0}]},
        ]
    },
    "reject": single({"type": "REJECT", "after": 0}),
}
"""What each scenario's script task posts; ``late`` and ``unknown`` start unknown to SES."""

AFTER_FIRST_CALL: dict[str, dict[str, Any]] = {
    "delivery": single({"type": "SEND", "after": 0}, {"type": "DELIVERY", "after": 0.5}),
    "bounce": single({"type": "SEND", "after": 0}, BOUNCE),
    "late": single({"type": "SEND", "after": 0}, {"type": "DELIVERY", "after": 0}, visible_after=0.3),
}
"""What the message becomes once the sensor has asked about it, whatever the machine's load."""

SCENARIOS = ("delivery", "bounce", "late", "timeout", "timeout_soft", "multi", "reject", "unknown")


@contextmanager
def rescript_after_first_call(emulator: Any, later: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Replace each message of ``later`` (by ID) once the emulator has seen a call for it."""
    stop = threading.Event()

    def watch() -> None:
        pending = dict(later)
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline and not stop.wait(0.02):
            asked = {call.message_id for call in emulator.calls}
            for message_id in [m for m in pending if m in asked]:
                emulator.add_message(message_id, **pending.pop(message_id))

    watcher = threading.Thread(target=watch, name="rescript-after-first-call", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=5)


@pytest.fixture
def fast_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An emulator allowing 20 calls per second, with ``aws_default`` pointing at it."""
    from airflow_provider_sesinsights.emulator import SesEmulator

    with SesEmulator(rate=FAST_RATE, delivery_delay=1.0) as emulator:
        uri = aws_connection_uri(emulator.endpoint_url, max_calls_per_second=FAST_RATE)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", uri)
        yield emulator


@pytest.fixture
def paced_conn(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``aws_default`` on the emulator at the real limit (one call per second); yields the emulator."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(emulator.endpoint_url))
    return emulator


def make_sensor(**kwargs: Any) -> SesMessageEventSensor:
    return SesMessageEventSensor(**{"task_id": "wait", "message_id": "0100-abc-000000", **kwargs})


# --- Arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"message_id": "has space"}, InvalidMessageIdError, "whitespace: 'has space'"),
        ({"message_id": ""}, InvalidMessageIdError, "empty or blank"),
        ({"target_events": ["DELIVERED"]}, ValueError, "'DELIVERED', which is not an SES event type"),
        ({"failure_events": "REJECT, OOPS"}, ValueError, "failure_events contains ' OOPS'"),
        ({"target_events": ["REJECT"]}, ValueError, "REJECT cannot be both a target and a failure event"),
        ({"target_events": []}, ValueError, "at least one"),
        ({"not_found_timeout": -5}, ValueError, "not_found_timeout must be a timedelta or a number"),
    ],
)
def test_bad_literal_arguments_fail_at_parse_time(kwargs: dict[str, Any], error: type, text: str) -> None:
    with pytest.raises(error) as caught:
        make_sensor(**kwargs)
    assert text in str(caught.value)


def test_templated_arguments_are_checked_after_rendering_only() -> None:
    sensor = make_sensor(
        message_id="{{ ti.xcom_pull(task_ids='send') }}",
        target_events="{{ params.targets }}",
        not_found_timeout=timedelta(minutes=2),
    )
    assert {"message_id", "target_events", "failure_events", "aws_conn_id"} <= set(sensor.template_fields)
    assert sensor.not_found_timeout == 120.0


def test_defaults_fit_a_shared_one_call_per_second_budget() -> None:
    sensor = make_sensor()
    assert sensor.poke_interval == DEFAULT_POKE_INTERVAL == 30
    assert sensor.target_events == ("DELIVERY", "BOUNCE")
    assert sensor.failure_events == ("REJECT", "RENDERING_FAILURE")


@pytest.mark.parametrize(
    ("kwargs", "warns"),
    [
        ({"mode": "reschedule", "poke_interval": 5}, True),
        ({"mode": "reschedule", "poke_interval": 9.5}, True),
        ({"mode": "reschedule", "poke_interval": 10}, False),
        ({"mode": "reschedule", "poke_interval": 10, "exponential_backoff": True}, True),
        ({"mode": "reschedule", "poke_interval": 20, "exponential_backoff": True}, False),
        ({"mode": "reschedule", "poke_interval": 60, "max_wait": 3}, True),
        ({"mode": "reschedule", "poke_interval": 1, "deferrable": True}, False),
        ({"mode": "poke", "poke_interval": 1}, False),
    ],
)
def test_short_reschedule_intervals_warn_about_airflow_71172(kwargs: dict[str, Any], warns: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_sensor(**kwargs)
    found = [w for w in caught if "apache/airflow#71172" in str(w.message)]
    assert bool(found) is warns


def test_deferrable_defaults_to_the_operators_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_sesinsights.sensors import ses_insights

    assert make_sensor().deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        reloaded = importlib.reload(ses_insights)  # the default is read when the class is defined
        assert reloaded.SesMessageEventSensor(task_id="t", message_id="m-1").deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(ses_insights)


# --- Verdicts to results --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "exception"),
    [
        (FAILED, "AirflowFailException"),
        (UNREACHABLE, "AirflowFailException"),
        (NOT_FOUND_TIMEOUT, "AirflowSensorTimeout"),
        (TIMED_OUT, "AirflowSensorTimeout"),
        (ERROR, "AirflowException"),
    ],
)
def test_final_verdicts_raise_with_their_reason(state: str, exception: str) -> None:
    with pytest.raises(Exception, match="the reason") as caught:
        make_sensor().execute_complete({}, Verdict(state, "the reason").to_dict())  # type: ignore[arg-type]
    assert type(caught.value).__name__ == exception


def test_met_verdict_returns_the_insights_and_a_missing_event_is_an_error() -> None:
    found = {"MessageId": "m-1", "Insights": []}
    assert make_sensor().execute_complete({}, Verdict(MET, "ok", found).to_dict()) == found  # type: ignore[arg-type]
    with pytest.raises(Exception, match="event is None"):
        make_sensor().execute_complete({}, None)  # type: ignore[arg-type]


# --- Pacing hold ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "outcome"),
    [([{"type": "SEND", "after": 0}], "not yet"), ([{"type": "REJECT", "after": 0}], "REJECT occurred")],
)
def test_every_poke_holds_the_pool_slot_one_interval_after_its_call(
    paced_conn: Any, events: list[dict[str, Any]], outcome: str
) -> None:
    message_id = paced_conn.add_message(recipients=[{"destination": SINGLE, "events": events}])
    sensor = make_sensor(message_id=message_id, poke_interval=60)
    try:
        result: Any = sensor.poke({})  # type: ignore[arg-type]
    except Exception as exc:
        result = str(exc)
    returned = time.monotonic()
    (call,) = paced_conn.calls
    assert (result is False) if outcome == "not yet" else (outcome in result)
    assert returned - call.monotonic >= 0.95, "the poke returned before its call was one interval old"


# --- DAG runs in every mode -----------------------------------------------------------------------


def reschedule_count(ti_id: Any) -> int:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(TaskReschedule).filter(TaskReschedule.ti_id == ti_id).count()


AIRFLOW_3_0 = airflow.__version__.startswith("3.0.")
RESCHEDULE_UNDER_DAG_TEST = pytest.param(
    "reschedule",
    marks=pytest.mark.skipif(
        AIRFLOW_3_0,
        reason="Airflow 3.0's dag.test() hands sensors the first reschedule date as text, and "
        "BaseSensorOperator's own timeout check then fails with a TypeError (seen on 3.0.6)",
    ),
)


@pytest.mark.parametrize("mode", ["poke", RESCHEDULE_UNDER_DAG_TEST, "deferrable"])
def test_dag_run_covers_every_scenario(
    mode: str, airflow_db: Any, fast_emulator: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert (DAGS_DIR / "sensor_dags.py").exists()
    ids = {name: f"0100{uuid.uuid4().hex[:12]}-{uuid.uuid4()}-000000" for name in SCENARIOS}
    for name, message in FIRST_MESSAGES.items():
        fast_emulator.add_message(ids[name], **message)
    later = {ids[name]: message for name, message in AFTER_FIRST_CALL.items()}
    with rescript_after_first_call(fast_emulator, later):
        dagrun = run_dag(f"ses_sensor_{mode}", {"message_ids": ids, "outcomes_dir": str(tmp_path)})
    captured = capfd.readouterr()
    log = captured.out + captured.err
    why = {path.name.removeprefix("wait_"): path.read_text() for path in tmp_path.iterdir()}
    tis = {ti.task_id.removeprefix("wait_"): ti for ti in dagrun.get_task_instances()}
    states = {name: str(ti.state) for name, ti in tis.items()}
    statuses: dict[str, list[int]] = defaultdict(list)
    for call in fast_emulator.calls:
        if call.operation == "GetMessageInsights":
            statuses[call.message_id].append(call.status)
    calls = {name: statuses[ids[name]] for name in SCENARIOS}
    expected_states = {
        "delivery": "success",
        "bounce": "success",
        "late": "success",
        "timeout": "failed",
        "timeout_soft": "skipped",
        "multi": "failed",
        "reject": "failed",
        "unknown": "failed",
    }
    assert states == expected_states, f"calls: {calls}"
    assert fast_emulator.throttled_count() == 0
    # Failures are final: no retry although every task has retries=1.
    assert {name: tis[name].try_number for name in SCENARIOS} == dict.fromkeys(SCENARIOS, 1)

    # DELIVERY after a delay: checked before it happened, then the insights as XCom.
    delivered = xcom_value(dagrun, "wait_delivery")
    assert delivered["MessageId"] == ids["delivery"] and insights.outcome(delivered) == "delivered"
    assert len(calls["delivery"]) >= 2
    assert (reschedule_count(tis["delivery"].id) > 0) is (mode == "reschedule")
    if mode == "deferrable":
        assert "deferring to the triggerer" in log

    # BOUNCE is a target by default too, with its details in the XCom.
    bounced = xcom_value(dagrun, "wait_bounce")
    assert insights.outcome(bounced) == "bounced"
    assert insights.bounce_details(bounced)[0]["BounceType"] == "PERMANENT"

    # Not found, then found: 404 means "not yet".
    assert calls["late"][0] == 404 and calls["late"][-1] == 200
    assert xcom_value(dagrun, "wait_late")["MessageId"] == ids["late"]

    # Timeout: SES answered, but never with a target. Multi-recipient and REJECT: the first answer
    # decided. Never known: SES never knew the ID.
    assert calls["timeout"] and set(calls["timeout"]) == {200}
    assert calls["multi"] == [200] and calls["reject"] == [200]
    assert calls["unknown"] and set(calls["unknown"]) == {404}

    if AIRFLOW_3_0:
        return  # its dag.test() hands task callbacks no exception, so there are no reasons to read
    assert set(why) == {"timeout", "multi", "reject", "unknown"}
    # The timeout is the sensor base's in poke modes, the trigger's own when deferred.
    if mode == "deferrable":
        assert "Sensor has timed out: no DELIVERY, BOUNCE for SES message" in why["timeout"]
    else:
        assert "exceeds the specified timeout of 2.0" in why["timeout"]
    # Multi-recipient and REJECT fail on the first answer, naming the cause.
    assert "has 2 recipients, and SES reports DELIVERY, BOUNCE only" in why["multi"]
    assert "will never be delivered: REJECT occurred" in why["reject"]
    # not_found_timeout (2 s) ends the wait long before timeout (30 s), across reschedules too,
    # since the wait is measured from the first poke.
    assert "not_found_timeout=2 s): check the ID" in why["unknown"]
