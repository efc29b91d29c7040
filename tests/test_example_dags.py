"""The example DAGs: they parse cleanly, use the pool, and run against the emulator and moto S3."""

from __future__ import annotations

import csv
import gzip
import io
import json
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import dag_bag_class

from airflow_provider_sesinsights import SES_INSIGHTS_POOL
from airflow_provider_sesinsights.emulator.scenarios import ScenarioDay, realistic_day

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = PROJECT_ROOT / "example_dags"
REPORT_DAG = "example_ses_deliverability_report"
TRACK_DAG = "example_ses_track_message"
API_CALLING = ("GetMessageInsightsOperator", "SesMessageEventSensor")


@pytest.fixture
def example_dags_folder(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make example_dags/ the dags folder, as dag.test() needs the file inside it.

    ``airflow.settings.DAGS_FOLDER`` was read from the environment when Airflow was imported, and
    the dags-folder bundle that dag.test() syncs takes its path from there.
    """
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLE_DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLE_DAGS))
    return EXAMPLE_DAGS


def test_example_dags_parse_without_errors_or_warnings(example_dags_folder: Path) -> None:
    bag_class = dag_bag_class()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = bag_class(dag_folder=str(example_dags_folder))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {REPORT_DAG, TRACK_DAG}
    # Warnings raised from this project's files: the DAGs' own and those of the provider they use.
    # Installed packages are left out: on an old Airflow with new providers, the providers' compat
    # layer warns about Airflow's own imports, whatever the DAG does.
    ours = [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if Path(w.filename).resolve().is_relative_to(PROJECT_ROOT) and "site-packages" not in w.filename
    ]
    assert ours == []
    for dag_id in (REPORT_DAG, TRACK_DAG):
        dag = bag.dags[dag_id]
        calling = [task for task in dag.tasks if type(task).__name__ in API_CALLING]
        assert calling, f"{dag_id} calls no SES insights API"
        assert {task.pool for task in calling} == {SES_INSIGHTS_POOL}
    report = bag.dags[REPORT_DAG]
    assert {"manifest_bucket", "manifest_key", "output_bucket", "hash_recipients"} <= set(report.params)
    sensor = bag.dags[TRACK_DAG].get_task("wait_for_outcome")
    assert sensor.deferrable


def run_example(dag_id: str, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
    bag = dag_bag_class()(dag_folder=str(EXAMPLE_DAGS))
    assert dag_id in bag.dags, bag.import_errors
    dag = bag.dags[dag_id]
    if logical_date is None:
        return dag.test(run_conf=conf)
    return dag.test(logical_date=logical_date, run_conf=conf)


def states(dagrun: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


@pytest.fixture
def scenario(emulator: Any) -> ScenarioDay:
    """A dozen messages of a past day, loaded into the emulator (real limit, 1 call/s)."""
    day = realistic_day(date(2025, 6, 2), messages=12, seed=21)
    emulator.add_messages(day.messages)
    return day


@pytest.fixture
def report_buckets(s3_client: Any, scenario: ScenarioDay) -> Iterator[Any]:
    for bucket in ("example-ses-sending-logs", "example-ses-insights"):
        s3_client.create_bucket(Bucket=bucket)
    s3_client.put_object(
        Bucket="example-ses-sending-logs",
        Key="manifests/dt=2025-06-02/sent.jsonl",
        Body=scenario.manifest_jsonl().encode(),
    )
    yield s3_client


def test_report_dag_turns_the_manifest_into_raw_insights_and_a_report(
    airflow_db: Path,
    example_dags_folder: Path,
    aws_conn_with_s3: str,
    emulator: Any,
    scenario: ScenarioDay,
    report_buckets: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SES_INSIGHTS_REPORT_SALT", "test-salt")
    dagrun = run_example(
        REPORT_DAG,
        logical_date=datetime(2025, 6, 2, tzinfo=timezone.utc),
        conf={
            "manifest_key": "manifests/dt={ds}/sent.jsonl",
            "group_by_tags": ["campaign", "ses:configuration-set"],
            "hash_recipients": True,
        },
    )
    assert states(dagrun) == {
        "read_manifest": "success",
        "fetch_insights": "success",
        "build_report": "success",
    }
    called = {call.message_id for call in emulator.calls if call.operation == "GetMessageInsights"}
    assert called == set(scenario.message_ids)

    def read(key: str) -> bytes:
        return report_buckets.get_object(Bucket="example-ses-insights", Key=f"ses-insights/{key}")[
            "Body"
        ].read()

    raw = gzip.decompress(read("raw/dt=2025-06-02/insights.jsonl.gz")).decode().splitlines()
    assert [json.loads(line)["MessageId"] for line in raw] == scenario.message_ids
    events = list(csv.DictReader(io.StringIO(read("events/dt=2025-06-02/events.csv").decode())))
    assert len(events) == sum(len(r["events"]) for m in scenario.messages for r in m["recipients"])
    addresses = {r["destination"] for m in scenario.messages for r in m["recipients"]}
    assert not addresses & {row["recipient"] for row in events}
    summary = json.loads(read("reports/dt=2025-06-02/summary.json"))
    assert summary["recipients_hashed"] is True
    assert summary["overall"]["messages"] == len(scenario.messages)
    assert set(summary["by_tag"]) == {"campaign", "ses:configuration-set"}
    page = read("reports/dt=2025-06-02/report.html").decode()
    assert "SES deliverability report for 2025-06-02" in page
    assert not any(address in page for address in addresses)


@pytest.mark.parametrize(
    ("to_address", "branch"),
    [
        ("success@simulator.amazonses.com", "handle_delivered"),
        ("bounce@simulator.amazonses.com", "handle_bounced"),
    ],
)
def test_track_message_dag_follows_the_email_to_its_outcome(
    airflow_db: Path,
    example_dags_folder: Path,
    aws_conn: str,
    emulator: Any,
    to_address: str,
    branch: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dagrun = run_example(TRACK_DAG, conf={"to_address": to_address})
    handlers = {"handle_delivered", "handle_bounced", "handle_other"}
    expected = {
        task: "success" for task in ("send_email", "wait_for_outcome", "fetch_insights", "route_by_outcome")
    }
    expected |= {handler: "success" if handler == branch else "skipped" for handler in handlers}
    assert states(dagrun) == expected
    (sent,) = [call for call in emulator.calls if call.operation == "SendEmail"]
    insights_calls = [call for call in emulator.calls if call.operation == "GetMessageInsights"]
    assert insights_calls and {call.message_id for call in insights_calls} == {sent.message_id}
    if branch == "handle_bounced":
        logged = [record.getMessage() for record in caplog.records]
        assert any(
            text.startswith(
                "Bounce from bounce@simulator.amazonses.com: PERMANENT/General, diagnostic code: smtp;"
            )
            for text in logged
        ), logged
