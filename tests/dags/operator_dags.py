"""DAGs run by tests/test_operator*.py: one per operator setting that cannot come from run_conf.

Message IDs and the S3 destination come from ``params`` (rendered as native objects, so a list
stays a list and ``None`` means "no S3 destination").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, task

from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator

PARAMS: dict[str, Any] = {"message_ids": None, "s3_bucket": None, "s3_key": None}

ASSET_URI = "s3://ses-insights-assets/reports/insights.jsonl"
ASSET_ALIAS = "ses-insights-reports"


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, render_template_as_native_obj=True, params=dict(PARAMS))


def _fetch_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with _dag(dag_id) as dag:
        GetMessageInsightsOperator(
            task_id="insights",
            message_id="{{ params.message_ids }}",
            s3_bucket="{{ params.s3_bucket }}",
            s3_key="{{ params.s3_key }}",
            **operator_kwargs,
        )
    return dag


default_dag = _fetch_dag("ses_op_default")
gzip_dag = _fetch_dag("ses_op_gzip", gzip=True)
replace_dag = _fetch_dag("ses_op_replace", replace=True)
fail_not_found_dag = _fetch_dag("ses_op_fail_not_found", on_not_found="fail")
small_xcom_dag = _fetch_dag("ses_op_small_xcom", max_xcom_messages=2)
checkpoint_each_dag = _fetch_dag("ses_op_checkpoint_each", checkpoint_interval=0)
# One attempt per call (botocore's retries replace the hook's), so an injected fault fails the
# try; the task's own retry then resumes from the checkpoint.
resume_dag = _fetch_dag(
    "ses_op_resume",
    retries=1,
    retry_delay=timedelta(0),
    botocore_config={"retries": {"mode": "standard", "total_max_attempts": 1}},
)

with _dag("ses_op_upstream") as upstream_dag:

    @task
    def message_ids(**context: Any) -> list[str]:
        return list(context["params"]["message_ids"])

    ids = message_ids()
    GetMessageInsightsOperator(task_id="batch", message_id=ids)
    GetMessageInsightsOperator.partial(task_id="each").expand(message_id=ids)

with _dag("ses_op_assets") as assets_dag:
    GetMessageInsightsOperator(
        task_id="literal", message_id="{{ params.message_ids }}", s3_key=ASSET_URI, replace=True
    )
    GetMessageInsightsOperator(
        task_id="aliased",
        message_id="{{ params.message_ids }}",
        s3_key="{{ params.s3_key }}",
        outlets=[AssetAlias(ASSET_ALIAS)],
    )

# Unpaused, so that an event of the asset queues a run of it (a test checks the queue).
with DAG(
    "ses_op_asset_consumer", schedule=[Asset(ASSET_URI)], is_paused_upon_creation=False
) as asset_consumer_dag:

    @task
    def report() -> None:
        """Stands for a report built from the insights object."""

    report()
