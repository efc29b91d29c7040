"""Reading the manifest a sending system drops: which messages it sent, by SES message ID.

A manifest is CSV with a header row or JSON Lines (one object per line), optionally gzipped,
with a column holding the ``MessageId`` that SES returned for each email; other columns are
ignored. The IDs are validated (naming the bad row) and de-duplicated in order, so a report
fetches each message once.
"""

from __future__ import annotations

import csv
import gzip
import io
import json

from airflow_provider_sesinsights.message_ids import validate_message_ids

MANIFEST_FORMATS = ("csv", "jsonl")


def manifest_format(name: str, content: bytes) -> str:
    """Tell CSV from JSON Lines by the file name, else by the first character of the content.

    :param name: the manifest's file name or S3 key (``.csv``, ``.jsonl``, ``.ndjson``, maybe
        ending ``.gz``).
    """
    base = name.lower().removesuffix(".gz")
    if base.endswith(".csv"):
        return "csv"
    if base.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "jsonl" if _text(content).lstrip().startswith("{") else "csv"


def _text(content: bytes) -> str:
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return content.decode("utf-8-sig")


def _csv_ids(text: str, column: str, name: str) -> list[object]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise ValueError(f"manifest {name} has no column {column!r}; its columns: {reader.fieldnames}")
    return [row[column] for row in reader]


def _jsonl_ids(text: str, column: str, name: str) -> list[object]:
    found: list[object] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest {name} line {number} is not JSON: {exc}") from exc
        if not isinstance(row, dict) or column not in row:
            raise ValueError(f"manifest {name} line {number} has no field {column!r}")
        found.append(row[column])
    return found


def read_message_ids(
    content: bytes | str, *, name: str = "manifest", column: str = "message_id", fmt: str | None = None
) -> list[str]:
    """Return the message IDs of a manifest, first occurrence of each, in file order.

    :param content: the manifest's bytes (gzip is recognised) or text.
    :param name: file name or S3 key, used to tell the format and in error messages.
    :param column: the column (CSV) or field (JSON Lines) holding the message ID.
    :param fmt: ``"csv"`` or ``"jsonl"``; guessed from ``name`` and the content when ``None``.
    :raises ValueError: unknown format, missing column, a line that is not JSON.
    :raises InvalidMessageIdError: a value that cannot be an SES message ID (empty, blank, ...).
    """
    raw = content.encode("utf-8") if isinstance(content, str) else content
    chosen = fmt or manifest_format(name, raw)
    if chosen not in MANIFEST_FORMATS:
        raise ValueError(f"manifest format must be one of {MANIFEST_FORMATS}, got {chosen!r}")
    text = _text(raw)
    values = _csv_ids(text, column, name) if chosen == "csv" else _jsonl_ids(text, column, name)
    return list(dict.fromkeys(validate_message_ids(values)))
