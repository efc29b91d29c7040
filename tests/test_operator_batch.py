"""The operator's batch building blocks on their own: plan, progress, spool, destination, manifest,
and the S3 checkpoint against moto's S3 server."""

from __future__ import annotations

import gzip
import io
import json
import logging
from typing import Any

import pytest
from conftest import aws_connection_uri

from airflow_provider_sesinsights.batch.checkpoint import MAX_RECORDS_PER_PART, S3Checkpoint
from airflow_provider_sesinsights.batch.destination import S3Destination
from airflow_provider_sesinsights.batch.manifest import BatchSummary
from airflow_provider_sesinsights.batch.plan import BatchPlan
from airflow_provider_sesinsights.batch.progress import BatchProgress, format_duration
from airflow_provider_sesinsights.batch.spool import InsightsSpool, output_writer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def insights(message_id: str) -> dict[str, Any]:
    return {"MessageId": message_id, "Insights": [{"Destination": f"{message_id}@example.com", "Events": []}]}


# --- plan ------------------------------------------------------------------------------------


def test_plan_keeps_first_appearance_order_and_counts_duplicates() -> None:
    plan = BatchPlan.of(["b", "a", "b", "c", "a", "a"])
    assert plan.unique_ids == ("b", "a", "c")
    assert (plan.requested, plan.duplicates_removed) == (6, 3)
    assert plan.remaining({"a"}) == ["b", "c"]


# --- progress --------------------------------------------------------------------------------


def run_progress(total: int, seconds_per_message: float) -> list[tuple[int, str]]:
    clock = FakeClock()
    progress = BatchProgress(total, clock=clock)
    lines = []
    for _ in range(total):
        clock.now += seconds_per_message
        line = progress.advance()
        if line:
            lines.append((progress.done, line))
    return lines


def test_progress_is_silent_for_a_batch_shorter_than_the_minimum_interval() -> None:
    assert run_progress(20, 1.0) == []


def test_progress_logs_every_tenth_once_thirty_seconds_have_passed() -> None:
    lines = run_progress(1000, 1.0)
    assert [done for done, _ in lines] == [100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert lines[0][1] == "100/1000 messages (10 %), 1.00 messages/s, elapsed 1m40s, ETA 15m00s"


def test_progress_waits_thirty_seconds_even_when_tenths_come_faster() -> None:
    assert [done for done, _ in run_progress(60, 1.0)] == [30]


def test_progress_logs_at_least_every_five_minutes_in_a_very_long_batch() -> None:
    done = [done for done, _ in run_progress(36_000, 1.0)]
    assert done[:3] == [300, 600, 900]
    assert len(done) == 119


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (125, "2m05s"), (3599, "59m59s"), (3720, "1h02m")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# --- spool -----------------------------------------------------------------------------------


def test_spool_writes_in_the_requested_order_whatever_the_order_of_arrival() -> None:
    with InsightsSpool() as spool:
        for message_id in ["c", "a", "b"]:
            spool.add(message_id, insights(message_id))
        spool.add("a", insights("a") | {"Subject": "newer"})
        out = io.BytesIO()
        written = spool.write_json_lines(["a", "missing", "b", "c"], out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == 3
    assert [line["MessageId"] for line in lines] == ["a", "b", "c"]
    assert lines[0]["Subject"] == "newer"


def test_spool_hands_out_each_record_once_for_checkpointing() -> None:
    with InsightsSpool() as spool:
        spool.add("a", insights("a"))
        spool.add("b", insights("b"))
        first = spool.unsaved()
        spool.add("c", insights("c"))
        spool.mark_saved(first)
        assert spool.unsaved_count == 1
        second = spool.unsaved()
        spool.mark_saved(second)
        assert spool.unsaved().count == 0
    records = [json.loads(line) for line in (first.data + second.data).splitlines()]
    assert [(r["message_id"], r["insights"]["MessageId"]) for r in records] == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
    ]


def test_spool_reads_back_record_lines_and_rejects_foreign_ones() -> None:
    with InsightsSpool() as spool:
        line = json.dumps({"message_id": "a", "insights": insights("a")}).encode()
        assert spool.add_record_line(line) == "a"
        assert spool.insights("a") == insights("a")
        with pytest.raises(ValueError, match="not an insights record"):
            spool.add_record_line(b'{"MessageId": "a"}')
        with pytest.raises(ValueError, match="has no insights object"):
            spool.add_record_line(b'{"message_id": "a", "insights": null}')


def test_output_writer_compresses_only_when_asked() -> None:
    plain, zipped = io.BytesIO(), io.BytesIO()
    for target, compress in ((plain, False), (zipped, True)):
        with output_writer(target, compress) as out:
            out.write(b'{"a":1}\n')
        assert not target.closed
    assert plain.getvalue() == b'{"a":1}\n'
    assert gzip.decompress(zipped.getvalue()) == b'{"a":1}\n'


# --- destination -----------------------------------------------------------------------------


def test_destination_from_bucket_and_key_or_from_uri() -> None:
    assert S3Destination.parse("b", "x/y.jsonl") == S3Destination("b", "x/y.jsonl", gzip=False)
    assert S3Destination.parse(None, "s3://b/x/y.jsonl.gz") == S3Destination("b", "x/y.jsonl.gz", gzip=True)
    destination = S3Destination.parse("b", "x/y.jsonl", gzip=True)
    assert destination.gzip
    assert destination.uri == "s3://b/x/y.jsonl"
    assert destination.manifest_key == "x/y.jsonl.manifest.json"
    assert destination.checkpoint_prefix == "x/y.jsonl.checkpoint/"


@pytest.mark.parametrize(
    ("bucket", "key", "message"),
    [
        ("b", "s3://b/k", "full s3:// URI, so s3_bucket must be left out"),
        (None, "reports/k.jsonl", "not an s3:// URI, so s3_bucket is needed"),
        (None, "s3://b/", "names no object key"),
        (None, "gs://b/k", "only s3:// URIs are accepted"),
        ("b", "", "s3_key must be a non-empty string"),
        ("b", None, "s3_key must be a non-empty string"),
        ("", "k", "S3 bucket name is empty"),
        ("my bucket", "k", "S3 bucket name contains whitespace: 'my bucket'"),
        ("b/c", "k", "S3 bucket name contains '/'"),
    ],
)
def test_destination_errors_name_the_problem_and_the_value(bucket: Any, key: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S3Destination.parse(bucket, key)


# --- manifest --------------------------------------------------------------------------------


def test_manifest_counts() -> None:
    summary = BatchSummary(BatchPlan.of(["a", "b", "a", "x"]), resumed=1, fetched=1, written=2)
    summary.not_found.append("x")
    manifest = summary.manifest("s3://b/k.jsonl", compression=None, try_number=2)
    assert manifest["data"] == "s3://b/k.jsonl"
    assert (manifest["requested"], manifest["unique"], manifest["duplicates_removed"]) == (4, 3, 1)
    assert (manifest["written"], manifest["not_found"], manifest["not_found_message_ids"]) == (2, 1, ["x"])
    assert (manifest["resumed_from_checkpoint"], manifest["fetched_by_final_try"]) == (1, 1)
    assert json.loads(json.dumps(manifest)) == manifest
    assert "4 message ID(s) requested, 3 unique (1 duplicate(s) removed)" in summary.describe()


# --- checkpoint against moto's S3 ------------------------------------------------------------

OWNER = {"dag_id": "d", "task_id": "t", "run_id": "r1", "map_index": -1}


@pytest.fixture
def s3_hook(s3_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri("http://127.0.0.1:9", s3_endpoint))
    s3_client.create_bucket(Bucket="checkpoints")
    return S3Hook(aws_conn_id="aws_default")


def part_keys(s3_client: Any) -> list[str]:
    listing = s3_client.list_objects_v2(Bucket="checkpoints", Prefix="out.jsonl.checkpoint/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_checkpoint_saves_new_records_as_parts_on_its_interval_and_resumes_from_them(
    s3_hook: Any, s3_client: Any
) -> None:
    destination = S3Destination("checkpoints", "out.jsonl")
    clock = FakeClock()
    checkpoint = S3Checkpoint(s3_hook, destination, OWNER, interval=60, clock=clock)
    with InsightsSpool() as spool:
        assert not checkpoint.due(spool)
        for message_id in "abc":
            spool.add(message_id, insights(message_id))
        assert not checkpoint.due(spool)
        clock.now += 60
        assert checkpoint.due(spool)
        assert checkpoint.save(spool) == 3
        assert not checkpoint.due(spool)
        spool.add("d", insights("d"))
        clock.now += 60
        assert checkpoint.save(spool) == 1
        assert checkpoint.save(spool) == 0
    assert part_keys(s3_client) == [
        "out.jsonl.checkpoint/part-000001.jsonl",
        "out.jsonl.checkpoint/part-000002.jsonl",
    ]

    retry = S3Checkpoint(s3_hook, destination, dict(OWNER), interval=60, clock=clock)
    with InsightsSpool() as resumed:
        assert retry.load(resumed) == 4
        assert resumed.insights("d") == insights("d")
        assert resumed.unsaved_count == 0
        resumed.add("e", insights("e"))
        retry.save(resumed)
    assert part_keys(s3_client)[-1] == "out.jsonl.checkpoint/part-000003.jsonl"
    assert retry.delete() == 3
    assert part_keys(s3_client) == []


def test_checkpoint_fills_a_part_before_the_interval_when_records_pile_up(s3_hook: Any) -> None:
    checkpoint = S3Checkpoint(
        s3_hook, S3Destination("checkpoints", "out.jsonl"), OWNER, interval=3600, clock=FakeClock()
    )
    with InsightsSpool() as spool:
        for n in range(MAX_RECORDS_PER_PART - 1):
            spool.add(f"m{n}", {"MessageId": f"m{n}"})
        assert not checkpoint.due(spool)
        spool.add("last", {"MessageId": "last"})
        assert checkpoint.due(spool)


def test_checkpoint_of_another_run_is_ignored_and_deleted(
    s3_hook: Any, s3_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    destination = S3Destination("checkpoints", "out.jsonl")
    stale = S3Checkpoint(s3_hook, destination, OWNER | {"run_id": "last-week"}, interval=0)
    with InsightsSpool() as spool:
        spool.add("a", insights("a"))
        stale.save(spool)
    s3_client.put_object(
        Bucket="checkpoints", Key="out.jsonl.checkpoint/part-000002.jsonl", Body=b"not json\n"
    )

    current = S3Checkpoint(s3_hook, destination, OWNER, interval=0)
    with InsightsSpool() as spool, caplog.at_level(logging.WARNING):
        assert current.load(spool) == 0
        assert "a" not in spool
        spool.add("b", insights("b"))
        current.save(spool)
    assert "written by {'dag_id': 'd', 'task_id': 't', 'run_id': 'last-week'" in caplog.text
    assert "written by an unknown writer" in caplog.text
    assert part_keys(s3_client)[-1] == "out.jsonl.checkpoint/part-000003.jsonl"
    assert current.delete() == 3


def test_damaged_checkpoint_part_names_its_key_and_how_to_start_over(s3_hook: Any, s3_client: Any) -> None:
    destination = S3Destination("checkpoints", "out.jsonl")
    checkpoint = S3Checkpoint(s3_hook, destination, OWNER, interval=0)
    with InsightsSpool() as spool:
        spool.add("a", insights("a"))
        checkpoint.save(spool)
    (key,) = part_keys(s3_client)
    good = s3_client.get_object(Bucket="checkpoints", Key=key)["Body"].read()
    s3_client.put_object(Bucket="checkpoints", Key=key, Body=good + b'{"truncated": \n')

    with InsightsSpool() as spool, pytest.raises(ValueError) as caught:
        S3Checkpoint(s3_hook, destination, dict(OWNER), interval=0).load(spool)
    assert f"checkpoint part s3://checkpoints/{key} is damaged" in str(caught.value)
    assert "delete s3://checkpoints/out.jsonl.checkpoint/ to start over" in str(caught.value)
