"""What the rate-limit DAGs do, shared by the DAG file and the test that drives it.

The message IDs are fixed, so the test can script the emulator with the very IDs the tasks ask
for; the emulator is reset between scenarios.
"""

from __future__ import annotations

POOLED_DAG_ID = "ses_rate_limit_pooled"
"""Mapped insight fetches and reschedule-mode sensors, all in the SES insights pool."""
UNPOOLED_DAG_ID = "ses_rate_limit_unpooled"
"""The same tasks without the pool: the control that shows the checks can fail."""
TRIGGERER_DAG_ID = "ses_rate_limit_triggerer"
"""Deferrable sensors, outside the pool, that wait together in the triggerer."""


def message_id(group: int, number: int) -> str:
    """A deterministic ID shaped like the ones SES hands out."""
    return f"0100019a{group:04x}{number:04x}-5e5e-4a11-8a7e-{group:06x}{number:06x}-000000"


FETCH_BATCHES = [[message_id(1, 2 * task + n) for n in range(2)] for task in range(4)]
"""One list of message IDs per mapped fetch task (two calls each, paced inside the task)."""
RESCHEDULE_SENSOR_IDS = [message_id(2, n) for n in range(2)]
"""One message per reschedule-mode sensor."""
DEFERRABLE_SENSOR_IDS = [message_id(3, n) for n in range(5)]
"""One message per deferrable sensor."""

RESCHEDULE_POKE_INTERVAL = 10.0
"""Seconds between pokes of the reschedule-mode sensors: 10 s or more, because shorter
intervals hit apache/airflow#71172 (a sensor marked failed after a late executor event)."""
DEFERRABLE_POKE_INTERVAL = 2.0
"""Seconds between polls of each deferrable sensor's trigger: five triggers polling every 2 s
ask for 2.5 calls per second, so the triggerer's shared pacing has to hold them to one."""
