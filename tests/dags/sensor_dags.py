"""SesMessageEventSensor in each mode, one task per scenario (run by tests/test_sensor.py).

The test scripts each scenario's message in the emulator and passes the IDs in
``params.message_ids``; the tasks are independent, so reschedule-mode sensors interleave. A task
that fails writes its exception to ``params.outcomes_dir``, since where task logs go under
dag.test() differs between Airflow versions.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_sesinsights.sensors.ses_insights import SesMessageEventSensor

SCENARIOS: dict[str, dict[str, Any]] = {
    "delivery": {},
    "bounce": {},
    "late": {},
    "timeout": {"timeout": 2},
    "timeout_soft": {"timeout": 2, "soft_fail": True},
    "multi": {},
    "reject": {},
    "unknown": {"not_found_timeout": 2, "timeout": 30},
}
"""Sensor arguments per scenario."""

MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke", "poke_interval": 0.5},
    "reschedule": {"mode": "reschedule", "poke_interval": 1},
    "deferrable": {"deferrable": True, "poke_interval": 0.5},
}


def record_exception(context: Any) -> None:
    """Write why the task failed to ``outcomes_dir/<task_id>``."""
    exception = context.get("exception")  # Airflow 3.0's dag.test() leaves it out
    if exception is not None:
        Path(context["params"]["outcomes_dir"], context["ti"].task_id).write_text(str(exception))


for mode, mode_args in MODES.items():
    with DAG(
        dag_id=f"ses_sensor_{mode}",
        schedule=None,
        params={"message_ids": {}, "outcomes_dir": ""},
        default_args={
            "retries": 1,
            "retry_delay": timedelta(0),
            "on_failure_callback": record_exception,
        },
    ):
        for scenario, sensor_args in SCENARIOS.items():
            with warnings.catch_warnings():
                # dag.test() has no scheduler, so apache/airflow#71172 cannot hit 1 s reschedules here.
                warnings.simplefilter("ignore", UserWarning)
                SesMessageEventSensor(
                    task_id=f"wait_{scenario}",
                    message_id=f"{{{{ params.message_ids.{scenario} }}}}",
                    **mode_args,
                    **sensor_args,
                )
