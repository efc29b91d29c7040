"""Apache Airflow provider for Amazon SES v2 message insights.

Airflow imports this module in every process that reads providers, so it stays light: the
version, the pool name and the provider-info dict, nothing that pulls in boto3 or Airflow.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

SES_INSIGHTS_POOL = "ses_insights"
"""Name of the Airflow pool of one slot that serializes every task calling GetMessageInsights."""

__all__ = ["SES_INSIGHTS_POOL", "__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-sesinsights",
        "name": "Amazon SES Insights",
        "description": "Amazon SES v2 message insights (GetMessageInsights) for Airflow pipelines.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Amazon SES Insights",
                "external-doc-url": "https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_GetMessageInsights.html",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Amazon SES Insights",
                "python-modules": ["airflow_provider_sesinsights.hooks.ses_insights"],
            }
        ],
        "operators": [
            {
                "integration-name": "Amazon SES Insights",
                "python-modules": ["airflow_provider_sesinsights.operators.ses_insights"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Amazon SES Insights",
                "python-modules": ["airflow_provider_sesinsights.sensors.ses_insights"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Amazon SES Insights",
                "python-modules": ["airflow_provider_sesinsights.triggers.ses_insights"],
            }
        ],
    }
