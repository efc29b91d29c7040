"""Local, protocol-faithful Amazon SES v2 emulator (GetMessageInsights and SendEmail).

Neither moto nor LocalStack implement GetMessageInsights, so the provider ships this emulator
for its tests, demos and benchmarks. It uses only the standard library; boto3 reaches it over
real HTTP through ``endpoint_url`` or ``AWS_ENDPOINT_URL_SESV2``. See :mod:`.state` for the
timeline model and :mod:`.server` for the routes.
"""

from __future__ import annotations

from airflow_provider_sesinsights.emulator.server import SesEmulator
from airflow_provider_sesinsights.emulator.state import (
    EVENT_TYPES,
    FAULT_KINDS,
    CallRecord,
    EmulatorState,
    InvalidRequestError,
    isp_for,
    simulated_timeline,
)

__all__ = [
    "EVENT_TYPES",
    "FAULT_KINDS",
    "CallRecord",
    "EmulatorState",
    "InvalidRequestError",
    "SesEmulator",
    "isp_for",
    "simulated_timeline",
]
