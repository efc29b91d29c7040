"""GetMessageInsightsOperator in real DAG runs (``dag.test()``) against the emulator and moto's S3.

DAGs live in ``tests/dags/operator_dags.py``. Tests about pacing use the emulator at the real
limit (1 call/s); the others raise the emulator's limit and the hook's rate together, so they
take seconds, not minutes.
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import aws_connection_uri, run_dag, task_states, xcom_value
from operator_dags import ASSET_ALIAS, ASSET_URI

from airflow_provider_sesinsights.emulator import CallRecord, SesEmulator
from airflow_provider_sesinsights.operators.ses_insights import NOT_FOUND_XCOM_KEY

FAST_RATE = 25.0
"""Calls per second for the emulator and the hook in tests that are not about pacing."""

BUCKET = "ses-insights-out"


def delivered_to(destination: str) -> list[dict[str, Any]]:
    return [
        {
            "destination": destination,
            "events": [{"type": "SEND", "after": 0}, {"type": "DELIVERY", "after": 0}],
        }
    ]


def add_messages(emulator: SesEmulator, count: int) -> list[str]:
    """``count`` delivered messages, each to its own recipient so outputs can be told apart."""
    return [emulator.add_message(recipients=delivered_to(f"reader{n}@example.com")) for n in range(count)]


def insights_calls(emulator: SesEmulator) -> list[CallRecord]:
    return [call for call in emulator.calls if call.operation == "GetMessageInsights"]


def called_ids(emulator: SesEmulator) -> list[str | None]:
    return [call.message_id for call in insights_calls(emulator)]


def read_object(s3_client: Any, key: str, bucket: str = BUCKET) -> bytes:
    body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def json_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def keys_under(s3_client: Any, prefix: str, bucket: str = BUCKET) -> list[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def state(dagrun: Any, task_id: str = "insights", map_index: int = -1) -> str:
    return task_states(dagrun)[(task_id, map_index)]


@pytest.fixture
def fast_emulator() -> Iterator[SesEmulator]:
    with SesEmulator(rate=FAST_RATE, delivery_delay=1.0) as emu:
        yield emu


@pytest.fixture
def fast_conn(fast_emulator: SesEmulator, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` on the fast emulator (hook paced at the same rate) and moto's S3."""
    uri = aws_connection_uri(fast_emulator.endpoint_url, s3_endpoint, max_calls_per_second=FAST_RATE)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", uri)
    return "aws_default"


@pytest.fixture
def bucket(s3_client: Any) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


# --- XCom output -----------------------------------------------------------------------------


def test_single_message_goes_to_xcom_and_task_holds_its_pacing_slot(
    airflow_db: Any, aws_conn: str, emulator: SesEmulator
) -> None:
    (message_id,) = add_messages(emulator, 1)
    dagrun = run_dag("ses_op_default", {"message_ids": message_id})

    assert state(dagrun) == "success"
    result = xcom_value(dagrun, "insights")
    assert result["MessageId"] == message_id
    assert result["Insights"][0]["Destination"] == "reader0@example.com"
    (call,) = insights_calls(emulator)
    # hold_pacing(): the task ends no sooner than one interval after its last call, so the next
    # task in the 1-slot pool cannot call within a second of it, even from another worker.
    (ti,) = dagrun.get_task_instances()
    assert ti.end_date.timestamp() - call.at >= 0.9


def test_batch_to_xcom_in_input_order_with_duplicates_fetched_once_and_not_found_listed(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b, c = add_messages(fast_emulator, 3)
    missing = "010001ffffffffff-00000000-0000-0000-0000-000000000000-000000"
    dagrun = run_dag("ses_op_default", {"message_ids": [b, a, b, missing, c, a]})

    assert state(dagrun) == "success"
    assert [m["MessageId"] for m in xcom_value(dagrun, "insights")] == [b, a, c]
    assert xcom_value(dagrun, "insights", key=NOT_FOUND_XCOM_KEY) == [missing]
    assert called_ids(fast_emulator) == [b, a, missing, c]
    log = capfd.readouterr().out
    assert f"No insights for message ID {missing!r}" in log
    assert "6 message ID(s) requested, 4 unique (2 duplicate(s) removed)" in log


def test_upstream_output_and_expand(airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator) -> None:
    ids = add_messages(fast_emulator, 3)
    dagrun = run_dag("ses_op_upstream", {"message_ids": ids})

    assert set(task_states(dagrun).values()) == {"success"}
    assert [m["MessageId"] for m in xcom_value(dagrun, "batch")] == ids
    for index, message_id in enumerate(ids):
        assert xcom_value(dagrun, "each", map_index=index)["MessageId"] == message_id
    assert sorted(called_ids(fast_emulator)) == sorted(ids * 2)


@pytest.mark.needs_airflow_3_1("dag.test() prints no task log there")
def test_batch_above_xcom_threshold_is_refused_before_any_call(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    ids = add_messages(fast_emulator, 3)
    dagrun = run_dag("ses_op_small_xcom", {"message_ids": ids})

    assert state(dagrun) == "failed"
    assert insights_calls(fast_emulator) == []
    log = capfd.readouterr().out
    assert "3 unique message IDs are more than max_xcom_messages=2" in log
    assert "Write the batch to S3 instead" in log


@pytest.mark.needs_airflow_3_1("dag.test() prints no task log there")
def test_bad_message_ids_fail_before_any_call(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    (good,) = add_messages(fast_emulator, 1)
    dagrun = run_dag("ses_op_default", {"message_ids": [good, "bad id", ""]})

    assert state(dagrun) == "failed"
    assert insights_calls(fast_emulator) == []
    log = capfd.readouterr().out
    assert "2 invalid SES message ID(s)" in log
    assert "#1: SES message ID contains whitespace: 'bad id'" in log


def test_single_message_not_found_fails_and_still_holds_the_pacing_slot(
    airflow_db: Any, aws_conn: str, emulator: SesEmulator
) -> None:
    missing = "010001ffffffffff-00000000-0000-0000-0000-000000000001-000000"
    dagrun = run_dag("ses_op_default", {"message_ids": missing})

    assert state(dagrun) == "failed"
    (call,) = insights_calls(emulator)
    assert (call.message_id, call.status) == (missing, 404)
    (ti,) = dagrun.get_task_instances()
    assert ti.end_date.timestamp() - call.at >= 0.9


@pytest.mark.needs_airflow_3_1("dag.test() prints no task log there")
def test_on_not_found_fail_fails_after_fetching_the_rest(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = add_messages(fast_emulator, 2)
    missing = "010001ffffffffff-00000000-0000-0000-0000-000000000002-000000"
    dagrun = run_dag("ses_op_fail_not_found", {"message_ids": [a, missing, b]})

    assert state(dagrun) == "failed"
    assert called_ids(fast_emulator) == [a, missing, b]
    assert xcom_value(dagrun, "insights", key=NOT_FOUND_XCOM_KEY) == [missing]
    assert f"SES had no insights for 1 of 3 message ID(s) and on_not_found='fail': {missing!r}" in (
        capfd.readouterr().out
    )


# --- S3 output -------------------------------------------------------------------------------


def test_batch_to_s3_at_the_rate_limit(
    airflow_db: Any, aws_conn_with_s3: str, emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    ids = add_messages(emulator, 4)
    key = "reports/batch.jsonl"
    dagrun = run_dag("ses_op_default", {"message_ids": [*ids, ids[1]], "s3_bucket": bucket, "s3_key": key})

    assert state(dagrun) == "success"
    assert xcom_value(dagrun, "insights") == f"s3://{bucket}/{key}"
    assert [m["MessageId"] for m in json_lines(read_object(s3_client, key))] == ids
    calls = insights_calls(emulator)
    assert [c.message_id for c in calls] == ids
    assert emulator.throttled_count() == 0
    starts = [c.monotonic for c in calls]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 1.0
    manifest = json.loads(read_object(s3_client, key + ".manifest.json"))
    assert manifest["requested"] == 5
    assert manifest["unique"] == manifest["written"] == 4
    assert manifest["duplicates_removed"] == 1
    assert manifest["not_found"] == 0
    assert keys_under(s3_client, "reports/") == [key, key + ".manifest.json"]


def test_single_message_to_s3_uri_is_one_json_document(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    (message_id,) = add_messages(fast_emulator, 1)
    uri = f"s3://{bucket}/single/{message_id}.json"
    dagrun = run_dag("ses_op_default", {"message_ids": message_id, "s3_key": uri})

    assert state(dagrun) == "success"
    assert xcom_value(dagrun, "insights") == uri
    document = json.loads(read_object(s3_client, f"single/{message_id}.json"))
    assert document["MessageId"] == message_id
    assert keys_under(s3_client, "single/") == [f"single/{message_id}.json"]


@pytest.mark.parametrize(
    ("dag_id", "key"),
    [("ses_op_default", "zipped/by-suffix.jsonl.gz"), ("ses_op_gzip", "zipped/by-flag.jsonl")],
)
def test_gzip_by_key_suffix_or_flag(
    airflow_db: Any,
    fast_conn: str,
    fast_emulator: SesEmulator,
    bucket: str,
    s3_client: Any,
    dag_id: str,
    key: str,
) -> None:
    ids = add_messages(fast_emulator, 3)
    dagrun = run_dag(dag_id, {"message_ids": ids, "s3_bucket": bucket, "s3_key": key})

    assert state(dagrun) == "success"
    raw = read_object(s3_client, key)
    assert raw[:2] == b"\x1f\x8b"
    assert [m["MessageId"] for m in json_lines(gzip.decompress(raw))] == ids
    assert json.loads(read_object(s3_client, key + ".manifest.json"))["compression"] == "gzip"


def test_not_found_is_skipped_and_listed_in_the_manifest(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    a, b = add_messages(fast_emulator, 2)
    missing = "010001ffffffffff-00000000-0000-0000-0000-000000000003-000000"
    key = "reports/with-missing.jsonl"
    dagrun = run_dag("ses_op_default", {"message_ids": [a, missing, b], "s3_bucket": bucket, "s3_key": key})

    assert state(dagrun) == "success"
    assert [m["MessageId"] for m in json_lines(read_object(s3_client, key))] == [a, b]
    manifest = json.loads(read_object(s3_client, key + ".manifest.json"))
    assert manifest["not_found_message_ids"] == [missing]
    assert (manifest["requested"], manifest["written"], manifest["not_found"]) == (3, 2, 1)
    assert xcom_value(dagrun, "insights", key=NOT_FOUND_XCOM_KEY) == [missing]


@pytest.mark.needs_airflow_3_1("dag.test() prints no task log there")
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_existing_key_without_replace_fails_before_any_call(
    airflow_db: Any,
    fast_conn: str,
    fast_emulator: SesEmulator,
    bucket: str,
    s3_client: Any,
    capfd: pytest.CaptureFixture[str],
    batch: bool,
) -> None:
    ids = add_messages(fast_emulator, 2)
    s3_client.put_object(Bucket=bucket, Key="taken.json", Body=b"earlier")
    conf = {"message_ids": ids if batch else ids[0], "s3_bucket": bucket, "s3_key": "taken.json"}
    dagrun = run_dag("ses_op_default", conf)

    assert state(dagrun) == "failed"
    assert insights_calls(fast_emulator) == []
    assert read_object(s3_client, "taken.json") == b"earlier"
    assert f"s3://{bucket}/taken.json already exists and replace=False" in capfd.readouterr().out


def test_replace_overwrites_an_existing_key(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    ids = add_messages(fast_emulator, 2)
    s3_client.put_object(Bucket=bucket, Key="taken.jsonl", Body=b"earlier")
    dagrun = run_dag("ses_op_replace", {"message_ids": ids, "s3_bucket": bucket, "s3_key": "taken.jsonl"})

    assert state(dagrun) == "success"
    assert [m["MessageId"] for m in json_lines(read_object(s3_client, "taken.jsonl"))] == ids


@pytest.mark.needs_airflow_3_1("dag.test() prints no task log there")
def test_missing_bucket_fails_before_any_call(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    ids = add_messages(fast_emulator, 2)
    dagrun = run_dag("ses_op_default", {"message_ids": ids, "s3_key": "s3://no-such-bucket/out.jsonl"})

    assert state(dagrun) == "failed"
    assert insights_calls(fast_emulator) == []
    assert "S3 bucket 'no-such-bucket' does not exist (connection 'aws_default')" in capfd.readouterr().out


def test_retry_resumes_from_the_checkpoint_of_the_failed_try(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    ids = add_messages(fast_emulator, 5)
    fast_emulator.inject("unavailable", message_id=ids[2])
    key = "reports/resumed.jsonl"
    dagrun = run_dag("ses_op_resume", {"message_ids": [*ids, ids[0]], "s3_bucket": bucket, "s3_key": key})

    assert state(dagrun) == "success"
    (ti,) = dagrun.get_task_instances()
    assert ti.try_number == 2
    # Try 1 fetched ids[0], ids[1] and failed on ids[2]; try 2 fetched only ids[2:].
    calls = insights_calls(fast_emulator)
    assert [(c.message_id, c.status) for c in calls] == [
        (ids[0], 200),
        (ids[1], 200),
        (ids[2], 503),
        (ids[2], 200),
        (ids[3], 200),
        (ids[4], 200),
    ]
    assert [m["MessageId"] for m in json_lines(read_object(s3_client, key))] == ids
    manifest = json.loads(read_object(s3_client, key + ".manifest.json"))
    assert manifest["resumed_from_checkpoint"] == 2
    assert manifest["fetched_by_final_try"] == 3
    assert manifest["final_try_number"] == 2
    assert keys_under(s3_client, key + ".checkpoint/") == []


def test_checkpoint_parts_are_saved_while_the_batch_runs(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    """What a killed worker would leave: with ``checkpoint_interval=0`` every fetched message is
    in S3 before the next call, seen here while a slow answer keeps the task busy."""
    ids = add_messages(fast_emulator, 4)
    fast_emulator.inject("slow", message_id=ids[3], seconds=3.0)
    key = "reports/watched.jsonl"
    seen: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen) < 3:
            seen[:] = keys_under(s3_client, key)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    dagrun = run_dag("ses_op_checkpoint_each", {"message_ids": ids, "s3_bucket": bucket, "s3_key": key})
    watcher.join(timeout=60)

    assert state(dagrun) == "success"
    # Three parts, one a message, and neither data nor manifest yet: the batch was still running.
    assert seen == [f"{key}.checkpoint/part-00000{n}.jsonl" for n in (1, 2, 3)]
    assert [m["MessageId"] for m in json_lines(read_object(s3_client, key))] == ids
    assert keys_under(s3_client, key + ".checkpoint/") == []


def test_on_not_found_fail_keeps_what_was_found_in_the_checkpoint(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, bucket: str, s3_client: Any
) -> None:
    a, b = add_messages(fast_emulator, 2)
    missing = "010001ffffffffff-00000000-0000-0000-0000-000000000004-000000"
    key = "reports/strict.jsonl"
    conf = {"message_ids": [a, missing, b], "s3_bucket": bucket, "s3_key": key}
    dagrun = run_dag("ses_op_fail_not_found", conf)

    assert state(dagrun) == "failed"
    assert keys_under(s3_client, key) == [key + ".checkpoint/part-000001.jsonl"]
    part = read_object(s3_client, key + ".checkpoint/part-000001.jsonl").decode().splitlines()
    header, *records = (json.loads(line) for line in part)
    assert header["owner"]["run_id"] == dagrun.run_id
    assert [r["message_id"] for r in records] == [a, b]


# --- Assets ----------------------------------------------------------------------------------


@pytest.mark.needs_airflow_3_1(
    "the downstream asset-scheduled run fails under its dag.test() (not investigated)"
)
def test_s3_output_is_an_asset_event_that_schedules_downstream_dags(
    airflow_db: Any, fast_conn: str, fast_emulator: SesEmulator, s3_client: Any
) -> None:
    from airflow.models.asset import AssetAliasModel, AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    s3_client.create_bucket(Bucket="ses-insights-assets")
    ids = add_messages(fast_emulator, 2)
    aliased_uri = "s3://ses-insights-assets/aliased/insights.jsonl"
    dagrun = run_dag("ses_op_assets", {"message_ids": ids, "s3_key": aliased_uri})

    assert set(task_states(dagrun).values()) == {"success"}
    with create_session() as session:

        def events_of(uri: str) -> list[Any]:
            return list(
                session.scalars(
                    select(AssetEvent)
                    .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                    .where(AssetModel.uri == uri, AssetEvent.source_run_id == dagrun.run_id)
                )
            )

        (literal_event,) = events_of(ASSET_URI)
        assert literal_event.extra == {"messages": 2}
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == literal_event.asset_id)
        ).all()
        assert "ses_op_asset_consumer" in queued

        (aliased_event,) = events_of(aliased_uri)
        assert aliased_event.extra["messages"] == 2
        alias = session.scalars(select(AssetAliasModel).where(AssetAliasModel.name == ASSET_ALIAS)).one()
        assert aliased_event.asset_id in {asset.id for asset in alias.assets}
