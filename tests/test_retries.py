"""Which failures are retried, and the backoff schedule."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.parsers import ResponseParserError

from airflow_provider_sesinsights.retries import IncompleteAnswer, RetryPolicy, is_retryable, is_throttling


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetMessageInsights")


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (client_error("TooManyRequestsException", 429), True),
        (client_error("InternalFailure", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("NotFoundException", 404), False),
        (client_error("BadRequestException", 400), False),
        (client_error("AccessDeniedException", 403), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (ResponseParserError("bad json"), True),
        (ValueError("not ours"), False),
    ],
)
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


def test_is_throttling_only_for_429() -> None:
    assert is_throttling(client_error("TooManyRequestsException", 429))
    assert not is_throttling(client_error("InternalFailure", 500))
    assert not is_throttling(ValueError())


def test_backoff_doubles_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    for failures, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.backoff(failures) for _ in range(50)]
        assert all(step * 0.5 <= d <= step for d in delays)
        assert max(delays) - min(delays) > 0


def test_default_policy_rides_out_nine_throttled_answers() -> None:
    assert RetryPolicy().max_attempts >= 10


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -0.5}])
def test_bad_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_incomplete_answers_are_retryable() -> None:
    assert is_retryable(IncompleteAnswer("no MessageId"))
