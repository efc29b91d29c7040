"""Reliability suite: bad inputs, injected faults, S3 failures and secrets, through real DAG runs.

What the unit suites already cover is not repeated here: the validator's own table
(tests/test_message_ids.py), the hook's retries of 429/500/503/drop/malformed and its refusal of
bad IDs (tests/test_hook.py), and the operator's S3 checks and checkpoint resume after a 503
(tests/test_operator.py). This suite takes the same failures to the operator and the sensor in
``dag.test()`` runs (DAGs in tests/dags/reliability_dags.py) and checks what a user would see:
the task fails or succeeds clearly, nothing already fetched is lost, nothing half-written stays in
S3, and no secret or recipient address reaches a log.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import AIRFLOW_HOME, aws_connection_uri, dag_bag_class, run_dag, task_states, xcom_value
from reliability_dags import BAD_MESSAGE_IDS, FAILURES_FILE

from airflow_provider_sesinsights.emulator import CallRecord, SesEmulator

FAST_RATE = 50.0
"""Calls per second of the emulator and the hook where a test is not about pacing."""

BUCKET = "reliability-out"
MODES = ("poke", "deferrable")
"""Sensor modes that ``rel_sensor_modes`` runs, each on its own message."""


def insights_calls(emulator: SesEmulator) -> list[CallRecord]:
    return [call for call in emulator.calls if call.operation == "GetMessageInsights"]


class Failure(NamedTuple):
    """One failed try, as ``record_failure`` in reliability_dags.py noted it."""

    task: tuple[str, int]
    try_number: int
    error: str
    message: str


def run_recording_failures(dag_id: str, conf: dict[str, Any] | None = None) -> tuple[Any, list[Failure]]:
    """Run a DAG whose tasks record their failed tries; the DagRun and those tries in order."""
    recorded = AIRFLOW_HOME / FAILURES_FILE
    recorded.unlink(missing_ok=True)
    dagrun = run_dag(dag_id, conf)
    lines = recorded.read_text(encoding="utf-8").splitlines() if recorded.exists() else []
    failures = []
    for line in map(json.loads, lines):
        task_id, map_index = line["task"]
        failures.append(Failure((task_id, map_index), line["try"], line["error"], line["message"]))
    return dagrun, failures


def wait_for_calls(emulator: SesEmulator, count: int, timeout: float = 10.0) -> list[CallRecord]:
    """The GetMessageInsights calls once ``count`` are logged: a "slow" answer is logged only after
    its delay, when the client may have given up on it long ago."""
    deadline = time.monotonic() + timeout
    while len(calls := insights_calls(emulator)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return calls


def delivered(destination: str) -> list[dict[str, Any]]:
    return [
        {
            "destination": destination,
            "events": [{"type": "SEND", "after": 0}, {"type": "DELIVERY", "after": 0}],
        }
    ]


@pytest.fixture
def fast_emulator() -> Iterator[SesEmulator]:
    """An emulator without a rate limit: faults are injected one by one and must not be eaten
    by the limiter (which answers before faults are looked at)."""
    with SesEmulator(rate=None, delivery_delay=1.0) as emu:
        yield emu


@pytest.fixture
def fast_conn(fast_emulator: SesEmulator, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` on the unlimited emulator (hook paced at FAST_RATE) and moto's S3."""
    uri = aws_connection_uri(fast_emulator.endpoint_url, s3_endpoint, max_calls_per_second=FAST_RATE)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", uri)
    return "aws_default"


# --- Bad message IDs: rejected at run time, before any call, naming the value ------------------


@pytest.mark.needs_airflow_3_1("dag.test() hands failure callbacks no exception there")
def test_bad_message_ids_fail_operator_and_sensor_before_any_call(
    airflow_db: Any, aws_conn: str, emulator: SesEmulator
) -> None:
    dagrun, failed_tries = run_recording_failures("rel_bad_ids")
    states = task_states(dagrun)
    failures = {failure.task: failure for failure in failed_tries}
    assert len(failures) == len(failed_tries), "a bad message ID must not be retried"

    assert insights_calls(emulator) == []
    for row, (label, value) in enumerate(BAD_MESSAGE_IDS):
        assert states[(f"emit_{row}", -1)] == "success", label
        for consumer in ("operator", "operator_batch", "sensor"):
            task = (f"{consumer}_{row}", -1)
            assert states[task] == "failed", (label, consumer)
            failure = failures[task]
            assert failure.error == "AirflowFailException", (label, consumer, failure)
            assert failure.message.startswith("message_id: "), (label, consumer, failure)
            # The value as repr() shows it (long values are shortened, so compare the start).
            assert repr(value)[:40] in failure.message, (label, consumer, failure)
        assert "#1:" in failures[(f"operator_batch_{row}", -1)].message, "a batch names the bad ID's position"


# --- Bad arguments in a DAG file: an import error that names the value --------------------------

_DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator
from airflow_provider_sesinsights.sensors.ses_insights import SesMessageEventSensor

with DAG("bad_arguments", schedule=None):
    {task}
"""


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            "GetMessageInsightsOperator(task_id='t', message_id=['ok-1', 'ok 2'])",
            "#1: SES message ID contains whitespace: 'ok 2'",
        ),
        (
            "GetMessageInsightsOperator(task_id='t', message_id='ok-1', s3_key='ftp://reports/day.jsonl')",
            "s3_key 'ftp://reports/day.jsonl' is a ftp:// URI",
        ),
        ("SesMessageEventSensor(task_id='t', message_id='a/b')", "contains '/': 'a/b'"),
        (
            "SesMessageEventSensor(task_id='t', message_id='ok-1', target_events='DELIVERY, OPENED')",
            "' OPENED', which is not an SES event type",
        ),
        # Airflow's own check of sensor arguments reaches the DAG author the same way.
        ("SesMessageEventSensor(task_id='t', message_id='ok-1', mode='sometimes')", "received 'sometimes'"),
    ],
    ids=["operator-id", "operator-s3-key", "sensor-id", "sensor-events", "sensor-mode"],
)
def test_bad_literal_arguments_are_import_errors_naming_the_value(
    tmp_path: Path, task: str, message: str
) -> None:
    DagBag = dag_bag_class()

    dag_file = tmp_path / "bad_arguments.py"
    dag_file.write_text(_DAG_FILE.format(task=task), encoding="utf-8")
    bag = DagBag(dag_folder=str(dag_file))

    assert bag.dags == {}
    assert list(bag.import_errors) == [str(dag_file)]
    assert message in bag.import_errors[str(dag_file)]


@pytest.mark.needs_airflow_3_1("dag.test() hands failure callbacks no exception there")
def test_arguments_given_to_partial_are_checked_at_run_time_before_any_call(
    airflow_db: Any, aws_conn: str, emulator: SesEmulator
) -> None:
    # Airflow 3.3 keeps partial() arguments unchecked until each mapped task is created, so the
    # DAG parses; the tasks must then fail before calling the API.
    dagrun, failed_tries = run_recording_failures("rel_partial_bad_args")

    assert task_states(dagrun) == {("each", 0): "failed", ("wait", 0): "failed"}
    assert insights_calls(emulator) == []
    assert {failure.task: (failure.error, failure.message) for failure in failed_tries} == {
        ("each", 0): (
            "ValueError",
            "s3_key 'ftp://reports/out.jsonl' is a ftp:// URI; only s3:// URIs are accepted",
        ),
        ("wait", 0): (
            "ValueError",
            "target_events contains 'DELIVERED', which is not an SES event type; expected any of "
            "SEND, REJECT, BOUNCE, COMPLAINT, DELIVERY, OPEN, CLICK, RENDERING_FAILURE, DELIVERY_DELAY, "
            "SUBSCRIPTION",
        ),
    }


# --- API faults through the operator -----------------------------------------------------------

FAST_BACKOFF = {"base_delay": 0.01, "max_delay": 0.05}


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's default retry policy (its number of attempts) with millisecond backoffs."""
    from airflow_provider_sesinsights.hooks import ses_insights
    from airflow_provider_sesinsights.retries import RetryPolicy

    monkeypatch.setattr(ses_insights, "RetryPolicy", functools.partial(RetryPolicy, **FAST_BACKOFF))


@pytest.fixture
def bucket(s3_client: Any) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


def keys_in(s3_client: Any, bucket: str = BUCKET) -> list[str]:
    return sorted(item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def message_ids_in(s3_client: Any, key: str, bucket: str = BUCKET) -> list[str]:
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line)["MessageId"] for line in body.splitlines()]


def add_messages(emulator: SesEmulator, count: int) -> list[str]:
    return [emulator.add_message(recipients=delivered(f"reader{n}@example.com")) for n in range(count)]


@pytest.mark.parametrize(
    "faults",
    [
        ["throttle"] * 9,
        ["throttle", "internal_error", "unavailable", "drop", "malformed", "throttle", "unavailable"],
    ],
    ids=["nine-429s", "mixed"],
)
def test_runs_of_faults_within_the_retry_budget_end_in_a_complete_batch(
    airflow_db: Any,
    fast_conn: str,
    fast_emulator: SesEmulator,
    bucket: str,
    s3_client: Any,
    quick_backoff: None,
    faults: list[str],
) -> None:
    ids = add_messages(fast_emulator, 4)
    for kind in faults:
        fast_emulator.inject(kind, message_id=ids[2])
    key = "faults/ridden-out.jsonl"
    dagrun = run_dag("rel_default", {"message_ids": ids, "s3_bucket": bucket, "s3_key": key})

    assert task_states(dagrun) == {("insights", -1): "success"}
    assert [c.fault for c in insights_calls(fast_emulator) if c.message_id == ids[2]] == [*faults, None]
    assert message_ids_in(s3_client, key) == ids
    assert keys_in(s3_client) == [key, key + ".manifest.json"]


def test_read_timeouts_are_retried_by_the_hook(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, quick_backoff: None
) -> None:
    ids = add_messages(fast_emulator, 3)
    fast_emulator.inject("slow", count=2, message_id=ids[1], seconds=1.5)  # read_timeout is 0.5 s
    dagrun = run_dag("rel_read_timeouts", {"message_ids": ids})

    assert task_states(dagrun) == {("insights", -1): "success"}
    assert [r["MessageId"] for r in xcom_value(dagrun, "insights")] == ids
    calls = wait_for_calls(fast_emulator, len(ids) + 2)
    assert [c.fault for c in calls if c.message_id == ids[1]] == ["slow", "slow", None]


@pytest.mark.needs_airflow_3_1("dag.test() hands failure callbacks no exception there")
@pytest.mark.parametrize(
    ("kind", "seconds"),
    [("throttle", 0.0), ("internal_error", 0.0), ("drop", 0.0), ("malformed", 0.0), ("slow", 1.5)],
    ids=["429", "500", "dropped-connection", "malformed-body", "read-timeout"],
)
def test_fault_outlasting_the_retries_fails_the_try_clearly_and_the_retry_resumes(
    airflow_db: Any,
    fast_conn: str,
    fast_emulator: SesEmulator,
    bucket: str,
    s3_client: Any,
    kind: str,
    seconds: float,
) -> None:
    # rel_resume makes one attempt per call; tests/test_operator.py covers 503 the same way.
    ids = add_messages(fast_emulator, 5)
    fast_emulator.inject(kind, message_id=ids[3], seconds=seconds)
    key = f"faults/{kind}.jsonl"
    dagrun, failures = run_recording_failures(
        "rel_resume", {"message_ids": ids, "s3_bucket": bucket, "s3_key": key}
    )

    assert task_states(dagrun) == {("insights", -1): "success"}
    (first_try,) = failures
    assert (first_try.try_number, first_try.error) == (1, "MessageInsightsUnavailable")
    assert f"message ID {ids[3]!r} still failing after 1 attempt(s)" in first_try.message
    answered = [c.message_id for c in insights_calls(fast_emulator) if c.status == 200 and c.fault is None]
    assert answered == ids, "each message is fetched once: the retry resumes after what try 1 kept"
    assert message_ids_in(s3_client, key) == ids
    assert keys_in(s3_client) == [key, key + ".manifest.json"]


@pytest.mark.needs_airflow_3_1("dag.test() hands failure callbacks no exception there")
@pytest.mark.parametrize("outlasting", [False, True], ids=["within-retries", "outlasting-retries"])
def test_sensors_ride_out_fault_runs_or_fail_naming_the_message(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, quick_backoff: None, outlasting: bool
) -> None:
    from airflow_provider_sesinsights.retries import RetryPolicy

    attempts = RetryPolicy().max_attempts
    kinds = ["throttle", "unavailable", "drop", "internal_error", "malformed"]
    faults = [kinds[n % len(kinds)] for n in range(attempts if outlasting else attempts - 1)]
    ids = {mode: fast_emulator.add_message(recipients=delivered(f"{mode}@example.com")) for mode in MODES}
    for message_id in ids.values():
        for kind in faults:
            fast_emulator.inject(kind, message_id=message_id)
    dagrun, failures = run_recording_failures("rel_sensor_modes", ids)

    states = task_states(dagrun)
    if not outlasting:
        assert states == {(f"wait_{mode}", -1): "success" for mode in MODES}
        assert [f.task for f in failures] == []
        return
    assert states == {(f"wait_{mode}", -1): "failed" for mode in MODES}
    for failure in failures:
        mode = failure.task[0].removeprefix("wait_")
        assert f"message ID {ids[mode]!r} still failing after {attempts} attempt(s)" in failure.message
    assert sorted(f.task for f in failures) == [(f"wait_{mode}", -1) for mode in sorted(MODES)]


# --- S3 failures: a clear error, and nothing partial left behind --------------------------------


def _deny_puts(s3_client: Any, resource: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{resource}",
            }
        ],
    }
    s3_client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def checkpointed_ids(s3_client: Any, key: str) -> list[str]:
    """Message IDs kept in the checkpoint parts under ``key`` (each part: a header line, records)."""
    kept = []
    for part in keys_in(s3_client):
        if part.startswith(key + ".checkpoint/"):
            lines = s3_client.get_object(Bucket=BUCKET, Key=part)["Body"].read().decode().splitlines()
            kept += [json.loads(line)["message_id"] for line in lines[1:]]
    return kept


@pytest.mark.needs_airflow_3_1("dag.test() hands failure callbacks no exception there")
@pytest.mark.parametrize(
    ("case", "message", "fetched", "kept"),
    [
        ("missing bucket", "S3 bucket 'no-such-bucket' does not exist", False, False),
        ("existing key", "already exists and replace=False", False, False),
        # Nothing can be written, not even the checkpoint.
        ("writes denied", "(403) when calling the PutObject operation", True, False),
        # Only the data object is refused: what was fetched must survive for the retry.
        ("data key denied", "(403) when calling the PutObject operation", True, True),
    ],
)
def test_s3_failures_fail_clearly_and_leave_no_partial_object(
    airflow_db: Any,
    fast_conn: str,
    fast_emulator: SesEmulator,
    bucket: str,
    s3_client: Any,
    case: str,
    message: str,
    fetched: bool,
    kept: bool,
) -> None:
    ids = add_messages(fast_emulator, 3)
    key = "s3-faults/out.jsonl"
    destination = {"s3_bucket": bucket, "s3_key": key}
    before: list[str] = []
    if case == "missing bucket":
        destination = {"s3_bucket": None, "s3_key": "s3://no-such-bucket/out.jsonl"}
    elif case == "existing key":
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"an earlier report")
        before = [key]
    elif case == "writes denied":
        _deny_puts(s3_client, f"{bucket}/*")
    else:
        _deny_puts(s3_client, f"{bucket}/{key}")
    buckets = {b["Name"] for b in s3_client.list_buckets()["Buckets"]}
    dagrun, failures = run_recording_failures("rel_default", {"message_ids": ids, **destination})

    assert task_states(dagrun) == {("insights", -1): "failed"}
    (failure,) = failures
    assert message in failure.message, failure
    if "(403)" in message:  # botocore names only the operation; the error must name the object
        assert f"Could not write s3://{bucket}/{key}" in failure.message, failure
    assert [c.message_id for c in insights_calls(fast_emulator)] == (ids if fetched else [])
    assert {b["Name"] for b in s3_client.list_buckets()["Buckets"]} == buckets
    leftovers = [k for k in keys_in(s3_client) if not k.startswith(key + ".checkpoint/")]
    assert leftovers == before, "no data object or manifest may stay behind a failed write"
    if before:
        assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"an earlier report"
    assert checkpointed_ids(s3_client, key) == (ids if kept else [])


# --- Secrets and recipients stay out of logs ----------------------------------------------------

SECRETS = {
    "access key id": "AKIDLEAKCHECK7Q3ZX9W",
    "secret access key": "leakCheck/Secret+Key=9f2c7e1d4b8a",
    "session token": "leakCheckSessionToken5b1e0c7a",
}
"""Distinctive fake credentials; finding any of them in a log means the log leaks credentials."""


def secret_connection(ses_endpoint: str, s3_endpoint: str) -> str:
    """``aws_default`` signing with :data:`SECRETS`, on the emulator and moto's S3."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": SECRETS["access key id"],
            "password": SECRETS["secret access key"],
            "extra": {
                "aws_session_token": SECRETS["session token"],
                "region_name": "us-east-1",
                "service_config": {
                    "sesv2": {"endpoint_url": ses_endpoint, "max_calls_per_second": FAST_RATE},
                    "s3": {"endpoint_url": s3_endpoint},
                },
            },
        }
    )


def hook_calls_that_fail_and_succeed(emulator: SesEmulator, message_ids: list[str]) -> None:
    """Direct hook calls: a success, a 404 and retries that run out, failures logged with tracebacks."""
    from airflow.exceptions import AirflowException

    from airflow_provider_sesinsights.hooks.ses_insights import SesInsightsHook
    from airflow_provider_sesinsights.retries import RetryPolicy

    hook = SesInsightsHook(
        aws_conn_id="aws_default", retry_policy=RetryPolicy(max_attempts=2, **FAST_BACKOFF)
    )
    emulator.inject("unavailable", count=2, message_id=message_ids[-1])
    for message_id in (message_ids[0], "no-such-message", message_ids[-1]):
        try:
            hook.get_message_insights(message_id)
        except AirflowException:
            logging.getLogger(__name__).exception("GetMessageInsights for %s failed", message_id)


@pytest.mark.needs_airflow_3_1(
    "its Task SDK logs the MaskSecret request, secret included, at debug level in dag.test() output"
)
def test_no_credential_reaches_any_log(
    airflow_db: Any,
    fast_emulator: SesEmulator,
    s3_endpoint: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", secret_connection(fast_emulator.endpoint_url, s3_endpoint))
    caplog.set_level(logging.INFO)
    s3_client.create_bucket(Bucket=BUCKET)
    ids = add_messages(fast_emulator, 3)
    fast_emulator.inject("internal_error", message_id=ids[1])
    conf = {"message_ids": ids, "s3_bucket": BUCKET, "s3_key": "secrets/out.jsonl"}
    resumed = run_dag("rel_resume", conf)
    no_bucket = run_dag("rel_resume", {"message_ids": ids, "s3_key": "s3://no-such-bucket/out.jsonl"})
    sensors = run_dag("rel_sensor_modes", {"poke": ids[0], "deferrable": ids[2]})
    hook_calls_that_fail_and_succeed(fast_emulator, ids)
    captured = capfd.readouterr()

    assert set(task_states(resumed).values()) == {"success"}
    assert set(task_states(no_bucket).values()) == {"failed"}
    assert set(task_states(sensors).values()) == {"success"}
    # Every call was signed with the secret connection, so the secrets were in use throughout.
    assert {call.account for call in insights_calls(fast_emulator)} == {SECRETS["access key id"]}
    texts = {"stdout": captured.out, "stderr": captured.err, "log records": caplog.text}
    texts |= {
        str(p): p.read_text(errors="replace") for p in (AIRFLOW_HOME / "logs").rglob("*") if p.is_file()
    }
    everything = "".join(texts.values())
    # The searches below see the tasks' logs and the hook's failures, so they can find a leak.
    assert "Wrote 3 message(s) to s3://reliability-out/secrets/out.jsonl" in everything
    assert "S3 bucket 'no-such-bucket' does not exist" in everything
    assert "still failing after 2 attempt(s)" in everything
    for where, text in texts.items():
        for what, secret in SECRETS.items():
            assert secret not in text, f"the {what} appears in {where}"


def test_secret_key_stays_out_of_debug_logs_of_hook_calls(
    fast_emulator: SesEmulator,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # At DEBUG botocore itself logs each signed request, access key id and session token included;
    # the secret access key only signs and must appear nowhere.
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", secret_connection(fast_emulator.endpoint_url, s3_endpoint))
    caplog.set_level(logging.DEBUG)
    hook_calls_that_fail_and_succeed(fast_emulator, add_messages(fast_emulator, 2))
    captured = capfd.readouterr()

    assert "Sending http request" in caplog.text, "botocore's debug log was captured"
    for text in (caplog.text, captured.out, captured.err):
        assert SECRETS["secret access key"] not in text


EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"


def test_hashed_report_pipeline_writes_and_logs_no_recipient_address(
    airflow_db: Any,
    fast_emulator: SesEmulator,
    s3_endpoint: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow import settings

    from airflow_provider_sesinsights.emulator.scenarios import ScenarioDay, realistic_day

    DagBag = dag_bag_class()

    generated = realistic_day(date(2025, 6, 2), messages=12, seed=5)
    sent = datetime(2025, 6, 2, 9, tzinfo=timezone.utc).timestamp()
    quoted = {  # an address in odd case inside the bounce text, besides the generated ones
        "message_id": "010001977a1b2c3d-0f0e0d0c-0b0a-4909-8807-060504030201-000000",
        "tags": {"campaign": "newsletter"},
        "recipients": [
            {
                "destination": "Zoe.Quinn+news@Example.org",
                "events": [
                    {"type": "SEND", "at": sent},
                    {
                        "type": "BOUNCE",
                        "at": sent + 2,
                        "bounce": {
                            "BounceType": "PERMANENT",
                            "BounceSubType": "General",
                            "DiagnosticCode": "smtp; 550 5.1.1 <ZOE.QUINN+news@example.ORG>: no such user",
                        },
                    },
                ],
            }
        ],
    }
    day = ScenarioDay(generated.day, [*generated.messages, quoted])
    fast_emulator.add_messages(day.messages)
    addresses = {r["destination"].lower() for m in day.messages for r in m["recipients"]}
    for bucket in ("example-ses-sending-logs", "example-ses-insights"):
        s3_client.create_bucket(Bucket=bucket)
    manifest_key = "manifests/dt=2025-06-02/sent.jsonl"
    s3_client.put_object(
        Bucket="example-ses-sending-logs", Key=manifest_key, Body=day.manifest_jsonl().encode()
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", secret_connection(fast_emulator.endpoint_url, s3_endpoint))
    # dag.test() needs the DAG file inside the dags folder, which Airflow read once at start-up.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLE_DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLE_DAGS))
    monkeypatch.setenv("AIRFLOW_VAR_SES_INSIGHTS_REPORT_SALT", "reliability-salt")
    caplog.set_level(logging.DEBUG, logger="airflow_provider_sesinsights")
    capfd.readouterr()
    dag = DagBag(dag_folder=str(EXAMPLE_DAGS)).get_dag("example_ses_deliverability_report")
    dagrun = dag.test(
        logical_date=datetime(2025, 6, 2, tzinfo=timezone.utc),
        run_conf={"manifest_key": "manifests/dt={ds}/sent.jsonl", "hash_recipients": True},
    )
    captured = capfd.readouterr()

    assert set(task_states(dagrun).values()) == {"success"}
    outputs: dict[str, str] = {}
    for item in s3_client.list_objects_v2(Bucket="example-ses-insights")["Contents"]:
        body = s3_client.get_object(Bucket="example-ses-insights", Key=item["Key"])["Body"].read()
        outputs[item["Key"]] = (gzip.decompress(body) if item["Key"].endswith(".gz") else body).decode()
    (raw_key,) = [key for key in outputs if key.endswith("/raw/dt=2025-06-02/insights.jsonl.gz")]
    raw = outputs.pop(raw_key).lower()
    # The raw insights are the operator's unhashed input to the report: every address is there,
    # so the searches below would find them if the report let any through.
    assert all(address in raw for address in addresses)
    assert {key.rsplit("/", 1)[1] for key in outputs} == {
        "events.csv",
        "summary.csv",
        "summary.json",
        "report.html",
        "insights.jsonl.gz.manifest.json",
    }
    texts = {"stdout": captured.out, "stderr": captured.err, "log records": caplog.text, **outputs}
    assert f"lists {len(day.messages)} message(s)" in captured.out + caplog.text, "task logs were captured"
    for where, text in texts.items():
        found = sorted(address for address in addresses if address in text.lower())
        assert found == [], f"recipient addresses in {where}"
