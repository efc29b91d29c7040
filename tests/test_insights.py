"""The pure readers of one insights answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_sesinsights import insights

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def answer(*recipients: tuple[str, str, list[tuple[str, float, dict[str, Any] | None]]]) -> dict[str, Any]:
    """A boto3-shaped answer (datetimes, ResponseMetadata) for the given recipients."""
    return {
        "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "r-1"},
        "MessageId": "m-1",
        "FromEmailAddress": "sender@example.com",
        "Subject": "Hi",
        "EmailTags": [
            {"Name": "campaign", "Value": "spring"},
            {"Name": "ses:from-domain", "Value": "example.com"},
        ],
        "Insights": [
            {
                "Destination": destination,
                "Isp": isp,
                "Events": [
                    {
                        "Timestamp": T0 + timedelta(seconds=offset),
                        "Type": kind,
                        **({"Details": d} if d else {}),
                    }
                    for kind, offset, d in events
                ],
            }
            for destination, isp, events in recipients
        ],
    }


BOUNCE = {"Bounce": {"BounceType": "PERMANENT", "BounceSubType": "General", "DiagnosticCode": "smtp; 550"}}
COMPLAINT = {"Complaint": {"ComplaintFeedbackType": "abuse"}}


def test_json_safe_drops_metadata_and_writes_utc_iso_timestamps() -> None:
    raw = answer(("a@gmail.com", "Gmail", [("SEND", 0, None), ("DELIVERY", 1.5, None)]))
    raw["Insights"][0]["Events"][0]["Timestamp"] = datetime(
        2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))
    )
    safe = insights.json_safe(raw)
    assert "ResponseMetadata" not in safe
    stamps = [e["Timestamp"] for e in safe["Insights"][0]["Events"]]
    assert stamps == ["2026-03-01T12:00:00.000+00:00", "2026-03-01T12:00:01.500+00:00"]
    assert json.loads(json.dumps(safe)) == safe
    assert insights.parse_timestamp(stamps[1]) == T0 + timedelta(seconds=1.5)
    assert raw["ResponseMetadata"]


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert insights.json_safe(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000+00:00"


def test_delivered_message() -> None:
    safe = insights.json_safe(answer(("a@gmail.com", "Gmail", [("DELIVERY", 2, None), ("SEND", 0, None)])))
    assert insights.recipients(safe) == ["a@gmail.com"]
    assert insights.recipient_count(safe) == 1
    assert not insights.is_multi_recipient(safe)
    assert [e["Type"] for e in insights.events(safe)] == ["SEND", "DELIVERY"]
    assert insights.event_types(safe) == {"SEND", "DELIVERY"}
    latest = insights.latest_event(safe)
    assert latest is not None and latest["Type"] == "DELIVERY" and latest["Isp"] == "Gmail"
    assert insights.delivery_time_seconds(safe) == 2.0
    assert insights.outcome(safe) == "delivered"
    assert insights.matched_events(safe, ["BOUNCE", "DELIVERY"]) == ["DELIVERY"]
    assert insights.tags(safe) == {"campaign": "spring", "ses:from-domain": "example.com"}


def test_bounced_message_details() -> None:
    safe = insights.json_safe(answer(("b@x.org", "Other", [("SEND", 0, None), ("BOUNCE", 3, BOUNCE)])))
    assert insights.outcome(safe) == "bounced"
    assert insights.bounce_details(safe) == [
        {
            "Destination": "b@x.org",
            "Timestamp": "2026-03-01T12:00:03.000+00:00",
            "BounceType": "PERMANENT",
            "BounceSubType": "General",
            "DiagnosticCode": "smtp; 550",
        }
    ]
    assert insights.delivery_time_seconds(safe) is None


def test_complaint_outranks_delivery() -> None:
    safe = insights.json_safe(
        answer(
            ("c@yahoo.com", "Yahoo", [("SEND", 0, None), ("DELIVERY", 1, None), ("COMPLAINT", 9, COMPLAINT)])
        )
    )
    assert insights.outcome(safe) == "complained"
    assert insights.complaint_details(safe)[0]["ComplaintFeedbackType"] == "abuse"


def test_failures_and_pending() -> None:
    rejected = insights.json_safe(answer(("d@x.org", "Other", [("SEND", 0, None), ("REJECT", 1, None)])))
    assert insights.outcome(rejected) == "failed"
    assert insights.failure_events(rejected) == ["REJECT"]
    assert insights.failure_events(rejected, ["RENDERING_FAILURE"]) == []
    pending = insights.json_safe(answer(("e@x.org", "Other", [("SEND", 0, None)])))
    assert insights.outcome(pending) == "pending"
    empty = insights.json_safe({"MessageId": "m", "Insights": []})
    assert insights.latest_event(empty) is None
    assert insights.outcome(empty) == "pending"


def test_multi_recipient_messages_cannot_reach_single_recipient_events() -> None:
    safe = insights.json_safe(
        answer(
            ("a@gmail.com", "Gmail", [("SEND", 1, None)]),
            ("b@yahoo.com", "Yahoo", [("SEND", 0, None)]),
        )
    )
    assert insights.is_multi_recipient(safe)
    assert insights.targets_unreachable(safe, ["DELIVERY", "BOUNCE"])
    assert not insights.targets_unreachable(safe, ["DELIVERY", "SEND"])
    grouped = insights.events_by_recipient(safe)
    assert list(grouped) == ["b@yahoo.com", "a@gmail.com"]
    assert [e["Type"] for e in grouped["a@gmail.com"]] == ["SEND"]


def test_single_recipient_targets_are_reachable() -> None:
    safe = insights.json_safe(answer(("a@gmail.com", "Gmail", [("SEND", 0, None)])))
    assert not insights.targets_unreachable(safe, ["DELIVERY"])


def test_every_event_type_is_known() -> None:
    assert set(insights.DEFAULT_FAILURE_EVENTS) <= set(insights.EVENT_TYPES)
    assert set(insights.EVENT_TYPES) >= insights.SINGLE_RECIPIENT_ONLY_EVENTS


def test_event_details_are_read_per_event() -> None:
    safe = insights.json_safe(
        answer(("b@x.org", "Other", [("SEND", 0, None), ("BOUNCE", 3, BOUNCE), ("COMPLAINT", 5, COMPLAINT)]))
    )
    send, bounce, complaint = insights.events(safe)
    assert insights.event_bounce(send) == {} and insights.event_complaint(send) == {}
    assert insights.event_bounce(bounce)["DiagnosticCode"] == "smtp; 550"
    assert insights.event_complaint(complaint) == {"ComplaintFeedbackType": "abuse"}
    assert insights.event_bounce({"Type": "BOUNCE", "Details": None}) == {}


def test_recipient_outcomes_judge_each_recipient_on_its_own_events() -> None:
    safe = insights.json_safe(
        answer(
            (
                "a@gmail.com",
                "Gmail",
                [
                    ("SEND", 0, None),
                    ("DELIVERY_DELAY", 60, None),
                    ("DELIVERY", 90, None),
                    ("OPEN", 200, None),
                ],
            ),
        )
    )
    (only,) = insights.recipient_outcomes(safe)
    assert only.message_id == "m-1" and only.destination == "a@gmail.com" and only.isp == "Gmail"
    assert only.outcome == "delivered" and only.tracked and only.delivered
    assert only.delayed and only.opened and not only.clicked
    assert only.bounce_type is None and only.bounce_subtype is None
    assert only.delivery_seconds == 90.0


def test_recipient_outcomes_of_bounces_complaints_and_multi_recipient_messages() -> None:
    untyped_bounce = {"Bounce": {"DiagnosticCode": "smtp; 500"}}
    bounced = insights.json_safe(
        answer(("b@x.org", "Other", [("SEND", 0, None), ("BOUNCE", 2, untyped_bounce)]))
    )
    (outcome,) = insights.recipient_outcomes(bounced)
    assert (outcome.outcome, outcome.bounce_type, outcome.bounce_subtype) == ("bounced", "UNDETERMINED", "")
    assert not outcome.delivered and outcome.delivery_seconds is None

    complained = insights.json_safe(
        answer(
            ("c@yahoo.com", "Yahoo", [("SEND", 0, None), ("DELIVERY", 1, None), ("COMPLAINT", 9, COMPLAINT)])
        )
    )
    (outcome,) = insights.recipient_outcomes(complained)
    assert outcome.outcome == "complained" and outcome.delivered and outcome.delivery_seconds == 1.0

    multi = insights.json_safe(answer(("a@gmail.com", "Gmail", [("SEND", 0, None)]), ("b@yahoo.com", "", [])))
    del multi["Insights"][1]["Isp"]
    first, second = insights.recipient_outcomes(multi)
    assert not first.tracked and not second.tracked
    assert first.outcome == second.outcome == "pending"
    assert second.destination == "b@yahoo.com" and second.isp == "Unknown"


def test_is_answer_tells_answers_from_markers() -> None:
    assert insights.is_answer(insights.json_safe(answer(("a@gmail.com", "Gmail", [("SEND", 0, None)]))))
    assert insights.is_answer({"MessageId": "m", "Insights": []})
    assert not insights.is_answer({"MessageId": "m", "Error": "NotFound"})
    assert not insights.is_answer({"MessageId": "m", "Insights": None})
