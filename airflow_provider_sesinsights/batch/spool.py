"""Fetched insights kept on local disk until the batch is complete.

A batch of any size costs memory only for an index of file offsets: each record is appended to
a temporary JSON Lines file as it arrives, the part not yet checkpointed can be read back for an
upload, and at the end the records are copied out in the batch's order, whatever order they were
added in (a resumed checkpoint first, then the new ones).

A record line is ``{"message_id": ..., "insights": {...}}``; the same lines make up checkpoint
parts, so loading a checkpoint is appending its lines. The output holds the insights alone.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any


def json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, the form of every line and document the operator writes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@contextmanager
def output_writer(target: IO[bytes], compress: bool) -> Iterator[IO[bytes]]:
    """Write to ``target`` as is, or through gzip; ``target`` stays open either way."""
    if compress:
        with gzip.GzipFile(fileobj=target, mode="wb") as zipped:
            yield zipped  # type: ignore[misc]
    else:
        with nullcontext(target) as plain:
            yield plain


@dataclass(frozen=True)
class UnsavedRecords:
    """Record lines added since the last checkpoint, and where they end in the spool file."""

    data: bytes
    count: int
    end: int


class InsightsSpool:
    """An append-only temporary file of fetched insights with an in-memory index by message ID.

    :param directory: where to create the temporary file (default: the system's temp dir).
    """

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(mode="w+b", dir=directory)  # noqa: SIM115 (closed by close())
        self._index: dict[str, tuple[int, int]] = {}
        self._end = 0
        self._saved_end = 0
        self._unsaved_count = 0

    def __enter__(self) -> InsightsSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._index

    def add(self, message_id: str, insights: Mapping[str, Any]) -> None:
        """Append one message's insights; a later record for the same ID replaces the earlier."""
        line = json_bytes({"message_id": message_id, "insights": insights}) + b"\n"
        self._file.seek(self._end)
        self._file.write(line)
        self._index[message_id] = (self._end, len(line))
        self._end += len(line)
        self._unsaved_count += 1

    def add_record_line(self, line: bytes) -> str:
        """Append a record line read back from a checkpoint; return its message ID.

        :raises ValueError: the line is not a record this module wrote.
        """
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("message_id"), str):
            raise ValueError(f"not an insights record: {line[:80]!r}")
        if not isinstance(record.get("insights"), dict):
            raise ValueError(f"record for {record['message_id']!r} has no insights object")
        self.add(record["message_id"], record["insights"])
        return str(record["message_id"])

    @property
    def unsaved_count(self) -> int:
        """How many records were added since the last checkpoint."""
        return self._unsaved_count

    def unsaved(self) -> UnsavedRecords:
        """The record lines added since :meth:`mark_saved` was last called."""
        self._file.seek(self._saved_end)
        data = self._file.read(self._end - self._saved_end)
        return UnsavedRecords(data=data, count=self._unsaved_count, end=self._end)

    def mark_saved(self, saved: UnsavedRecords | None = None) -> None:
        """Record that ``saved`` (default: every record so far) is safely in a checkpoint."""
        if saved is None:
            self._saved_end, self._unsaved_count = self._end, 0
        else:
            self._saved_end = saved.end
            self._unsaved_count -= saved.count

    def insights(self, message_id: str) -> dict[str, Any]:
        """Read one message's insights back from disk."""
        offset, length = self._index[message_id]
        self._file.seek(offset)
        insights: dict[str, Any] = json.loads(self._file.read(length))["insights"]
        return insights

    def write_json_lines(self, order: Iterable[str], out: IO[bytes]) -> int:
        """Write the insights of every ID of ``order`` that the spool holds, one JSON a line.

        :return: how many lines were written.
        """
        written = 0
        for message_id in order:
            if message_id in self._index:
                out.write(json_bytes(self.insights(message_id)) + b"\n")
                written += 1
        return written
