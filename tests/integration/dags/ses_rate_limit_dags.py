"""DAGs of the rate-limit integration test (tests/integration/test_pool_rate_limit.py).

Two DAGs of the same shape, with and without the SES insights pool: mapped insight fetches and
reschedule-mode sensors. A third DAG has deferrable sensors, outside the pool, that wait together
in the triggerer.
The message IDs come from ``rate_limit_plan``, which the test shares.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from rate_limit_plan import (
    DEFERRABLE_POKE_INTERVAL,
    DEFERRABLE_SENSOR_IDS,
    FETCH_BATCHES,
    POOLED_DAG_ID,
    RESCHEDULE_POKE_INTERVAL,
    RESCHEDULE_SENSOR_IDS,
    TRIGGERER_DAG_ID,
    UNPOOLED_DAG_ID,
)

from airflow_provider_sesinsights import SES_INSIGHTS_POOL
from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator
from airflow_provider_sesinsights.sensors.ses_insights import SesMessageEventSensor

START = datetime(2025, 1, 1)
SENSOR_PRIORITY = 10
"""Sensors go first in the pool's queue, so the fetches run while they wait between pokes."""


def fetch_and_wait_dag(dag_id: str, pool: str | None) -> DAG:
    """Fetches and reschedule-mode sensors, in ``pool`` (None: Airflow's default pool)."""
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["test"]) as dag:
        GetMessageInsightsOperator.partial(task_id="fetch_insights", pool=pool).expand(
            message_id=FETCH_BATCHES
        )
        for number, message_id in enumerate(RESCHEDULE_SENSOR_IDS):
            SesMessageEventSensor(
                task_id=f"wait_{number}",
                message_id=message_id,
                mode="reschedule",
                poke_interval=RESCHEDULE_POKE_INTERVAL,
                timeout=300,
                pool=pool,
                priority_weight=SENSOR_PRIORITY,
            )
    return dag


fetch_and_wait_dag(POOLED_DAG_ID, SES_INSIGHTS_POOL)
fetch_and_wait_dag(UNPOOLED_DAG_ID, None)

# No pool here: a deferrable sensor makes every call from the triggerer, none from its worker, so
# only the triggers' shared pacing stands between these sensors and the limit.
with DAG(TRIGGERER_DAG_ID, schedule=None, start_date=START, catchup=False, tags=["test"]):
    for number, message_id in enumerate(DEFERRABLE_SENSOR_IDS):
        SesMessageEventSensor(
            task_id=f"wait_{number}",
            message_id=message_id,
            deferrable=True,
            poke_interval=DEFERRABLE_POKE_INTERVAL,
            timeout=300,
        )
