"""What an unfinished batch leaves in S3 so that the next attempt does not fetch it again.

The checkpoint is a series of parts, ``<key>.checkpoint/part-000001.jsonl`` and on: each save
uploads only the records fetched since the previous save, so a batch of hours uploads each record
once instead of re-uploading everything at every save. A part is a single PUT, so it is either
there whole or not at all. Only found messages are recorded; a retry asks SES again about the
ones that were not found (they may have become visible since).

The first line of a part names the task instance that wrote it (DAG, task, run, map index). A
retry or a cleared task of the same run resumes from it; parts left by another run (say a failed
run of last week writing to the same key with ``replace=True``) are ignored, because their
insights are stale, and deleted with the rest once the data is written.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_sesinsights.batch.spool import InsightsSpool, json_bytes

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from airflow_provider_sesinsights.batch.destination import S3Destination

FORMAT_VERSION = 1
MAX_RECORDS_PER_PART = 1000
"""A part is uploaded once it holds this many records, whatever the interval, which bounds the
memory of one upload (records are about a kilobyte each)."""

_PART_NAME = re.compile(r"part-(\d+)\.jsonl$")

log = logging.getLogger(__name__)

Owner = Mapping[str, Any]


class S3Checkpoint:
    """Saves and reloads the records of one batch beside its destination.

    :param s3: hook of the S3 connection the data goes to.
    :param destination: the data object; parts live under its ``checkpoint_prefix``.
    :param owner: identifies the task instance (``dag_id``, ``task_id``, ``run_id``,
        ``map_index``); only parts with the same owner are resumed.
    :param interval: seconds between saves while the batch runs (0: after every record).
    :param clock: monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        s3: S3Hook,
        destination: S3Destination,
        owner: Owner,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s3 = s3
        self.destination = destination
        self.owner = dict(owner)
        self.interval = interval
        self._clock = clock
        self._last_save = clock()
        self._last_part = 0

    def _part_keys(self) -> list[str]:
        prefix = self.destination.checkpoint_prefix
        keys = self._s3.list_keys(bucket_name=self.destination.bucket, prefix=prefix)
        return sorted(key for key in keys if _PART_NAME.search(key[len(prefix) :]))

    def load(self, spool: InsightsSpool) -> int:
        """Append the records of this task instance's earlier attempts to ``spool``.

        :return: how many distinct messages were loaded.
        """
        loaded: set[str] = set()
        for key in self._part_keys():
            match = _PART_NAME.search(key)
            if match:
                self._last_part = max(self._last_part, int(match.group(1)))
            body = self._s3.get_key(key, self.destination.bucket).get()["Body"]
            lines = body.iter_lines()
            header = _header(next(lines, b""))
            if header is None or header.get("owner") != self.owner:
                writer = header.get("owner") if header else "an unknown writer"
                log.warning(
                    "Ignoring checkpoint part s3://%s/%s: written by %s, not by this task instance %s.",
                    self.destination.bucket,
                    key,
                    writer,
                    self.owner,
                )
                continue
            try:
                loaded.update(spool.add_record_line(line) for line in lines if line.strip())
            except ValueError as exc:
                raise ValueError(
                    f"checkpoint part s3://{self.destination.bucket}/{key} is damaged ({exc}); delete "
                    f"s3://{self.destination.bucket}/{self.destination.checkpoint_prefix} to start over"
                ) from exc
        spool.mark_saved()
        return len(loaded)

    def due(self, spool: InsightsSpool) -> bool:
        """Whether unsaved records have waited ``interval`` seconds or fill a part."""
        pending = spool.unsaved_count
        if not pending:
            return False
        return pending >= MAX_RECORDS_PER_PART or self._clock() - self._last_save >= self.interval

    def save(self, spool: InsightsSpool) -> int:
        """Upload the records added to ``spool`` since the last save as a new part.

        :return: how many records the part holds (0: nothing to save, nothing uploaded).
        """
        unsaved = spool.unsaved()
        if not unsaved.count:
            return 0
        header = {
            "checkpoint": FORMAT_VERSION,
            "owner": self.owner,
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        key = f"{self.destination.checkpoint_prefix}part-{self._last_part + 1:06d}.jsonl"
        self._s3.load_bytes(
            json_bytes(header) + b"\n" + unsaved.data, key, self.destination.bucket, replace=True
        )
        self._last_part += 1
        self._last_save = self._clock()
        spool.mark_saved(unsaved)
        return unsaved.count

    def delete(self) -> int:
        """Delete every part under the prefix (this run's and stale ones); return how many."""
        keys = self._part_keys()
        if keys:
            self._s3.delete_objects(self.destination.bucket, keys)
        return len(keys)


def _header(line: bytes) -> dict[str, object] | None:
    try:
        header = json.loads(line) if line else None
    except ValueError:
        return None
    if isinstance(header, dict) and header.get("checkpoint") == FORMAT_VERSION:
        return header
    return None
