"""The wait for an SES message event, and what one GetMessageInsights answer means for it.

:class:`EventWait` describes one wait (which message, which events end it, when it gives up). The
sensor builds it once and hands it to the trigger as a plain dict, so poke, reschedule and
deferrable modes wait for the same thing. :func:`judge` turns one answer into a :class:`Verdict`;
the sensor and the trigger both call it, so the modes cannot disagree about what happened.

No Airflow or AWS imports: everything here is plain data and pure functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_sesinsights import insights
from airflow_provider_sesinsights.message_ids import validate_message_id

DEFAULT_TARGET_EVENTS = ("DELIVERY", "BOUNCE")
"""Events that answer "did the email arrive?" either way."""

MET = "met"
"""A target event occurred: the wait succeeded."""
FAILED = "failed"
"""A failure event occurred: the message will never be delivered."""
UNREACHABLE = "unreachable"
"""The message has several recipients, so SES will never report any of the targets."""
NOT_FOUND_TIMEOUT = "not_found_timeout"
"""SES still did not know the message when ``not_found_timeout`` ran out."""
TIMED_OUT = "timed_out"
"""The wait's ``timeout`` ran out (decided by the trigger; the sensor base decides it in poke modes)."""
ERROR = "error"
"""The API kept failing (after the hook's retries) while the trigger waited."""
WAITING = "waiting"
"""Nothing decisive yet: keep waiting."""

VERDICT_STATES = (MET, FAILED, UNREACHABLE, NOT_FOUND_TIMEOUT, TIMED_OUT, ERROR, WAITING)


def event_names(value: str | Iterable[str], name: str) -> tuple[str, ...]:
    """Read a list of SES event types, or raise ``ValueError`` naming the parameter and the value.

    A string is read as comma-separated names (``"DELIVERY, BOUNCE"``), so a Jinja template can
    render the list; case is ignored. Duplicates are dropped, the first occurrence keeps its place.

    :param value: the event types as given by the DAG author.
    :param name: the parameter's name, for the error message.
    """
    items = value.split(",") if isinstance(value, str) else value
    try:
        raw = list(items)
    except TypeError:
        raise ValueError(f"{name} must be a list of SES event types, got {value!r}") from None
    names: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(f"{name} must contain SES event type names, got {item!r} in {value!r}")
        event_type = item.strip().upper()
        if event_type not in insights.EVENT_TYPES:
            raise ValueError(
                f"{name} contains {item!r}, which is not an SES event type; "
                f"expected any of {', '.join(insights.EVENT_TYPES)}"
            )
        if event_type not in names:
            names.append(event_type)
    return tuple(names)


def check_events(target_events: tuple[str, ...], failure_events: tuple[str, ...]) -> None:
    """Raise ``ValueError`` if the targets are empty or also listed as failures."""
    if not target_events:
        raise ValueError("target_events must name at least one SES event type, got none")
    overlap = [event for event in target_events if event in failure_events]
    if overlap:
        raise ValueError(
            f"{', '.join(overlap)} cannot be both a target and a failure event "
            f"(target_events={list(target_events)}, failure_events={list(failure_events)})"
        )


def _seconds(value: float | None, name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class EventWait:
    """What a sensor waits for and until when; JSON-safe through :meth:`to_dict`.

    Times are epoch seconds (wall clock), because a deferred wait may resume in another process.

    :param message_id: the SES ``MessageId`` to watch.
    :param started_at: when the wait began: the first poke of this try, across reschedules.
    :param timeout: seconds after ``started_at`` at which the wait gives up.
    :param target_events: event types that end the wait successfully (any one of them).
    :param failure_events: event types that end it at once as a failure.
    :param not_found_timeout: seconds after ``started_at`` after which a message SES still does not
        know fails the wait; ``None`` to keep waiting for it until ``timeout``.
    :param poke_interval: seconds between checks.
    :param exponential_backoff: lengthen the interval after each check, as Airflow sensors do.
    :param max_wait: cap in seconds on one interval when backing off; ``None`` for no cap.
    """

    message_id: str
    started_at: float
    timeout: float
    target_events: tuple[str, ...] = DEFAULT_TARGET_EVENTS
    failure_events: tuple[str, ...] = insights.DEFAULT_FAILURE_EVENTS
    not_found_timeout: float | None = None
    poke_interval: float = 30.0
    exponential_backoff: bool = False
    max_wait: float | None = None

    def __post_init__(self) -> None:
        validate_message_id(self.message_id)
        targets = event_names(self.target_events, "target_events")
        failures = event_names(self.failure_events, "failure_events")
        check_events(targets, failures)
        object.__setattr__(self, "target_events", targets)
        object.__setattr__(self, "failure_events", failures)
        for name in ("started_at", "timeout", "poke_interval"):
            object.__setattr__(self, name, _seconds(getattr(self, name), name))
        for name in ("not_found_timeout", "max_wait"):
            object.__setattr__(self, name, _seconds(getattr(self, name), name, optional=True))

    @property
    def deadline(self) -> float:
        """When the wait times out (epoch seconds)."""
        return self.started_at + self.timeout

    @property
    def not_found_deadline(self) -> float | None:
        """When a message SES still does not know fails the wait, or ``None``."""
        if self.not_found_timeout is None:
            return None
        return self.started_at + self.not_found_timeout

    def to_dict(self) -> dict[str, Any]:
        """The wait as a dict of JSON values (lists, not tuples), for trigger kwargs."""
        data = asdict(self)
        data["target_events"] = list(self.target_events)
        data["failure_events"] = list(self.failure_events)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventWait:
        """Rebuild a wait from :meth:`to_dict`'s output; unknown keys raise ``TypeError``."""
        return cls(**data)


@dataclass(frozen=True)
class Verdict:
    """What a wait concluded, or that it goes on.

    :param state: one of :data:`VERDICT_STATES`.
    :param reason: one sentence for the task log or the error, naming the message and the cause.
    :param insights: the message's insights (JSON-safe) when SES answered, else ``None``.
    :param events: the target events that occurred (``met``) or the failure events (``failed``).
    """

    state: str
    reason: str
    insights: dict[str, Any] | None = None
    events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.state not in VERDICT_STATES:
            raise ValueError(f"unknown verdict state {self.state!r}; expected one of {VERDICT_STATES}")
        object.__setattr__(self, "events", tuple(self.events))

    @property
    def is_final(self) -> bool:
        """Whether the wait is over (anything but ``waiting``)."""
        return self.state != WAITING

    def to_dict(self) -> dict[str, Any]:
        """The verdict as a dict of JSON values, for a ``TriggerEvent`` payload."""
        return {
            "state": self.state,
            "reason": self.reason,
            "insights": self.insights,
            "events": list(self.events),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Rebuild a verdict from :meth:`to_dict`'s output; unknown keys raise ``TypeError``."""
        return cls(**data)


def judge(wait: EventWait, answer: Mapping[str, Any] | None, now: float) -> Verdict:
    """Decide what one GetMessageInsights answer means for ``wait``.

    In order: a target event ends the wait successfully; else a failure event fails it; else a
    message with several recipients fails it if every target is one SES reports only for single
    recipients; else the wait goes on. ``None`` (SES does not know the message) means "not yet",
    unless ``not_found_timeout`` has run out. The overall ``timeout`` is not judged here: the
    sensor base enforces it in poke and reschedule modes, the trigger in deferrable mode.

    :param wait: the wait being judged.
    :param answer: the JSON-safe insights, or ``None`` when SES answered "not found".
    :param now: the current time in epoch seconds.
    """
    message = f"SES message {wait.message_id!r}"
    targets = ", ".join(wait.target_events)
    if answer is None:
        limit = wait.not_found_deadline
        if limit is not None and now > limit:
            return Verdict(
                NOT_FOUND_TIMEOUT,
                f"SES still has no insights for message ID {wait.message_id!r} "
                f"{now - wait.started_at:.0f} s after the wait began (not_found_timeout="
                f"{wait.not_found_timeout:g} s): check the ID, the AWS account and the region",
            )
        return Verdict(WAITING, f"SES has no insights for message ID {wait.message_id!r} yet")
    found = dict(answer)
    matched = insights.matched_events(found, wait.target_events)
    if matched:
        return Verdict(MET, f"{message}: {', '.join(matched)} occurred", found, tuple(matched))
    failed = insights.failure_events(found, wait.failure_events)
    if failed:
        where = sorted(
            {str(event["Destination"]) for kind in failed for event in insights.events_of_type(found, kind)}
        )
        return Verdict(
            FAILED,
            f"{message} will never be delivered: {', '.join(failed)} occurred "
            f"(for {', '.join(where)}; failure_events={list(wait.failure_events)})",
            found,
            tuple(failed),
        )
    if insights.targets_unreachable(found, wait.target_events):
        return Verdict(
            UNREACHABLE,
            f"{message} has {insights.recipient_count(found)} recipients, and SES reports "
            f"{targets} only for messages sent to a single recipient, so this wait could never end; "
            "wait for SEND instead, or send one message per recipient",
            found,
        )
    seen = ", ".join(sorted(insights.event_types(found))) or "no events"
    return Verdict(WAITING, f"{message}: no {targets} yet (seen: {seen})", found)


def timed_out(wait: EventWait, last: Verdict | None, now: float) -> Verdict:
    """The verdict of a wait whose ``timeout`` ran out; ``last`` is the latest ``waiting`` verdict."""
    seen = f"; last check: {last.reason}" if last is not None else "; no check completed"
    return Verdict(
        TIMED_OUT,
        f"Sensor has timed out: no {', '.join(wait.target_events)} for SES message "
        f"{wait.message_id!r} within timeout={wait.timeout:g} s "
        f"({now - wait.started_at:.0f} s since the wait began){seen}",
        last.insights if last is not None else None,
    )


def failed_to_check(wait: EventWait, error: BaseException) -> Verdict:
    """The verdict of a wait whose check raised ``error`` (after the hook's own retries)."""
    return Verdict(
        ERROR,
        f"Checking SES message {wait.message_id!r} failed: {type(error).__name__}: {error}",
    )


def next_poke_interval(wait: EventWait, pokes_done: int, now: float) -> float:
    """Seconds to sleep before the next check, never past the deadline.

    Without backoff this is ``poke_interval``. With ``exponential_backoff`` it follows the shape of
    Airflow's sensor backoff (the base doubles with each check, starting at half the interval, plus
    a deterministic jitter of up to the base), capped by ``max_wait``.

    :param wait: the wait.
    :param pokes_done: checks made so far (at least 1).
    :param now: the current time in epoch seconds.
    """
    interval = wait.poke_interval
    if wait.exponential_backoff:
        base = max(int(wait.poke_interval * 2 ** min(pokes_done - 2, 40)), 1)
        seed = f"{wait.message_id}#{wait.started_at}#{pokes_done}".encode()
        jitter = int(hashlib.sha1(seed, usedforsecurity=False).hexdigest(), 16) % base
        interval = float(base + jitter)
        if wait.max_wait is not None:
            interval = min(interval, wait.max_wait)
    return max(0.0, min(interval, wait.deadline - now))
