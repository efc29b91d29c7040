"""Track one email: send it through SES v2, wait until it is delivered or bounces, act on it.

1. ``send_email`` sends a message with SES v2 ``SendEmail`` and returns its ``MessageId``;
2. ``wait_for_outcome`` (deferrable sensor) waits in the triggerer until SES reports DELIVERY or
   BOUNCE for it, without holding a worker;
3. ``fetch_insights`` fetches the message's insights (every event so far);
4. ``route_by_outcome`` branches: ``handle_delivered``, ``handle_bounced`` (logs the bounce type
   and the receiving server's diagnostic code) or ``handle_other`` (complaint, rejection).

Every task that calls GetMessageInsights runs in the one-slot ``ses_insights`` pool (create it
with ``airflow pools set ses_insights 1 "SES GetMessageInsights: 1 call/s"``).

Against AWS, the sender must be a verified identity and the recipient a real mailbox: SES leaves
mailbox-simulator traffic (``success@simulator.amazonses.com``, the default recipient here) out of
message insights, so only the local emulator answers for it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.sdk import Param, dag, task

from airflow_provider_sesinsights import SES_INSIGHTS_POOL, insights
from airflow_provider_sesinsights.operators.ses_insights import GetMessageInsightsOperator
from airflow_provider_sesinsights.sensors.ses_insights import SesMessageEventSensor

log = logging.getLogger(__name__)


@dag(
    dag_id="example_ses_track_message",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "ses"],
    doc_md=__doc__,
    params={
        "from_address": Param("sender@example.com", type="string", description="A verified SES identity"),
        "to_address": Param("success@simulator.amazonses.com", type="string", description="The recipient"),
        "subject": Param("Hello from Airflow", type="string"),
        "campaign": Param("example-tracking", type="string", description="Value of the 'campaign' tag"),
    },
)
def example_ses_track_message() -> None:
    @task
    def send_email(params: dict[str, Any]) -> str:
        """Send one email with SES v2 and return the MessageId that SES assigned."""
        client = AwsBaseHook(client_type="sesv2").conn
        response = client.send_email(
            FromEmailAddress=params["from_address"],
            Destination={"ToAddresses": [params["to_address"]]},
            Content={
                "Simple": {
                    "Subject": {"Data": params["subject"]},
                    "Body": {"Text": {"Data": "Sent by the example_ses_track_message DAG."}},
                }
            },
            EmailTags=[{"Name": "campaign", "Value": params["campaign"]}],
        )
        log.info("SES accepted the message: MessageId %s", response["MessageId"])
        return response["MessageId"]

    message_id = send_email()

    wait_for_outcome = SesMessageEventSensor(
        task_id="wait_for_outcome",
        message_id=message_id,
        target_events=["DELIVERY", "BOUNCE"],
        deferrable=True,
        poke_interval=15,
        timeout=3600,
        pool=SES_INSIGHTS_POOL,
    )

    fetch_insights = GetMessageInsightsOperator(
        task_id="fetch_insights", message_id=message_id, pool=SES_INSIGHTS_POOL
    )

    @task.branch
    def route_by_outcome(found: dict[str, Any]) -> str:
        """Choose the next task from what SES reported for the message."""
        outcome = insights.outcome(found)
        log.info("Message %s: %s", found["MessageId"], outcome)
        if outcome in ("delivered", "bounced"):
            return f"handle_{outcome}"
        return "handle_other"

    @task
    def handle_delivered(found: dict[str, Any]) -> None:
        """Delivered: the receiving server accepted the message."""
        seconds = insights.delivery_time_seconds(found)
        log.info("Delivered to %s after %s s.", ", ".join(insights.recipients(found)), seconds)

    @task
    def handle_bounced(found: dict[str, Any]) -> None:
        """Bounced: log why; a permanent bounce means the address should not be mailed again."""
        for bounce in insights.bounce_details(found):
            log.warning(
                "Bounce from %s: %s/%s, diagnostic code: %s",
                bounce["Destination"],
                bounce.get("BounceType", "UNDETERMINED"),
                bounce.get("BounceSubType", "-"),
                bounce.get("DiagnosticCode", "(none given)"),
            )

    @task
    def handle_other(found: dict[str, Any]) -> None:
        """Anything else (a complaint, a rejection): log the latest event for a human to look at."""
        log.warning(
            "Message %s ended as %s: %s",
            found["MessageId"],
            insights.outcome(found),
            insights.latest_event(found),
        )

    route = route_by_outcome(fetch_insights.output)
    wait_for_outcome >> fetch_insights
    route >> [
        handle_delivered(fetch_insights.output),
        handle_bounced(fetch_insights.output),
        handle_other(fetch_insights.output),
    ]


example_ses_track_message()
