"""Reading one GetMessageInsights answer: pure functions, no AWS and no Airflow.

Every part of the provider that interprets insights (sensor, trigger, operator logs, report)
goes through this module, so they cannot disagree about what "delivered" or "bounced" means.
The functions take the JSON-safe form made by :func:`json_safe` (timestamps as ISO-8601 strings
in UTC, no ``ResponseMetadata``), which is also the form stored in XCom and S3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

EVENT_TYPES = (
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
)
"""Every event type of the SES v2 API."""

SINGLE_RECIPIENT_ONLY_EVENTS = frozenset({"DELIVERY", "BOUNCE", "COMPLAINT", "OPEN", "CLICK"})
"""Events SES reports only for messages addressed to a single recipient."""

DEFAULT_FAILURE_EVENTS = ("REJECT", "RENDERING_FAILURE")
"""Events after which a message will never be delivered."""

OUTCOMES = ("complained", "bounced", "delivered", "failed", "pending")
"""Possible values of :func:`outcome`, most decisive first."""

Insights = Mapping[str, Any]
Event = dict[str, Any]


def _timestamp_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def json_safe(value: Any) -> Any:
    """Return a copy of a boto3 answer that ``json.dumps`` accepts as is.

    Drops ``ResponseMetadata`` and turns every ``datetime`` into an ISO-8601 string in UTC with
    milliseconds (``2026-01-31T12:00:00.000+00:00``), a fixed width that sorts as text.
    """
    if isinstance(value, datetime):
        return _timestamp_text(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by :func:`json_safe` back into an aware ``datetime``."""
    return datetime.fromisoformat(text)


def recipients(insights: Insights) -> list[str]:
    """The destinations of the message, in the order SES lists them."""
    return [str(entry.get("Destination", "")) for entry in insights.get("Insights", [])]


def recipient_count(insights: Insights) -> int:
    """How many recipients SES lists for the message."""
    return len(insights.get("Insights", []))


def is_multi_recipient(insights: Insights) -> bool:
    """Whether SES will leave out DELIVERY, BOUNCE, COMPLAINT, OPEN and CLICK for this message."""
    return recipient_count(insights) > 1


def events(insights: Insights) -> list[Event]:
    """Every event of every recipient, oldest first, each with its ``Destination`` and ``Isp``."""
    found = [
        {**event, "Destination": entry.get("Destination"), "Isp": entry.get("Isp")}
        for entry in insights.get("Insights", [])
        for event in entry.get("Events", [])
    ]
    return sorted(found, key=lambda event: str(event.get("Timestamp", "")))


def events_by_recipient(insights: Insights) -> dict[str, list[Event]]:
    """Each recipient's own events, oldest first."""
    grouped: dict[str, list[Event]] = {}
    for event in events(insights):
        grouped.setdefault(str(event["Destination"]), []).append(event)
    return grouped


def event_types(insights: Insights) -> set[str]:
    """The event types that occurred, for any recipient."""
    return {str(event.get("Type")) for event in events(insights)}


def events_of_type(insights: Insights, event_type: str) -> list[Event]:
    """The events of one type, oldest first."""
    return [event for event in events(insights) if event.get("Type") == event_type]


def latest_event(insights: Insights) -> Event | None:
    """The most recent event of any recipient, or ``None`` when there is none yet."""
    found = events(insights)
    return found[-1] if found else None


def bounce_details(insights: Insights) -> list[dict[str, Any]]:
    """One row per BOUNCE: recipient, time, ``BounceType``, ``BounceSubType``, ``DiagnosticCode``."""
    return [
        {
            "Destination": event["Destination"],
            "Timestamp": event.get("Timestamp"),
            **event.get("Details", {}).get("Bounce", {}),
        }
        for event in events_of_type(insights, "BOUNCE")
    ]


def complaint_details(insights: Insights) -> list[dict[str, Any]]:
    """One row per COMPLAINT: recipient, time, ``ComplaintSubType``, ``ComplaintFeedbackType``."""
    return [
        {
            "Destination": event["Destination"],
            "Timestamp": event.get("Timestamp"),
            **event.get("Details", {}).get("Complaint", {}),
        }
        for event in events_of_type(insights, "COMPLAINT")
    ]


def delivery_time_seconds(insights: Insights) -> float | None:
    """Seconds from the first SEND to the first DELIVERY, or ``None`` if either is missing."""
    sends = events_of_type(insights, "SEND")
    deliveries = events_of_type(insights, "DELIVERY")
    if not sends or not deliveries:
        return None
    start = parse_timestamp(sends[0]["Timestamp"])
    end = parse_timestamp(deliveries[0]["Timestamp"])
    return (end - start).total_seconds()


def tags(insights: Insights) -> dict[str, str]:
    """The message's tags (including SES auto-tags such as ``ses:configuration-set``) as a dict."""
    return {str(tag["Name"]): str(tag.get("Value", "")) for tag in insights.get("EmailTags", [])}


def matched_events(insights: Insights, targets: Iterable[str]) -> list[str]:
    """Which of ``targets`` occurred, in the order given."""
    seen = event_types(insights)
    return [target for target in targets if target in seen]


def failure_events(insights: Insights, failures: Iterable[str] = DEFAULT_FAILURE_EVENTS) -> list[str]:
    """Which of ``failures`` (events after which delivery can no longer happen) occurred."""
    return matched_events(insights, failures)


def targets_unreachable(insights: Insights, targets: Iterable[str]) -> bool:
    """Whether none of ``targets`` can ever occur because the message has several recipients.

    SES reports DELIVERY, BOUNCE, COMPLAINT, OPEN and CLICK only for single-recipient messages, so
    waiting for them on a multi-recipient message would wait forever. Other targets (SEND,
    DELIVERY_DELAY, ...) can still occur.
    """
    return is_multi_recipient(insights) and all(t in SINGLE_RECIPIENT_ONLY_EVENTS for t in targets)


def outcome(insights: Insights) -> str:
    """Sum up the message in one word (one of :data:`OUTCOMES`).

    ``complained`` (a COMPLAINT, which implies delivery), ``bounced``, ``delivered``, ``failed``
    (REJECT or RENDERING_FAILURE) or ``pending`` (nothing decisive yet).
    """
    seen = event_types(insights)
    if "COMPLAINT" in seen:
        return "complained"
    if "BOUNCE" in seen:
        return "bounced"
    if "DELIVERY" in seen:
        return "delivered"
    if seen & set(DEFAULT_FAILURE_EVENTS):
        return "failed"
    return "pending"
