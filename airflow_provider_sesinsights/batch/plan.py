"""Which message IDs a batch fetches: each unique ID once, in the order it first appears."""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPlan:
    """The IDs of a batch after removing duplicates.

    :param requested: how many IDs the input had, duplicates included.
    :param unique_ids: each ID once, in the order of its first appearance; also the output order.
    """

    requested: int
    unique_ids: tuple[str, ...]

    @classmethod
    def of(cls, message_ids: Iterable[str]) -> BatchPlan:
        """Plan a batch for ``message_ids`` (already validated)."""
        given = list(message_ids)
        return cls(requested=len(given), unique_ids=tuple(dict.fromkeys(given)))

    @property
    def duplicates_removed(self) -> int:
        """How many input IDs repeated an earlier one and will not be fetched again."""
        return self.requested - len(self.unique_ids)

    def remaining(self, done: Container[str]) -> list[str]:
        """The unique IDs not in ``done`` (for example a resumed checkpoint), in output order."""
        return [message_id for message_id in self.unique_ids if message_id not in done]
