"""Validation of SES message IDs, done before any API call.

SES message IDs look like ``010001...-...-000000`` (ASCII letters, digits, ``-``), but the format
is not a documented contract, so only what can never be valid is rejected: a non-string, an empty
or blank value, surrounding or inner whitespace, control characters, ``/`` (it would change the
request path ``/v2/email/insights/{MessageId}/``) and absurd lengths.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_sesinsights.exceptions import InvalidMessageIdError

MAX_MESSAGE_ID_LENGTH = 256


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-15:]} ({len(text)} chars)"


def validate_message_id(value: object) -> str:
    """Return ``value`` if it can be an SES message ID, else raise :class:`InvalidMessageIdError`.

    The error names the problem and the value, so a bad upstream XCom is easy to trace.
    """
    if not isinstance(value, str):
        raise InvalidMessageIdError(
            f"SES message ID must be a string, got {type(value).__name__}: {_shown(value)}"
        )
    if not value.strip():
        raise InvalidMessageIdError(f"SES message ID is empty or blank: {_shown(value)}")
    if len(value) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidMessageIdError(
            f"SES message ID is {len(value)} characters long (at most {MAX_MESSAGE_ID_LENGTH}): "
            f"{_shown(value)}"
        )
    if any(ch.isspace() for ch in value):
        raise InvalidMessageIdError(f"SES message ID contains whitespace: {_shown(value)}")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidMessageIdError(f"SES message ID contains a control character: {_shown(value)}")
    if "/" in value:
        raise InvalidMessageIdError(f"SES message ID contains '/': {_shown(value)}")
    return value


def validate_message_ids(values: Iterable[object]) -> list[str]:
    """Validate every ID of a batch up front, naming each bad one with its position.

    :return: the IDs in input order (duplicates kept; callers decide how to treat them).
    """
    valid: list[str] = []
    problems: list[str] = []
    for position, value in enumerate(values):
        try:
            valid.append(validate_message_id(value))
        except InvalidMessageIdError as exc:
            problems.append(f"#{position}: {exc}")
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidMessageIdError(f"{len(problems)} invalid SES message ID(s): {shown}{more}")
    return valid
