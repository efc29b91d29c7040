"""SesInsightsHook through real HTTP against the emulator: answers, pacing, retries, errors."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

import pytest
from conftest import aws_connection_uri

from airflow_provider_sesinsights.exceptions import (
    InvalidMessageIdError,
    MessageInsightsBadRequest,
    MessageInsightsNotFound,
    MessageInsightsUnavailable,
)
from airflow_provider_sesinsights.hooks.ses_insights import SesInsightsHook
from airflow_provider_sesinsights.retries import RetryPolicy

FAST_RETRIES = RetryPolicy(max_attempts=RetryPolicy().max_attempts, base_delay=0.01, max_delay=0.05)
"""The default number of attempts with short backoffs, so retry tests take seconds."""

DELIVERED = [
    {
        "destination": "reader@gmail.com",
        "events": [
            {"type": "SEND", "after": 0.0},
            {"type": "DELIVERY", "after": 0.0},
        ],
    }
]


def insights_calls(emulator: Any) -> list[Any]:
    return [c for c in emulator.calls if c.operation == "GetMessageInsights"]


def start_gaps(emulator: Any) -> list[float]:
    stamps = sorted(c.monotonic for c in insights_calls(emulator))
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_answer_is_json_safe_without_response_metadata(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED, tags={"campaign": "spring"})
    result = SesInsightsHook(aws_conn_id=aws_conn).get_message_insights(message_id)
    assert json.loads(json.dumps(result)) == result
    assert "ResponseMetadata" not in result
    assert result["MessageId"] == message_id
    assert {"Name": "campaign", "Value": "spring"} in result["EmailTags"]
    (recipient,) = result["Insights"]
    assert recipient["Destination"] == "reader@gmail.com"
    assert recipient["Isp"] == "Gmail"
    stamps = [event["Timestamp"] for event in recipient["Events"]]
    assert all(isinstance(s, str) and s.endswith("+00:00") for s in stamps)


def test_calls_are_paced_across_hook_instances_and_threads(aws_conn: str, emulator: Any) -> None:
    message_ids = [emulator.add_message(recipients=DELIVERED) for _ in range(4)]
    hooks = [SesInsightsHook(aws_conn_id=aws_conn) for _ in message_ids]
    # Every client exists before the calls: making one holds the GIL for a few hundred
    # milliseconds, which would delay the in-process emulator's arrival stamps, not the calls.
    assert len({id(hook.pacer) for hook in hooks}) == 1
    errors: list[BaseException] = []

    def fetch(hook: SesInsightsHook, message_id: str) -> None:
        try:
            hook.get_message_insights(message_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=pair) for pair in zip(hooks, message_ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [c.status for c in insights_calls(emulator)] == [200] * 4
    assert min(start_gaps(emulator)) >= 1.0
    assert emulator.throttled_count() == 0


def test_sync_and_async_calls_share_one_budget(aws_conn: str, emulator: Any) -> None:
    first, second, third = (emulator.add_message(recipients=DELIVERED) for _ in range(3))
    hook, other = SesInsightsHook(aws_conn_id=aws_conn), SesInsightsHook(aws_conn_id=aws_conn)
    # Both clients exist before the calls: making one holds the GIL for a few hundred milliseconds,
    # which would delay the in-process emulator's arrival stamps, not the calls themselves.
    assert hook.pacer is other.pacer

    async def both() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                other.get_message_insights_async(first),
                asyncio.to_thread(hook.get_message_insights, second),
                other.get_message_insights_async(third),
            )
        )

    results = asyncio.run(both())
    assert [r["MessageId"] for r in results] == [first, second, third]
    assert min(start_gaps(emulator)) >= 1.0
    assert emulator.throttled_count() == 0


def test_not_found_is_final_and_names_the_id(aws_conn: str, emulator: Any) -> None:
    hook = SesInsightsHook(aws_conn_id=aws_conn)
    with pytest.raises(MessageInsightsNotFound, match="no-such-message") as caught:
        hook.get_message_insights("no-such-message")
    assert caught.value.message_id == "no-such-message"
    assert [c.status for c in insights_calls(emulator)] == [404]


def test_bad_request_is_final_and_names_the_id(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject("bad_request", message_id=message_id)
    with pytest.raises(MessageInsightsBadRequest, match=message_id):
        SesInsightsHook(aws_conn_id=aws_conn).get_message_insights(message_id)
    assert [c.status for c in insights_calls(emulator)] == [400]


def test_nine_throttled_answers_in_a_row_are_ridden_out(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject("throttle", count=9)
    result = SesInsightsHook(aws_conn_id=aws_conn, retry_policy=FAST_RETRIES).get_message_insights(message_id)
    assert result["MessageId"] == message_id
    assert [c.status for c in insights_calls(emulator)] == [429] * 9 + [200]
    assert min(start_gaps(emulator)) >= 1.0, "retries must be paced like first calls"


@pytest.mark.parametrize("fault", ["internal_error", "unavailable", "drop", "malformed"])
def test_transient_faults_are_retried(aws_conn: str, emulator: Any, fault: str) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject(fault, count=2)
    result = SesInsightsHook(aws_conn_id=aws_conn, retry_policy=FAST_RETRIES).get_message_insights(message_id)
    assert result["MessageId"] == message_id
    assert len(insights_calls(emulator)) == 3


def test_failures_outlasting_the_policy_raise_unavailable(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject("unavailable", count=5)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01)
    with pytest.raises(MessageInsightsUnavailable, match=rf"{message_id}.*after 3 attempt") as caught:
        SesInsightsHook(aws_conn_id=aws_conn, retry_policy=policy).get_message_insights(message_id)
    assert caught.value.attempts == 3
    assert len(insights_calls(emulator)) == 3


def test_user_botocore_retries_replace_the_hooks_own(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject("throttle", count=2)
    hook = SesInsightsHook(aws_conn_id=aws_conn, config={"retries": {"mode": "standard", "max_attempts": 4}})
    assert hook.retries_by_botocore
    assert hook.retry_policy.max_attempts == 1
    assert hook.get_message_insights(message_id)["MessageId"] == message_id
    assert [c.status for c in insights_calls(emulator)] == [429, 429, 200]


def test_without_user_retries_botocore_makes_a_single_attempt(aws_conn: str, emulator: Any) -> None:
    message_id = emulator.add_message(recipients=DELIVERED)
    emulator.inject("throttle", count=3)
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    with pytest.raises(MessageInsightsUnavailable):
        SesInsightsHook(aws_conn_id=aws_conn, retry_policy=policy).get_message_insights(message_id)
    assert [c.status for c in insights_calls(emulator)] == [429, 429]


@pytest.mark.parametrize("bad", ["", " ", "a/b", "x\x00y", 7, None, "z" * 300])
def test_bad_ids_make_no_call(aws_conn: str, emulator: Any, bad: Any) -> None:
    hook = SesInsightsHook(aws_conn_id=aws_conn)
    with pytest.raises(InvalidMessageIdError, match="SES message ID"):
        hook.get_message_insights(bad)
    with pytest.raises(InvalidMessageIdError):
        asyncio.run(hook.get_message_insights_async(bad))
    with pytest.raises(InvalidMessageIdError):
        list(hook.iter_message_insights(["fine-id", bad]))
    assert emulator.calls == []


def test_batch_skips_unknown_ids_and_keeps_order(aws_conn: str, emulator: Any) -> None:
    known = [emulator.add_message(recipients=DELIVERED) for _ in range(2)]
    ids = [known[0], "unknown-id", known[1]]
    results = list(SesInsightsHook(aws_conn_id=aws_conn).iter_message_insights(ids))
    assert [m for m, _ in results] == ids
    assert [r is None for _, r in results] == [False, True, False]
    assert min(start_gaps(emulator)) >= 1.0


def test_endpoint_from_the_standard_environment_variable(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", emulator.endpoint_url)
    message_id = emulator.add_message(recipients=DELIVERED)
    hook = SesInsightsHook(aws_conn_id=None, region_name="us-east-1")
    assert hook.get_message_insights(message_id)["MessageId"] == message_id
    assert hook.conn.meta.endpoint_url == emulator.endpoint_url


def test_rate_from_the_connection_service_config(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.set_rate(5.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SES_FAST", aws_connection_uri(emulator.endpoint_url, max_calls_per_second=5)
    )
    hook = SesInsightsHook(aws_conn_id="ses_fast")
    assert hook.max_calls_per_second == 5.0
    ids = [emulator.add_message(recipients=DELIVERED) for _ in range(6)]
    assert [r["MessageId"] for _, r in hook.iter_message_insights(ids) if r] == ids
    assert min(start_gaps(emulator)) >= 0.2
    assert emulator.throttled_count() == 0


@pytest.mark.parametrize("rate", [0, -1, "fast", True, float("inf"), float("nan")])
def test_bad_rates_are_refused(rate: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=repr(rate).replace("(", r"\(")):
        SesInsightsHook(aws_conn_id=None, max_calls_per_second=rate)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SES_BAD", aws_connection_uri(emulator.endpoint_url, max_calls_per_second=rate)
    )
    with pytest.raises(ValueError, match=r"service_config\.sesv2\.max_calls_per_second"):
        _ = SesInsightsHook(aws_conn_id="ses_bad").max_calls_per_second


def test_hold_pacing_keeps_the_caller_until_the_interval_passed(aws_conn: str, emulator: Any) -> None:
    idle = SesInsightsHook(aws_conn_id=aws_conn)
    idle.hold_pacing()
    assert "conn" not in idle.__dict__, "holding must not create a client"
    hook = SesInsightsHook(aws_conn_id=aws_conn)
    hook.get_message_insights(emulator.add_message(recipients=DELIVERED))
    hook.hold_pacing()
    assert hook.pacer.seconds_until_free() == 0.0
