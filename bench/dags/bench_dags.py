"""The DAG the benchmarks run with ``dag.test()``: the operator, fed from the run's conf."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator

with DAG(
    "bench_insights",
    schedule=None,
    render_template_as_native_obj=True,
    params={"message_ids": [], "s3_bucket": None, "s3_key": None},
) as bench_dag:
    GetMessageInsightsOperator(
        task_id="insights",
        message_id="{{ params.message_ids }}",
        s3_bucket="{{ params.s3_bucket }}",
        s3_key="{{ params.s3_key }}",
        max_xcom_messages=1000,
    )
