"""Loading the raw insights a report is built from: JSON Lines as the operator writes them.

One JSON object per line, each a GetMessageInsights answer in the JSON-safe form of
:func:`~airflow_provider_sesinsights.insights.json_safe`. Objects without an ``Insights`` list
(a message SES did not know, written as a marker) are kept apart, so the report can say how
many IDs it has no data for instead of silently counting fewer messages.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sesinsights.insights import is_answer, json_safe

InsightsSource = str | Path | Iterable[str | bytes | Mapping[str, Any]]
"""A file or folder of ``.jsonl`` / ``.jsonl.gz`` files, or the lines (or parsed dicts) themselves."""


@dataclass(frozen=True)
class LoadedInsights:
    """The records of a report's input, one per message ID (the last one wins on repeats).

    :param records: answers that carry an ``Insights`` list, in input order.
    :param without_insights: message IDs whose line had no ``Insights`` (not found, failed).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    without_insights: list[str] = field(default_factory=list)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz"))]
        return sorted(found)
    return [path]


def _lines_of(path: Path) -> Iterable[bytes]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        yield from stream


def _items(source: InsightsSource) -> Iterable[str | bytes | Mapping[str, Any]]:
    if isinstance(source, str | Path):
        for path in _files(Path(source)):
            yield from _lines_of(path)
    else:
        yield from source


def load_insights(source: InsightsSource) -> LoadedInsights:
    """Read every record of ``source``; blank lines are skipped, bad JSON raises ``ValueError``.

    :param source: a path (file or folder, gzip allowed) or an iterable of lines or dicts.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for number, item in enumerate(_items(source), start=1):
        if isinstance(item, Mapping):
            record = item
        else:
            text = item.decode("utf-8") if isinstance(item, bytes) else item
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"insights line {number} is not JSON: {exc}") from exc
        if not isinstance(record, Mapping) or not record.get("MessageId"):
            raise ValueError(f"insights line {number} is not an object with a MessageId")
        message_id = str(record["MessageId"])
        by_id.pop(message_id, None)
        by_id[message_id] = json_safe(record)
    loaded = LoadedInsights()
    for message_id, record in by_id.items():
        if is_answer(record):
            loaded.records.append(record)
        else:
            loaded.without_insights.append(message_id)
    return loaded
