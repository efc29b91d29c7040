"""The flat events table: one row per message, recipient and event, for Athena or a spreadsheet.

Timestamps stay ISO-8601 text in UTC (``from_iso8601_timestamp`` in Athena reads them); the
message's tags are one JSON column, and the tags chosen for grouping also get a column each
(``tag_campaign``), so a spreadsheet can filter on them directly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_sesinsights import insights

if TYPE_CHECKING:
    from airflow_provider_sesinsights.report.pii import RecipientHasher

EVENT_COLUMNS = (
    "message_id",
    "recipient",
    "isp",
    "event_type",
    "timestamp",
    "bounce_type",
    "bounce_subtype",
    "diagnostic_code",
    "complaint_subtype",
    "complaint_feedback_type",
    "from_address",
    "tags",
)
"""Columns of every events table; the per-tag columns follow them."""


def tag_column(tag: str) -> str:
    """The column name of a chosen tag (``campaign`` -> ``tag_campaign``)."""
    return f"tag_{tag}"


def event_columns(tag_columns: Sequence[str] = ()) -> list[str]:
    """The header of an events table with the given tag columns."""
    return [*EVENT_COLUMNS, *(tag_column(tag) for tag in tag_columns)]


def event_rows(
    records: Iterable[insights.Insights],
    *,
    tag_columns: Sequence[str] = (),
    hasher: RecipientHasher | None = None,
) -> Iterator[dict[str, str]]:
    """Yield the rows for ``records`` (JSON-safe insights), message by message, oldest event first.

    :param tag_columns: tags that get a column of their own besides the JSON ``tags`` column.
    :param hasher: when given, recipients and addresses inside diagnostic codes are pseudonymised.
    """
    for record in records:
        message_tags = insights.tags(record)
        tags_text = json.dumps(message_tags, sort_keys=True, ensure_ascii=False)
        for event in insights.events(record):
            bounce = insights.event_bounce(event)
            complaint = insights.event_complaint(event)
            recipient = str(event.get("Destination") or "")
            diagnostic = bounce.get("DiagnosticCode", "")
            if hasher is not None:
                recipient = hasher.pseudonym(recipient)
                diagnostic = hasher.scrub(diagnostic)
            row: dict[str, Any] = {
                "message_id": record.get("MessageId", ""),
                "recipient": recipient,
                "isp": event.get("Isp") or "",
                "event_type": event.get("Type", ""),
                "timestamp": event.get("Timestamp", ""),
                "bounce_type": bounce.get("BounceType", ""),
                "bounce_subtype": bounce.get("BounceSubType", ""),
                "diagnostic_code": diagnostic,
                "complaint_subtype": complaint.get("ComplaintSubType", ""),
                "complaint_feedback_type": complaint.get("ComplaintFeedbackType", ""),
                "from_address": record.get("FromEmailAddress", ""),
                "tags": tags_text,
            }
            for tag in tag_columns:
                row[tag_column(tag)] = message_tags.get(tag, "")
            yield {key: str(value) for key, value in row.items()}


def write_events_csv(rows: Iterable[dict[str, str]], path: Path, *, tag_columns: Sequence[str] = ()) -> int:
    """Write the rows as CSV (UTF-8, header first, RFC 4180 quoting); return how many were written.

    :param tag_columns: the same tag columns the rows were made with.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=event_columns(tag_columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
