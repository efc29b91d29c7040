"""GetMessageInsightsOperator's arguments: what is rejected at DAG parse time, what waits for
rendering, the asset it declares, and what importing its module costs."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk import DAG, Asset, AssetAlias, task

from airflow_provider_sesinsights.exceptions import InvalidMessageIdError
from airflow_provider_sesinsights.operators.ses_insights import (
    GetMessageInsightsOperator,
    _rendered_message_ids,
)

GOOD_ID = "0100019a2b3c4d5e-11111111-2222-3333-4444-555555555555-000000"


def operator(**kwargs: Any) -> GetMessageInsightsOperator:
    return GetMessageInsightsOperator(task_id="insights", **{"message_id": GOOD_ID, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"message_id": "has space"}, InvalidMessageIdError, "contains whitespace: 'has space'"),
        ({"message_id": [GOOD_ID, ""]}, InvalidMessageIdError, "#1: SES message ID is empty"),
        ({"message_id": ["{{ params.id }}", "a/b"]}, InvalidMessageIdError, "contains '/': 'a/b'"),
        ({"message_id": 42}, InvalidMessageIdError, "an SES message ID or a list of them, got int: 42"),
        ({"message_id": "['a', 'b']"}, InvalidMessageIdError, "looks like a list rendered as text"),
        ({"on_not_found": "ignore"}, ValueError, "on_not_found must be one of .* got 'ignore'"),
        ({"max_xcom_messages": -1}, ValueError, "max_xcom_messages must be an integer >= 0, got -1"),
        ({"max_xcom_messages": 2.5}, ValueError, "max_xcom_messages must be an integer >= 0, got 2.5"),
        ({"checkpoint_interval": "1m"}, ValueError, "checkpoint_interval must be a finite number >= 0"),
        (
            {"checkpoint_interval": float("nan")},
            ValueError,
            "checkpoint_interval must be a finite number >= 0",
        ),
        ({"max_calls_per_second": 0}, ValueError, "max_calls_per_second must be a finite number"),
        ({"max_calls_per_second": float("inf")}, ValueError, "above 0, got inf"),
        ({"s3_bucket": "b"}, ValueError, "s3_bucket 'b' was given without s3_key"),
        ({"s3_key": "out.jsonl"}, ValueError, "'out.jsonl' is not an s3:// URI, so s3_bucket is needed"),
        ({"s3_bucket": "b", "s3_key": "s3://b/k"}, ValueError, "s3_bucket must be left out"),
    ],
)
def test_bad_arguments_fail_at_parse_time(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        operator(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message_id": "{{ params.message_id }}"},
        {"message_id": ["{{ params.first }}", GOOD_ID]},
        {"message_id": []},
        {"s3_key": "{{ params.key }}"},
        {"s3_bucket": "{{ params.bucket }}", "s3_key": "daily/{{ ds }}.jsonl"},
    ],
)
def test_templates_are_checked_after_rendering_not_at_parse_time(kwargs: dict[str, Any]) -> None:
    assert operator(**kwargs).task_id == "insights"


def test_upstream_output_and_expand_are_accepted() -> None:
    with DAG("args_upstream", schedule=None) as dag:

        @task
        def ids() -> list[str]:
            return [GOOD_ID]

        upstream = ids()
        GetMessageInsightsOperator(task_id="batch", message_id=upstream)
        GetMessageInsightsOperator.partial(task_id="each", max_calls_per_second=2.0).expand(
            message_id=upstream
        )
    assert dag.get_task("batch").upstream_task_ids == {"ids"}
    assert dag.get_task("each").upstream_task_ids == {"ids"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (GOOD_ID, ([GOOD_ID], True)),
        ([GOOD_ID, GOOD_ID], ([GOOD_ID, GOOD_ID], False)),
        ((GOOD_ID,), ([GOOD_ID], False)),
        (iter([GOOD_ID]), ([GOOD_ID], False)),
    ],
)
def test_rendered_message_ids(value: Any, expected: tuple[list[str], bool]) -> None:
    assert _rendered_message_ids(value) == expected


@pytest.mark.parametrize("value", [None, {"id": GOOD_ID}, b"0100", 7])
def test_rendered_message_ids_must_be_an_id_or_a_list(value: Any) -> None:
    with pytest.raises(InvalidMessageIdError, match="message_id must be an SES message ID or a list of them"):
        _rendered_message_ids(value)


def test_literal_s3_destination_becomes_the_asset_outlet() -> None:
    assert operator(s3_key="s3://reports/daily.jsonl").outlets == [Asset("s3://reports/daily.jsonl")]
    assert operator(s3_bucket="reports", s3_key="daily.jsonl.gz").outlets == [
        Asset("s3://reports/daily.jsonl.gz")
    ]


def test_no_automatic_outlet_for_templated_destinations_or_user_outlets() -> None:
    assert operator(s3_key="s3://reports/{{ ds }}.jsonl").outlets == []
    alias = AssetAlias("reports")
    assert operator(s3_key="s3://reports/daily.jsonl", outlets=[alias]).outlets == [alias]
    assert operator().outlets == []


def test_connection_arguments_reach_the_hooks() -> None:
    op = operator(
        aws_conn_id="ses",
        region_name="eu-west-1",
        max_calls_per_second=0.5,
        s3_bucket="b",
        s3_key="k.jsonl",
    )
    assert (op.hook.aws_conn_id, op.hook.region_name) == ("ses", "eu-west-1")
    assert op.hook._max_calls_per_second == 0.5
    assert op.s3_conn_id == "ses"
    assert operator(aws_conn_id="ses", s3_conn_id="lake").s3_conn_id == "lake"
    assert operator(aws_conn_id="ses", s3_conn_id=None).s3_conn_id is None
    assert set(op.template_fields) >= {"message_id", "s3_bucket", "s3_key", "s3_conn_id", "aws_conn_id"}


def test_importing_the_operator_module_leaves_s3_and_batch_code_unloaded() -> None:
    code = (
        "import json, sys, airflow_provider_sesinsights.operators.ses_insights; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
        "('airflow.providers.amazon.aws.hooks.s3', 'airflow_provider_sesinsights.batch.')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    modules = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert modules == ["airflow_provider_sesinsights.batch.destination"]
