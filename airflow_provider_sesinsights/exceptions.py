"""Errors the provider raises, so DAG code can catch them by name.

They derive from Airflow's and Python's own classes (``AirflowNotFoundException``,
``ValueError``), so generic handlers keep working. ``AirflowException`` comes from
``airflow.exceptions``, which every Airflow process has already imported; the two Airflow
exceptions that end a task without retries are re-exported from wherever the running Airflow
keeps them.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException, AirflowNotFoundException

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 3.0 has them only here, where Airflow 3.3 deprecates them
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "InvalidMessageIdError",
    "MessageInsightsBadRequest",
    "MessageInsightsNotFound",
    "MessageInsightsUnavailable",
]


class InvalidMessageIdError(ValueError):
    """A message ID that cannot be an SES message ID; raised before any API call."""


class MessageInsightsNotFound(AirflowNotFoundException):
    """SES has no insights for the message ID (wrong ID, another account or region, or too early).

    :param message_id: the ID that was looked up.
    """

    def __init__(self, message_id: str, detail: str = "") -> None:
        self.message_id = message_id
        text = f"SES has no insights for message ID {message_id!r}"
        super().__init__(f"{text}: {detail}" if detail else text)


class MessageInsightsBadRequest(AirflowException):
    """SES rejected the GetMessageInsights request as malformed (HTTP 400).

    :param message_id: the ID that was sent.
    """

    def __init__(self, message_id: str, detail: str = "") -> None:
        self.message_id = message_id
        text = f"SES rejected GetMessageInsights for message ID {message_id!r} as a bad request"
        super().__init__(f"{text}: {detail}" if detail else text)


class MessageInsightsUnavailable(AirflowException):
    """The API still failed (throttled, 5xx, connection trouble) after every retry.

    :param message_id: the ID being fetched.
    :param attempts: how many calls were made.
    """

    def __init__(self, message_id: str, attempts: int, cause: BaseException) -> None:
        self.message_id = message_id
        self.attempts = attempts
        super().__init__(
            f"GetMessageInsights for message ID {message_id!r} still failing after {attempts} "
            f"attempt(s): {type(cause).__name__}: {cause}"
        )
