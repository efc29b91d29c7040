"""Message ID validation rejects what can never be an SES message ID, and names the value."""

from __future__ import annotations

import pytest

from airflow_provider_sesinsights.exceptions import InvalidMessageIdError
from airflow_provider_sesinsights.message_ids import (
    MAX_MESSAGE_ID_LENGTH,
    is_template,
    validate_message_id,
    validate_message_ids,
)

REAL_LOOKING_ID = "010001812e7b6a2c-5c1a0f4b-8f3e-4c2d-9a7b-2f6e1d0c9b8a-000000"

BAD_IDS: list[tuple[object, str]] = [
    (None, "must be a string"),
    (42, "must be a string"),
    (b"0100018", "must be a string"),
    (["a"], "must be a string"),
    ("", "empty or blank"),
    ("   ", "empty or blank"),
    ("\t\n", "empty or blank"),
    (" 0100018", "whitespace"),
    ("0100018 ", "whitespace"),
    ("01000 18", "whitespace"),
    ("0100\x0018", "control character"),
    ("0100\x1b[31m18", "control character"),
    ("0100\x7f18", "control character"),
    ("../../admin", "'/'"),
    ("abc/def", "'/'"),
    ("x" * (MAX_MESSAGE_ID_LENGTH + 1), "characters long"),
    ("None", "was never pushed"),
    (" null", "the upstream value was empty"),
    ("['0100-a', '0100-b']", "list rendered as text"),
]


@pytest.mark.parametrize(("value", "problem"), BAD_IDS)
def test_bad_ids_are_rejected_with_the_problem_and_the_value(value: object, problem: str) -> None:
    with pytest.raises(InvalidMessageIdError) as caught:
        validate_message_id(value)
    message = str(caught.value)
    assert problem in message
    assert repr(value)[:20] in message


def test_template_detection() -> None:
    assert all(is_template(t) for t in ("{{ ti.xcom_pull() }}", "{% if x %}a{% endif %}", "{# c #}id"))
    assert not any(is_template(v) for v in ("010001-abc", None, ["{{ x }}"], "{ x }"))


def test_error_is_a_value_error() -> None:
    assert issubclass(InvalidMessageIdError, ValueError)


@pytest.mark.parametrize("value", [REAL_LOOKING_ID, "a", "x" * MAX_MESSAGE_ID_LENGTH, "ID_with.dots+plus"])
def test_plausible_ids_pass_unchanged(value: str) -> None:
    assert validate_message_id(value) == value


def test_batch_names_every_bad_id_with_its_position() -> None:
    with pytest.raises(InvalidMessageIdError) as caught:
        validate_message_ids(["ok-1", "", "ok-2", None, "a/b"])
    message = str(caught.value)
    assert message.startswith("3 invalid SES message ID(s)")
    assert "#1:" in message and "#3:" in message and "#4:" in message
    assert "#0:" not in message


def test_batch_keeps_order_and_duplicates() -> None:
    assert validate_message_ids(("b", "a", "b")) == ["b", "a", "b"]


def test_huge_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidMessageIdError) as caught:
        validate_message_id("y" * 100_000)
    assert len(str(caught.value)) < 300
