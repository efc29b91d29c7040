"""Daily deliverability report from Amazon SES message insights.

Every day, for the messages sent the day before:

1. ``read_manifest`` reads the day's message IDs from the manifest your sending system drops in
   S3 (CSV with a header, or JSON Lines; the ID column is a parameter);
2. ``fetch_insights`` fetches their insights in the one-slot ``ses_insights`` pool, paced to the
   API's limit of one call per second, and writes them raw to S3 as gzipped JSON Lines,
   partitioned by date (``.../raw/dt=YYYY-MM-DD/insights.jsonl.gz``); a retry resumes where the
   failed try stopped;
3. ``build_report`` turns them into the events table (``.../events/dt=.../events.csv``, one row
   per message, recipient and event, ready for an Athena table on ``.../events/``) and the
   summary and HTML page (``.../reports/dt=.../``).

Runs unchanged against AWS or the local emulator: only the ``aws_default`` connection differs.
The pool must exist (``airflow pools set ses_insights 1 "SES GetMessageInsights: 1 call/s"``).
A day of N messages takes about N seconds of API time.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import Param, Variable, dag, task

from airflow_provider_sesinsights import SES_INSIGHTS_POOL
from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.0 has it only here.
    from airflow.timetables.interval import CronDataIntervalTimetable

log = logging.getLogger(__name__)

REPORT_SALT_VARIABLE = "ses_insights_report_salt"
"""Airflow Variable holding the secret salt used when ``hash_recipients`` is on."""


@dag(
    dag_id="example_ses_deliverability_report",
    # Each run covers one whole UTC day, [ds, ds + 1 day), and starts once that day is over.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["example", "ses"],
    doc_md=__doc__,
    params={
        "manifest_bucket": Param(
            "example-ses-sending-logs", type="string", description="Bucket of the manifest"
        ),
        "manifest_key": Param(
            "manifests/dt={ds}/sent.csv",
            type="string",
            description="Key of the day's manifest; {ds} becomes the report's day (YYYY-MM-DD)",
        ),
        "message_id_column": Param("message_id", type="string", description="Column with the SES MessageId"),
        "output_bucket": Param(
            "example-ses-insights", type="string", description="Bucket for insights and reports"
        ),
        "output_prefix": Param("ses-insights", type="string", description="Key prefix of every output"),
        "group_by_tags": Param(
            ["campaign"], type="array", description="Message tags to break the report down by"
        ),
        "hash_recipients": Param(
            False,
            type="boolean",
            description=f"Pseudonymise recipient addresses; the salt is the Variable {REPORT_SALT_VARIABLE}",
        ),
    },
)
def example_ses_deliverability_report() -> None:
    @task
    def read_manifest(params: dict[str, Any], ds: str) -> list[str]:
        """Read the message IDs of the day from the sending system's manifest."""
        from airflow_provider_sesinsights.sent_manifest import read_message_ids

        bucket, key = params["manifest_bucket"], params["manifest_key"].format(ds=ds)
        content = S3Hook().get_key(key, bucket).get()["Body"].read()
        message_ids = read_message_ids(content, name=key, column=params["message_id_column"])
        log.info("Manifest s3://%s/%s lists %d message(s).", bucket, key, len(message_ids))
        return message_ids

    insights_uri = GetMessageInsightsOperator(
        task_id="fetch_insights",
        message_id=read_manifest(),
        s3_bucket="{{ params.output_bucket }}",
        s3_key="{{ params.output_prefix }}/raw/dt={{ ds }}/insights.jsonl.gz",
        replace=True,
        pool=SES_INSIGHTS_POOL,
    ).output

    @task
    def build_report(insights_uri: str, params: dict[str, Any], ds: str) -> dict[str, Any]:
        """Build the events table, summary and HTML page from the raw insights; upload them."""
        from airflow_provider_sesinsights.report import build_report, summary_text

        s3 = S3Hook()
        bucket, prefix = params["output_bucket"], params["output_prefix"]
        salt = Variable.get(REPORT_SALT_VARIABLE) if params["hash_recipients"] else None
        source_bucket, source_key = S3Hook.parse_s3_url(insights_uri)
        with tempfile.TemporaryDirectory() as workdir:
            raw = Path(workdir, "insights.jsonl.gz")
            raw.write_bytes(s3.get_key(source_key, source_bucket).get()["Body"].read())
            files = build_report(
                raw,
                Path(workdir, "report"),
                group_by_tags=params["group_by_tags"],
                hash_recipients=params["hash_recipients"],
                salt=salt,
                title=f"SES deliverability report for {ds}",
            )
            uploaded = {}
            for path in files.paths:
                folder = "events" if path == files.events_csv else "reports"
                key = f"{prefix}/{folder}/dt={ds}/{path.name}"
                s3.load_file(str(path), key, bucket, replace=True)
                uploaded[path.name] = f"s3://{bucket}/{key}"
        log.info("Deliverability of %s:\n%s", ds, summary_text(files.summary))
        overall = files.summary.overall
        return {
            "files": uploaded,
            "messages": overall.messages,
            "sends": overall.sends,
            "delivery_rate": overall.delivery_rate,
            "bounce_rate": overall.bounce_rate,
            "complaint_rate": overall.complaint_rate,
        }

    build_report(insights_uri)


example_ses_deliverability_report()
