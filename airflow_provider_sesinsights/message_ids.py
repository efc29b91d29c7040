"""Validation of SES message IDs, done before any API call.

SES message IDs look like ``010001...-...-000000`` (ASCII letters, digits, ``-``), but the format
is not a documented contract, so only what can never be valid is rejected: a non-string, an empty
or blank value, surrounding or inner whitespace, control characters, ``/`` (it would change the
request path ``/v2/email/insights/{MessageId}/``) and absurd lengths; and the two ways a Jinja
template mangles an upstream value: ``"None"`` (an XCom that was never pushed) and a list rendered
as text (``"['a', 'b']"``).
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_sesinsights.exceptions import InvalidMessageIdError

MAX_MESSAGE_ID_LENGTH = 256

TEMPLATE_MARKS = ("{{", "{%", "{#")

_XCOM_HINT = (
    "Pass the upstream task's output (an XComArg such as task.output, or a @task call) instead of a "
    "Jinja string, or set render_template_as_native_obj=True on the DAG."
)


def is_template(value: object) -> bool:
    """Whether ``value`` is a Jinja template that Airflow renders before the task runs."""
    return isinstance(value, str) and any(mark in value for mark in TEMPLATE_MARKS)


def shown_value(value: object) -> str:
    """``repr(value)``, shortened when long, for error messages that name the bad value."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-15:]} ({len(text)} chars)"


def validate_message_id(value: object) -> str:
    """Return ``value`` if it can be an SES message ID, else raise :class:`InvalidMessageIdError`.

    The error names the problem and the value, so a bad upstream XCom is easy to trace.
    """
    if not isinstance(value, str):
        raise InvalidMessageIdError(
            f"SES message ID must be a string, got {type(value).__name__}: {shown_value(value)}"
        )
    stripped = value.strip()
    if stripped in ("None", "null"):
        raise InvalidMessageIdError(
            f"SES message ID is {value!r}: the upstream value was empty (an XCom that was never "
            f"pushed renders as 'None'). {_XCOM_HINT}"
        )
    if stripped.startswith("[") and stripped.endswith("]"):
        raise InvalidMessageIdError(
            f"SES message ID looks like a list rendered as text: {shown_value(value)}. {_XCOM_HINT}"
        )
    if not stripped:
        raise InvalidMessageIdError(f"SES message ID is empty or blank: {shown_value(value)}")
    if len(value) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidMessageIdError(
            f"SES message ID is {len(value)} characters long (at most {MAX_MESSAGE_ID_LENGTH}): "
            f"{shown_value(value)}"
        )
    if any(ch.isspace() for ch in value):
        raise InvalidMessageIdError(f"SES message ID contains whitespace: {shown_value(value)}")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidMessageIdError(f"SES message ID contains a control character: {shown_value(value)}")
    if "/" in value:
        raise InvalidMessageIdError(f"SES message ID contains '/': {shown_value(value)}")
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
