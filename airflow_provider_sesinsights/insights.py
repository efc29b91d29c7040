"""Reading one GetMessageInsights answer: pure functions, no AWS and no Airflow.

Every part of the provider that interprets insights (sensor, trigger, operator logs, report)
goes through this module, so they cannot disagree about what "delivered" or "bounced" means.
The functions take the JSON-safe form made by :func:`json_safe` (timestamps as ISO-8601 strings
in UTC, no ``ResponseMetadata``), which is also the form stored in XCom and S3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


def is_answer(record: Mapping[str, Any]) -> bool:
    """Whether a stored record is a GetMessageInsights answer (it has an ``Insights`` list), as
    opposed to a marker some writers leave for a message SES did not know."""
    return isinstance(record.get("Insights"), list)


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


def event_bounce(event: Event) -> dict[str, str]:
    """The ``Bounce`` details of one event (``BounceType``, ...); empty for other events."""
    return dict((event.get("Details") or {}).get("Bounce") or {})


def event_complaint(event: Event) -> dict[str, str]:
    """The ``Complaint`` details of one event (``ComplaintFeedbackType``, ...); empty for others."""
    return dict((event.get("Details") or {}).get("Complaint") or {})


def bounce_details(insights: Insights) -> list[dict[str, Any]]:
    """One row per BOUNCE: recipient, time, ``BounceType``, ``BounceSubType``, ``DiagnosticCode``."""
    return [
        {"Destination": event["Destination"], "Timestamp": event.get("Timestamp"), **event_bounce(event)}
        for event in events_of_type(insights, "BOUNCE")
    ]


def complaint_details(insights: Insights) -> list[dict[str, Any]]:
    """One row per COMPLAINT: recipient, time, ``ComplaintSubType``, ``ComplaintFeedbackType``."""
    return [
        {"Destination": event["Destination"], "Timestamp": event.get("Timestamp"), **event_complaint(event)}
        for event in events_of_type(insights, "COMPLAINT")
    ]


def _send_to_delivery_seconds(found: list[Event]) -> float | None:
    sends = [event for event in found if event.get("Type") == "SEND"]
    deliveries = [event for event in found if event.get("Type") == "DELIVERY"]
    if not sends or not deliveries:
        return None
    start = parse_timestamp(sends[0]["Timestamp"])
    end = parse_timestamp(deliveries[0]["Timestamp"])
    return (end - start).total_seconds()


def delivery_time_seconds(insights: Insights) -> float | None:
    """Seconds from the first SEND to the first DELIVERY, or ``None`` if either is missing."""
    return _send_to_delivery_seconds(events(insights))


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
    return _outcome_of_types(event_types(insights))


def _outcome_of_types(seen: set[str]) -> str:
    if "COMPLAINT" in seen:
        return "complained"
    if "BOUNCE" in seen:
        return "bounced"
    if "DELIVERY" in seen:
        return "delivered"
    if seen & set(DEFAULT_FAILURE_EVENTS):
        return "failed"
    return "pending"


@dataclass(frozen=True)
class RecipientOutcome:
    """What became of a message for one of its recipients: the unit of deliverability counts.

    :param outcome: one of :data:`OUTCOMES`, judged on this recipient's events only.
    :param tracked: ``False`` for a recipient of a multi-recipient message, for which SES never
        reports DELIVERY, BOUNCE, COMPLAINT, OPEN or CLICK, so its outcome stays unknown.
    :param delivered: a DELIVERY occurred (also true for most complaints, which follow delivery).
    :param bounce_type: ``BounceType`` of the first BOUNCE (``UNDETERMINED`` when SES gave
        none), ``None`` without a bounce.
    :param bounce_subtype: ``BounceSubType`` of the first BOUNCE, ``""`` when SES gave none.
    :param delivery_seconds: seconds from SEND to DELIVERY, ``None`` unless both occurred.
    """

    message_id: str
    destination: str
    isp: str
    outcome: str
    tracked: bool
    delivered: bool
    bounce_type: str | None
    bounce_subtype: str | None
    delayed: bool
    opened: bool
    clicked: bool
    delivery_seconds: float | None


def recipient_outcomes(insights: Insights) -> list[RecipientOutcome]:
    """One :class:`RecipientOutcome` per recipient SES lists, including those without events yet."""
    tracked = not is_multi_recipient(insights)
    found: list[RecipientOutcome] = []
    for entry in insights.get("Insights", []):
        own = sorted(entry.get("Events", []), key=lambda event: str(event.get("Timestamp", "")))
        seen = {str(event.get("Type")) for event in own}
        bounces = [event for event in own if event.get("Type") == "BOUNCE"]
        first_bounce = event_bounce(bounces[0]) if bounces else None
        found.append(
            RecipientOutcome(
                message_id=str(insights.get("MessageId", "")),
                destination=str(entry.get("Destination", "")),
                isp=str(entry.get("Isp") or "Unknown"),
                outcome=_outcome_of_types(seen),
                tracked=tracked,
                delivered="DELIVERY" in seen,
                bounce_type=None
                if first_bounce is None
                else first_bounce.get("BounceType") or "UNDETERMINED",
                bounce_subtype=None if first_bounce is None else first_bounce.get("BounceSubType", ""),
                delayed="DELIVERY_DELAY" in seen,
                opened="OPEN" in seen,
                clicked="CLICK" in seen,
                delivery_seconds=_send_to_delivery_seconds(own),
            )
        )
    return found
