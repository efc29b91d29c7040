"""Which failed calls are worth another try, and how long to back off before it.

The hook retries itself rather than through botocore, because its retries must go through the
process-wide pacer: a botocore retry would fire without regard to other callers' slots and draw
yet another 429. Users who set ``retries`` in ``botocore_config`` get botocore's retries instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.parsers import ResponseParserError

THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class IncompleteAnswer(Exception):
    """A 200 answer without the ``MessageId`` every real answer carries: botocore keeps a body it
    cannot parse without raising, so a truncated answer shows up this way."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError`` (``NotFoundException``, ...), else ``None``."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def is_throttling(exc: BaseException) -> bool:
    """Whether the service said "too many requests" (HTTP 429 or a throttling error code)."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 429 or error_code(exc) in THROTTLING_CODES


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: throttling, 5xx, dropped or timed-out connections,
    and answers that could not be parsed or came back incomplete (a truncated body)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return is_throttling(exc) or status >= 500 or error_code(exc) in TRANSIENT_CODES
    retryable = (BotocoreConnectionError, HTTPClientError, ResponseParserError, IncompleteAnswer)
    return isinstance(exc, retryable) or (
        isinstance(exc, BotoCoreError) and "timeout" in type(exc).__name__.lower()
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently the hook retries a retryable failure.

    Attempts are paced like first calls, so the backoff only adds to the one-second spacing. The
    default rides out 11 failures in a row (about a minute of throttling).

    :param max_attempts: calls made in all for one message, first call included (1 = no retries).
    :param base_delay: backoff in seconds after the first failure; doubles with each failure.
    :param max_delay: cap on one backoff, in seconds.
    """

    max_attempts: int = 12
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"delays must be >= 0, got {self.base_delay!r} and {self.max_delay!r}")

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row: capped exponential, with jitter
        (50-100 % of the step) so that callers who failed together do not retry together."""
        step = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        return step * random.uniform(0.5, 1.0)


NO_RETRIES = RetryPolicy(max_attempts=1)
