"""DAGs run by tests/test_reliability.py: bad inputs, injected faults and S3 failures, end to end.

``BAD_MESSAGE_IDS`` reach the operator and the sensor the way a bad value usually does, as an
upstream task's output (XCom), so they can only be rejected at run time. The fault DAGs take
message IDs and the S3 destination from ``params`` (rendered as native objects).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator
from airflow_provider_sesinsights.sensors.ses_insights import SesMessageEventSensor

VALID_ID = "0100019a2b3c4d5e-7f1e2d3c-4b5a-4968-8776-655443322110-000000"
"""Well formed, so in a batch it is the bad ID next to it that must stop the task."""

BAD_MESSAGE_IDS: list[tuple[str, Any]] = [
    ("empty", ""),
    ("blank", "   "),
    ("leading space", " " + VALID_ID),
    ("trailing newline", VALID_ID + "\n"),
    ("tab inside", "0100019a2b3c4d5e\t7f1e2d3c-000000"),
    ("NUL", "0100019a2b3c4d5e\x00-000000"),
    ("DEL", "0100019a2b3c4d5e\x7f-000000"),
    ("C1 control", "0100019a2b3c4d5e\x9b-000000"),
    ("no-break space", "0100019a2b3c4d5e\u00a07f1e2d3c-000000"),
    ("line separator", "0100019a2b3c4d5e\u20287f1e2d3c-000000"),
    ("slash", "0100019a2b3c4d5e/7f1e2d3c-000000"),
    ("path traversal", "../../v2/email/account"),
    ("too long", "0" * 300),
    ("integer", 1234567),
    ("float", 1.5),
    ("boolean", True),
    ("None", None),
    ("'None' rendered from an empty XCom", "None"),
    ("list rendered as text", "['0100019a2b3c4d5e-000000', '0100019a2b3c4d5f-000000']"),
    ("SendEmail response", {"MessageId": VALID_ID}),
    ("list rendered as text", f"['{VALID_ID}']"),
]
"""(label, value) of message IDs that no SES message can have, each unlike the others."""

FAILURES_FILE = "reliability-failures.jsonl"
"""File in AIRFLOW_HOME where :func:`record_failure` notes the exception of each failed try."""


def record_failure(context: Any) -> None:
    """Note the exception that failed a try (a failure or a retry), so a test can read each task's
    error directly instead of searching the output of a whole DAG run for it."""
    ti, error = context["ti"], context.get("exception")
    line = {
        "task": [ti.task_id, ti.map_index],
        "try": ti.try_number,
        "error": type(error).__name__,
        "message": str(error),
    }
    with (Path(os.environ["AIRFLOW_HOME"]) / FAILURES_FILE).open("a", encoding="utf-8") as failures:
        failures.write(json.dumps(line) + "\n")


NATIVE: dict[str, Any] = {"schedule": None, "render_template_as_native_obj": True}
RECORDED = {"retries": 0, "on_failure_callback": record_failure, "on_retry_callback": record_failure}
FAULT_PARAMS: dict[str, Any] = {"message_ids": None, "s3_bucket": None, "s3_key": None}

# retries=1: a bad ID must fail the task outright, since every retry would render the same value.
with DAG("rel_bad_ids", **NATIVE, default_args={**RECORDED, "retries": 1, "retry_delay": 0}) as bad_ids_dag:
    for row, (_, bad_value) in enumerate(BAD_MESSAGE_IDS):

        @task(task_id=f"emit_{row}", multiple_outputs=True)
        def emit(value: Any = bad_value) -> dict[str, Any]:
            """Stands for an upstream task whose output is a bad message ID."""
            return {"single": value, "batch": [VALID_ID, value]}

        upstream = emit()
        GetMessageInsightsOperator(task_id=f"operator_{row}", message_id=upstream["single"])
        GetMessageInsightsOperator(task_id=f"operator_batch_{row}", message_id=upstream["batch"])
        SesMessageEventSensor(
            task_id=f"sensor_{row}", message_id=upstream["single"], poke_interval=1, timeout=10
        )

with DAG("rel_partial_bad_args", **NATIVE, default_args=RECORDED) as partial_dag:
    # partial() keeps its arguments until run time, so the operator cannot check them at parse time.
    GetMessageInsightsOperator.partial(task_id="each", s3_key="ftp://reports/out.jsonl").expand(
        message_id=[VALID_ID]
    )
    SesMessageEventSensor.partial(task_id="wait", target_events=["DELIVERED"], timeout=10).expand(
        message_id=[VALID_ID]
    )


def _fault_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, **NATIVE, params=dict(FAULT_PARAMS), default_args=RECORDED) as dag:
        GetMessageInsightsOperator(
            task_id="insights",
            message_id="{{ params.message_ids }}",
            s3_bucket="{{ params.s3_bucket }}",
            s3_key="{{ params.s3_key }}",
            **operator_kwargs,
        )
    return dag


# The hook's own retries; read timeouts short enough that the emulator's "slow" fault trips them.
timeouts_dag = _fault_dag("rel_read_timeouts", botocore_config={"read_timeout": 0.5, "connect_timeout": 2})
# A single attempt per call (botocore's retries replace the hook's), so any fault fails the try;
# the task's one retry must then resume.
resume_dag = _fault_dag(
    "rel_resume",
    retries=1,
    retry_delay=timedelta(0),
    botocore_config={"retries": {"mode": "standard", "total_max_attempts": 1}, "read_timeout": 0.5},
)
default_dag = _fault_dag("rel_default")

with DAG(
    "rel_sensor_modes", **NATIVE, params={"poke": VALID_ID, "deferrable": VALID_ID}, default_args=RECORDED
) as sensor_modes_dag:
    for sensor_mode, mode_args in {"poke": {"mode": "poke"}, "deferrable": {"deferrable": True}}.items():
        SesMessageEventSensor(
            task_id=f"wait_{sensor_mode}",
            message_id=f"{{{{ params.{sensor_mode} }}}}",
            poke_interval=0.5,
            timeout=30,
            **mode_args,
        )
