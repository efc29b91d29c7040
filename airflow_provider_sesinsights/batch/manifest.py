"""What a batch contained, as logged at the end and written next to the data in S3."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_sesinsights.batch.plan import BatchPlan

MANIFEST_VERSION = 1


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


@dataclass
class BatchSummary:
    """Counts of one batch attempt, filled in as it runs.

    :param plan: the batch's unique IDs and how many duplicates were removed.
    :param resumed: messages taken from an earlier attempt's checkpoint instead of fetched.
    """

    plan: BatchPlan
    resumed: int = 0
    fetched: int = 0
    written: int = 0
    not_found: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None

    def describe(self) -> str:
        """One log line with every count."""
        plan = self.plan
        return (
            f"{plan.requested} message ID(s) requested, {len(plan.unique_ids)} unique "
            f"({plan.duplicates_removed} duplicate(s) removed), {self.resumed} from the checkpoint, "
            f"{self.fetched} fetched now, {len(self.not_found)} not found, {self.written} written"
        )

    def manifest(self, destination_uri: str, *, compression: str | None, try_number: int) -> dict[str, Any]:
        """The JSON document stored as ``<key>.manifest.json``."""
        finished = self.finished_at or utc_now()
        return {
            "manifest_version": MANIFEST_VERSION,
            "data": destination_uri,
            "format": "jsonl",
            "compression": compression,
            "requested": self.plan.requested,
            "unique": len(self.plan.unique_ids),
            "duplicates_removed": self.plan.duplicates_removed,
            "written": self.written,
            "not_found": len(self.not_found),
            "not_found_message_ids": list(self.not_found),
            "resumed_from_checkpoint": self.resumed,
            "fetched_by_final_try": self.fetched,
            "final_try_number": try_number,
            "final_try_started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(timespec="seconds"),
        }
