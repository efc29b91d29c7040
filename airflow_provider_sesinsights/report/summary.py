"""Deliverability summary: counts and rates overall, per ISP and per chosen tag.

The unit is a *send*: one message to one recipient, as in SES's own sending statistics.
Rates of delivery, bounce and complaint are over *tracked* sends, those of single-recipient
messages (SES reports no DELIVERY, BOUNCE, COMPLAINT, OPEN or CLICK for the recipients of a
multi-recipient message); open and click rates are over delivered sends. Delivery time is the
time from SEND to DELIVERY, given as the 50th, 90th and 99th percentiles.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sesinsights import insights

NO_TAG_VALUE = "(none)"
"""Group name for messages that lack the tag a summary groups by."""

COUNT_FIELDS = (
    "messages",
    "sends",
    "untracked",
    "delivered",
    "bounced",
    "bounced_permanent",
    "bounced_transient",
    "bounced_undetermined",
    "complained",
    "opened",
    "clicked",
    "delayed",
    "failed",
    "pending",
)
RATE_FIELDS = ("delivery_rate", "bounce_rate", "complaint_rate", "open_rate", "click_rate")
PERCENTILE_FIELDS = ("delivery_p50_s", "delivery_p90_s", "delivery_p99_s")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0..1) by linear interpolation between ranks; ``None`` if empty."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within 0..1, got {fraction}")
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class GroupSummary:
    """Counts, rates and delivery-time percentiles of one group of sends.

    :param name: ``all``, an ISP, or a tag value.
    """

    name: str
    messages: int
    sends: int
    untracked: int
    delivered: int
    bounced: int
    bounced_permanent: int
    bounced_transient: int
    bounced_undetermined: int
    complained: int
    opened: int
    clicked: int
    delayed: int
    failed: int
    pending: int
    delivery_p50_s: float | None
    delivery_p90_s: float | None
    delivery_p99_s: float | None

    @property
    def tracked(self) -> int:
        """Sends SES reports outcomes for (those of single-recipient messages)."""
        return self.sends - self.untracked

    @property
    def delivery_rate(self) -> float | None:
        """Delivered share of tracked sends."""
        return _ratio(self.delivered, self.tracked)

    @property
    def bounce_rate(self) -> float | None:
        """Bounced share of tracked sends."""
        return _ratio(self.bounced, self.tracked)

    @property
    def complaint_rate(self) -> float | None:
        """Complained share of tracked sends."""
        return _ratio(self.complained, self.tracked)

    @property
    def open_rate(self) -> float | None:
        """Opened share of delivered sends."""
        return _ratio(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        """Clicked share of delivered sends."""
        return _ratio(self.clicked, self.delivered)

    def as_dict(self) -> dict[str, Any]:
        """Counts, rates and percentiles as one flat JSON-ready dict."""
        return {**asdict(self), **{name: getattr(self, name) for name in RATE_FIELDS}}


def _group(name: str, outcomes: Sequence[insights.RecipientOutcome]) -> GroupSummary:
    tracked = [o for o in outcomes if o.tracked]
    bounce_types = Counter(o.bounce_type for o in tracked if o.bounce_type)
    seconds = [o.delivery_seconds for o in tracked if o.delivery_seconds is not None]
    return GroupSummary(
        name=name,
        messages=len({o.message_id for o in outcomes}),
        sends=len(outcomes),
        untracked=len(outcomes) - len(tracked),
        delivered=sum(1 for o in tracked if o.delivered),
        bounced=sum(bounce_types.values()),
        bounced_permanent=bounce_types["PERMANENT"],
        bounced_transient=bounce_types["TRANSIENT"],
        bounced_undetermined=bounce_types["UNDETERMINED"],
        complained=sum(1 for o in tracked if o.outcome == "complained"),
        opened=sum(1 for o in tracked if o.opened),
        clicked=sum(1 for o in tracked if o.clicked),
        delayed=sum(1 for o in tracked if o.delayed),
        failed=sum(1 for o in tracked if o.outcome == "failed"),
        pending=sum(1 for o in tracked if o.outcome == "pending"),
        delivery_p50_s=percentile(seconds, 0.50),
        delivery_p90_s=percentile(seconds, 0.90),
        delivery_p99_s=percentile(seconds, 0.99),
    )


def _groups(named: Iterable[tuple[str, insights.RecipientOutcome]]) -> list[GroupSummary]:
    """One group per name, most sends first."""
    grouped: dict[str, list[insights.RecipientOutcome]] = {}
    for name, outcome in named:
        grouped.setdefault(name, []).append(outcome)
    ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
    return [_group(name, members) for name, members in ordered]


@dataclass(frozen=True)
class Summary:
    """A deliverability summary of a set of messages.

    :param overall: every send together.
    :param by_isp: one group per ISP, most sends first.
    :param by_tag: per chosen tag name, one group per value (``(none)`` when missing).
    :param delivery_seconds: every tracked send's SEND-to-DELIVERY time, for distributions.
    :param bounce_reasons: ``(BounceType, BounceSubType, count)`` of tracked sends' first bounces,
        most frequent first.
    :param first_send: earliest SEND timestamp seen (ISO-8601), ``None`` without any.
    :param last_send: latest SEND timestamp seen.
    :param without_insights: message IDs the input listed without insights (not found).
    """

    overall: GroupSummary
    by_isp: list[GroupSummary]
    by_tag: dict[str, list[GroupSummary]]
    delivery_seconds: list[float]
    bounce_reasons: list[tuple[str, str, int]]
    first_send: str | None
    last_send: str | None
    without_insights: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (delivery times left out; the percentiles stay)."""
        return {
            "first_send": self.first_send,
            "last_send": self.last_send,
            "overall": self.overall.as_dict(),
            "by_isp": [group.as_dict() for group in self.by_isp],
            "by_tag": {tag: [group.as_dict() for group in groups] for tag, groups in self.by_tag.items()},
            "bounce_reasons": [
                {"bounce_type": kind, "bounce_subtype": subtype, "count": count}
                for kind, subtype, count in self.bounce_reasons
            ],
            "without_insights": list(self.without_insights),
        }


def summarize(
    records: Iterable[insights.Insights],
    *,
    group_by_tags: Sequence[str] = ("campaign",),
    without_insights: Sequence[str] = (),
) -> Summary:
    """Summarise JSON-safe insights answers, one per message.

    :param group_by_tags: tag names (for example ``campaign``) to break the counts down by.
    :param without_insights: message IDs known to lack insights, reported as such.
    """
    outcomes: list[insights.RecipientOutcome] = []
    message_tags: dict[str, dict[str, str]] = {}
    send_times: list[str] = []
    for record in records:
        outcomes.extend(insights.recipient_outcomes(record))
        message_tags[str(record.get("MessageId", ""))] = insights.tags(record)
        send_times.extend(str(event["Timestamp"]) for event in insights.events_of_type(record, "SEND"))
    reasons = Counter(
        (o.bounce_type, o.bounce_subtype or "") for o in outcomes if o.tracked and o.bounce_type
    )
    by_tag = {
        tag: _groups((message_tags[o.message_id].get(tag) or NO_TAG_VALUE, o) for o in outcomes)
        for tag in group_by_tags
    }
    return Summary(
        overall=_group("all", outcomes),
        by_isp=_groups((o.isp, o) for o in outcomes),
        by_tag=by_tag,
        delivery_seconds=[
            o.delivery_seconds for o in outcomes if o.tracked and o.delivery_seconds is not None
        ],
        bounce_reasons=[(kind, subtype, count) for (kind, subtype), count in reasons.most_common()],
        first_send=min(send_times) if send_times else None,
        last_send=max(send_times) if send_times else None,
        without_insights=list(without_insights),
    )


SUMMARY_CSV_COLUMNS = ("dimension", "group", *COUNT_FIELDS, *RATE_FIELDS, *PERCENTILE_FIELDS)


def write_summary_csv(summary: Summary, path: Path) -> None:
    """Write every group (overall, per ISP, per tag) as one CSV table with a ``dimension`` column."""
    rows: list[tuple[str, GroupSummary]] = [("overall", summary.overall)]
    rows += [("isp", group) for group in summary.by_isp]
    rows += [(f"tag:{tag}", group) for tag, groups in summary.by_tag.items() for group in groups]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(SUMMARY_CSV_COLUMNS)
        for dimension, group in rows:
            values = group.as_dict()
            writer.writerow(
                [dimension, group.name, *(_cell(values[name]) for name in SUMMARY_CSV_COLUMNS[2:])]
            )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_rate(value: float | None) -> str:
    """A rate as a percentage with two decimals, or ``-`` when undefined."""
    return "-" if value is None else f"{value * 100:.2f}%"


def format_seconds(value: float | None) -> str:
    """A duration in the largest unit that keeps it readable (``850 ms``, ``12.4 s``, ``3.1 min``)."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def summary_text(summary: Summary) -> str:
    """A few lines for a terminal or a task log: totals, rates, delivery time and the worst ISPs."""
    o = summary.overall
    lines = [
        f"Messages {o.messages}, sends {o.sends} ({o.untracked} untracked: multi-recipient)",
        f"Delivered {o.delivered} ({format_rate(o.delivery_rate)}), bounced {o.bounced} "
        f"({format_rate(o.bounce_rate)}: {o.bounced_permanent} permanent, {o.bounced_transient} transient, "
        f"{o.bounced_undetermined} undetermined), "
        f"complained {o.complained} ({format_rate(o.complaint_rate)})",
        f"Opened {o.opened} ({format_rate(o.open_rate)} of delivered), clicked {o.clicked} "
        f"({format_rate(o.click_rate)}), delayed {o.delayed}, failed {o.failed}, pending {o.pending}",
        f"Delivery time p50 {format_seconds(o.delivery_p50_s)}, p90 {format_seconds(o.delivery_p90_s)}, "
        f"p99 {format_seconds(o.delivery_p99_s)}",
    ]
    for group in summary.by_isp:
        lines.append(
            f"  {group.name:<12} sends {group.sends:>5}  delivered {format_rate(group.delivery_rate):>7}  "
            f"bounced {format_rate(group.bounce_rate):>7}  complained {format_rate(group.complaint_rate):>6}"
        )
    if summary.without_insights:
        lines.append(f"No insights for {len(summary.without_insights)} message ID(s)")
    return "\n".join(lines)
