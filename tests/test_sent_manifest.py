"""Reading the sender's manifest of sent message IDs (CSV or JSON Lines, maybe gzipped)."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from airflow_provider_sesinsights.emulator.scenarios import realistic_day
from airflow_provider_sesinsights.exceptions import InvalidMessageIdError
from airflow_provider_sesinsights.sent_manifest import manifest_format, read_message_ids

SCENARIO = realistic_day(date(2025, 6, 2), messages=40, seed=5)


def test_csv_and_jsonl_manifests_give_the_same_ids_in_send_order() -> None:
    from_csv = read_message_ids(SCENARIO.manifest_csv(), name="dt=2025-06-02/sent.csv")
    from_jsonl = read_message_ids(SCENARIO.manifest_jsonl().encode(), name="sent.jsonl")
    assert from_csv == from_jsonl == SCENARIO.message_ids


def test_format_comes_from_the_name_else_from_the_content() -> None:
    assert manifest_format("a/b.CSV.gz", b"") == "csv"
    assert manifest_format("a/b.ndjson", b"") == "jsonl"
    assert manifest_format("a/b", b'  {"message_id": "x"}') == "jsonl"
    assert manifest_format("a/b", b"message_id\nx\n") == "csv"
    assert read_message_ids(SCENARIO.manifest_jsonl(), name="no-extension") == SCENARIO.message_ids


def test_gzip_bom_other_columns_and_repeats() -> None:
    text = "\ufeffsent_at,MessageId\n2025-06-02T10:00:00Z,m-1\n2025-06-02T10:00:01Z,m-2\n,m-1\n"
    assert read_message_ids(gzip.compress(text.encode()), name="x.csv.gz", column="MessageId") == [
        "m-1",
        "m-2",
    ]
    assert read_message_ids('{"id": "m-3"}\n\n{"id": "m-4", "extra": 1}\n', column="id", fmt="jsonl") == [
        "m-3",
        "m-4",
    ]


def test_bad_manifests_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"no column 'message_id'; its columns: \['id'\]"):
        read_message_ids("id\nm-1\n", name="sent.csv")
    with pytest.raises(ValueError, match="line 2 has no field 'message_id'"):
        read_message_ids('{"message_id": "m-1"}\n{"id": "m-2"}\n', name="sent.jsonl")
    with pytest.raises(ValueError, match="line 1 is not JSON"):
        read_message_ids("{oops\n", name="sent.jsonl")
    with pytest.raises(InvalidMessageIdError, match="#1"):
        read_message_ids("message_id\nm-1\n\t\n", name="sent.csv")
    with pytest.raises(ValueError, match="format must be one of"):
        read_message_ids("message_id\nm-1\n", fmt="parquet")
