"""The wait description and the verdict on one insights answer: pure, no AWS and no Airflow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_sesinsights import event_wait
from airflow_provider_sesinsights.event_wait import (
    EventWait,
    Verdict,
    event_names,
    failed_to_check,
    judge,
    next_poke_interval,
    timed_out,
)
from airflow_provider_sesinsights.exceptions import InvalidMessageIdError

MESSAGE_ID = "0100018f3a7b2c4d-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000"
STARTED = 1_800_000_000.0


def answer(*recipients: tuple[str, list[str]]) -> dict[str, Any]:
    """A JSON-safe insights answer: one entry per (destination, event types in order)."""
    return {
        "MessageId": MESSAGE_ID,
        "FromEmailAddress": "sender@example.com",
        "EmailTags": [],
        "Insights": [
            {
                "Destination": destination,
                "Isp": "Gmail",
                "Events": [
                    {"Timestamp": f"2027-01-15T08:00:0{n}.000+00:00", "Type": kind}
                    for n, kind in enumerate(kinds)
                ],
            }
            for destination, kinds in recipients
        ],
    }


def a_wait(**overrides: Any) -> EventWait:
    return EventWait(**{"message_id": MESSAGE_ID, "started_at": STARTED, "timeout": 600.0, **overrides})


def test_event_names_reads_lists_and_comma_separated_text() -> None:
    assert event_names(["delivery", " BOUNCE "], "target_events") == ("DELIVERY", "BOUNCE")
    assert event_names("DELIVERY, BOUNCE,DELIVERY", "target_events") == ("DELIVERY", "BOUNCE")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DELIVERED", "'DELIVERED', which is not an SES event type"),
        (["DELIVERY", 3], "got 3 in"),
        (7, "must be a list of SES event types, got 7"),
        ("['DELIVERY']", "\"['DELIVERY']\", which is not an SES event type"),
    ],
)
def test_event_names_rejects_what_is_not_an_event_type(value: Any, expected: str) -> None:
    with pytest.raises(ValueError, match="target_events") as caught:
        event_names(value, "target_events")
    assert expected in str(caught.value)


def test_wait_rejects_bad_values_naming_them() -> None:
    with pytest.raises(InvalidMessageIdError, match="whitespace"):
        a_wait(message_id="has space")
    with pytest.raises(ValueError, match="at least one"):
        a_wait(target_events=[])
    with pytest.raises(ValueError, match="REJECT cannot be both a target and a failure event"):
        a_wait(target_events=["REJECT"])
    with pytest.raises(ValueError, match="not_found_timeout must be a number of seconds >= 0, got -1"):
        a_wait(not_found_timeout=-1)


def test_wait_round_trips_through_json() -> None:
    wait = a_wait(target_events="send", not_found_timeout=30, exponential_backoff=True, max_wait=120)
    data = json.loads(json.dumps(wait.to_dict()))
    assert EventWait.from_dict(data) == wait
    assert data["target_events"] == ["SEND"]
    assert wait.deadline == STARTED + 600 and wait.not_found_deadline == STARTED + 30
    with pytest.raises(TypeError):
        EventWait.from_dict({**data, "surprise": 1})


def test_target_event_ends_the_wait_with_the_insights() -> None:
    found = answer(("a@example.com", ["SEND", "DELIVERY"]))
    verdict = judge(a_wait(), found, STARTED + 5)
    assert verdict.state == event_wait.MET and verdict.is_final
    assert verdict.events == ("DELIVERY",)
    assert verdict.insights == found


def test_bounce_is_a_target_by_default() -> None:
    verdict = judge(a_wait(), answer(("a@example.com", ["SEND", "BOUNCE"])), STARTED + 5)
    assert (verdict.state, verdict.events) == (event_wait.MET, ("BOUNCE",))


def test_failure_event_fails_naming_event_and_recipient() -> None:
    verdict = judge(a_wait(), answer(("a@example.com", ["REJECT"])), STARTED + 1)
    assert verdict.state == event_wait.FAILED
    assert verdict.events == ("REJECT",)
    assert "REJECT occurred (for a@example.com" in verdict.reason and MESSAGE_ID in verdict.reason


def test_failure_events_are_configurable() -> None:
    bounced = answer(("a@example.com", ["SEND", "BOUNCE"]))
    only_delivery = a_wait(target_events=["DELIVERY"])
    assert judge(only_delivery, bounced, STARTED).state == event_wait.WAITING
    strict = a_wait(target_events=["DELIVERY"], failure_events=["REJECT", "BOUNCE"])
    assert judge(strict, bounced, STARTED).events == ("BOUNCE",)


def test_multi_recipient_message_fails_when_targets_cannot_occur() -> None:
    two = answer(("a@example.com", ["SEND"]), ("b@example.com", ["SEND"]))
    verdict = judge(a_wait(), two, STARTED)
    assert verdict.state == event_wait.UNREACHABLE
    assert "has 2 recipients" in verdict.reason and "single recipient" in verdict.reason


def test_multi_recipient_message_can_still_be_waited_for_send() -> None:
    two = answer(("a@example.com", []), ("b@example.com", []))
    waiting = judge(a_wait(target_events=["SEND", "DELIVERY"]), two, STARTED)
    assert waiting.state == event_wait.WAITING
    sent = answer(("a@example.com", ["SEND"]), ("b@example.com", ["SEND"]))
    assert judge(a_wait(target_events=["SEND", "DELIVERY"]), sent, STARTED).state == event_wait.MET


def test_not_found_is_not_yet_until_the_not_found_timeout() -> None:
    assert judge(a_wait(), None, STARTED + 10_000).state == event_wait.WAITING
    limited = a_wait(not_found_timeout=60)
    assert judge(limited, None, STARTED + 60).state == event_wait.WAITING
    verdict = judge(limited, None, STARTED + 61)
    assert verdict.state == event_wait.NOT_FOUND_TIMEOUT
    assert "61 s after the wait began (not_found_timeout=60 s)" in verdict.reason


def test_pending_message_keeps_waiting_and_says_what_was_seen() -> None:
    verdict = judge(a_wait(), answer(("a@example.com", ["SEND", "DELIVERY_DELAY"])), STARTED)
    assert verdict.state == event_wait.WAITING and not verdict.is_final
    assert "seen: DELIVERY_DELAY, SEND" in verdict.reason


def test_timed_out_and_error_verdicts_carry_the_last_answer_and_cause() -> None:
    last = judge(a_wait(), answer(("a@example.com", ["SEND"])), STARTED + 590)
    verdict = timed_out(a_wait(), last, STARTED + 600)
    assert verdict.state == event_wait.TIMED_OUT and verdict.insights == last.insights
    assert "within timeout=600 s" in verdict.reason and "seen: SEND" in verdict.reason
    assert "no check completed" in timed_out(a_wait(), None, STARTED + 600).reason
    error = failed_to_check(a_wait(), RuntimeError("boom"))
    assert error.state == event_wait.ERROR and "RuntimeError: boom" in error.reason


def test_verdict_round_trips_and_rejects_unknown_states() -> None:
    verdict = judge(a_wait(), answer(("a@example.com", ["SEND", "DELIVERY"])), STARTED)
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict
    with pytest.raises(ValueError, match="unknown verdict state 'done'"):
        Verdict("done", "?")


def test_poke_interval_is_fixed_without_backoff_and_cut_at_the_deadline() -> None:
    wait = a_wait(poke_interval=30, timeout=100)
    assert next_poke_interval(wait, 1, STARTED) == 30
    assert next_poke_interval(wait, 5, STARTED + 90) == 10
    assert next_poke_interval(wait, 5, STARTED + 200) == 0


def test_exponential_backoff_grows_is_jittered_and_capped() -> None:
    wait = a_wait(poke_interval=10, timeout=10_000, exponential_backoff=True)
    intervals = [next_poke_interval(wait, n, STARTED) for n in range(1, 8)]
    for n, interval in enumerate(intervals, start=1):
        base = max(int(10 * 2 ** (n - 2)), 1)
        assert base <= interval < 2 * base
    assert intervals == [next_poke_interval(wait, n, STARTED) for n in range(1, 8)]
    capped = a_wait(poke_interval=10, timeout=10_000, exponential_backoff=True, max_wait=25)
    assert next_poke_interval(capped, 10, STARTED) == 25
    assert next_poke_interval(capped, 10_000, STARTED) == 25
