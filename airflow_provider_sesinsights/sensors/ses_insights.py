"""SesMessageEventSensor: wait until SES reports an event (DELIVERY, BOUNCE, ...) for a message."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import PokeReturnValue

from airflow_provider_sesinsights.event_wait import (
    DEFAULT_TARGET_EVENTS,
    FAILED,
    MET,
    NOT_FOUND_TIMEOUT,
    TIMED_OUT,
    UNREACHABLE,
    EventWait,
    Verdict,
    check_events,
    event_names,
    judge,
)
from airflow_provider_sesinsights.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    InvalidMessageIdError,
    MessageInsightsNotFound,
)
from airflow_provider_sesinsights.hooks.ses_insights import SesInsightsHook
from airflow_provider_sesinsights.insights import DEFAULT_FAILURE_EVENTS
from airflow_provider_sesinsights.message_ids import is_template, validate_message_id

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_POKE_INTERVAL = 30.0
"""Seconds between checks: the API allows one call per second for the whole account, shared by
every sensor, operator and trigger, so a sensor should use a small share of it."""

RESCHEDULE_SAFE_INTERVAL = 10.0
"""Shortest wait between reschedule-mode pokes known to be reliable: Airflow 3.3's scheduler often
marks a sensor rescheduled every 5 s or less failed after a late executor event
(apache/airflow#71172); 10 s showed no failures."""

TRIGGER_TIMEOUT_GRACE = 30.0
"""Seconds added to the deferral timeout the scheduler enforces. The trigger ends the wait at the
deadline itself (with the last answer in its message); the scheduler's timeout is the backstop for
a triggerer that is down, and the grace keeps the two from racing."""


def _optional_seconds(value: timedelta | float | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"{name} must be a timedelta or a number of seconds >= 0, got {value!r}")
    return float(seconds)


class SesMessageEventSensor(AwsBaseSensor[SesInsightsHook]):
    """Wait until SES reports one of ``target_events`` for a message; return its insights.

    The return value (XCom) is the message's insights, JSON-safe (see
    :func:`~airflow_provider_sesinsights.insights.json_safe`), so downstream tasks can branch on
    what happened (:func:`~airflow_provider_sesinsights.insights.outcome`).

    "Not found" means "not yet": insights can lag the send, so the sensor keeps waiting, for at
    most ``not_found_timeout`` if set. It fails at once, without retries, when a failure event
    occurred (the message will never be delivered) or when the message has several recipients and
    every target is an event SES reports only for single-recipient messages.

    Run it in the rate-limit pool (``pool=SES_INSIGHTS_POOL``). ``mode="poke"`` holds a worker and
    the pool slot for the whole wait; ``mode="reschedule"`` frees both between pokes (keep
    ``poke_interval`` at 10 s or more there: apache/airflow#71172); ``deferrable=True`` hands the
    whole wait, first check included, to :class:`~airflow_provider_sesinsights.triggers.
    ses_insights.SesMessageEventTrigger`, which paces itself against every other trigger of its
    triggerer (``deferrable`` takes precedence over ``mode``). ``timeout``, ``soft_fail``,
    ``exponential_backoff`` and ``max_wait`` work as for any Airflow sensor, in all three modes.

    :param message_id: the ``MessageId`` SES returned for the email (templated).
    :param target_events: SES event types that end the wait successfully, any one of them
        (templated; a string is read as comma-separated names). Default DELIVERY and BOUNCE:
        "did the email reach the recipient's mail server, either way?".
    :param failure_events: event types that fail the wait at once (templated). Default REJECT and
        RENDERING_FAILURE; add BOUNCE when only DELIVERY counts.
    :param not_found_timeout: how long (seconds or timedelta) the message may stay unknown to SES
        before the sensor times out; ``None`` waits until ``timeout``.
    :param poke_interval: seconds (or timedelta) between checks; default 30, since one call per
        second is the budget of the whole account.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.

    Connection parameters (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``) are
    those of :class:`~airflow.providers.amazon.aws.sensors.base_aws.AwsBaseSensor`.
    """

    aws_hook_class = SesInsightsHook
    template_fields: Sequence[str] = aws_template_fields("message_id", "target_events", "failure_events")

    def __init__(
        self,
        *,
        message_id: str,
        target_events: str | Iterable[str] = DEFAULT_TARGET_EVENTS,
        failure_events: str | Iterable[str] = DEFAULT_FAILURE_EVENTS,
        not_found_timeout: timedelta | float | None = None,
        poke_interval: timedelta | float = DEFAULT_POKE_INTERVAL,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.message_id = message_id
        self.target_events = target_events
        self.failure_events = failure_events
        self.not_found_timeout = _optional_seconds(not_found_timeout, "not_found_timeout")
        self.deferrable = deferrable
        self._wait: EventWait | None = None
        self._check_literal_arguments()
        self._warn_about_short_reschedules()

    def _check_literal_arguments(self) -> None:
        """Reject bad values that are not templates now, at DAG parse time."""
        if isinstance(self.message_id, str) and not is_template(self.message_id):
            validate_message_id(self.message_id)
        if not (is_template(self.target_events) or is_template(self.failure_events)):
            check_events(
                event_names(self.target_events, "target_events"),
                event_names(self.failure_events, "failure_events"),
            )

    def _warn_about_short_reschedules(self) -> None:
        if not self.reschedule or self.deferrable:
            return
        shortest = self.poke_interval
        if self.exponential_backoff:
            shortest = max(int(self.poke_interval / 2), 1)
        if self.max_wait is not None:
            shortest = min(shortest, self.max_wait.total_seconds())
        if shortest < RESCHEDULE_SAFE_INTERVAL:
            warnings.warn(
                f"{self.task_id}: reschedule-mode sensors that wait 5 s or less between pokes are often "
                "marked failed by Airflow 3.3's scheduler (apache/airflow#71172), and this one may wait "
                f"{shortest:g} s; use a poke_interval of {RESCHEDULE_SAFE_INTERVAL:g} s or more "
                "(twice that with exponential_backoff), or deferrable=True",
                UserWarning,
                stacklevel=2,
            )

    def execute(self, context: Context) -> Any:
        """Poke (``poke``/``reschedule`` modes), or defer at once (``deferrable``).

        A deferrable sensor makes no call from the worker: the triggerer's pacer cannot see a
        worker's calls, so a worker check would collide with the triggers' calls (429s), and a
        busy triggerer would starve it. Every check happens in the trigger.
        """
        if not self.deferrable:
            return super().execute(context)
        # Imported here, not at the top: the trigger module loads Airflow's trigger base, which a
        # DAG file that only parses (or a sensor in poke mode) does not need.
        from airflow_provider_sesinsights.triggers.ses_insights import SesMessageEventTrigger

        wait = self._current_wait(context)
        self.log.info(
            "Waiting for %s of SES message %r; deferring to the triggerer.",
            wait.target_events,
            wait.message_id,
        )
        self.defer(
            trigger=SesMessageEventTrigger(
                wait=wait,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=wait.deadline - time.time() + TRIGGER_TIMEOUT_GRACE),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check once: done with the insights as XCom, not yet, or raise (see :meth:`conclude`)."""
        verdict = self._check(self._current_wait(context))
        if not verdict.is_final:
            self.log.info("%s", verdict.reason)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.conclude(verdict))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the insights or raise, as :meth:`poke` would."""
        return self.conclude(Verdict.from_dict(validate_execute_complete_event(event)))

    def conclude(self, verdict: Verdict) -> dict[str, Any] | None:
        """Turn a final verdict into the sensor's result.

        :return: the insights when a target event occurred.
        :raises AirflowFailException: a failure event, or targets a multi-recipient message cannot
            have (retrying cannot change the answer).
        :raises AirflowSensorTimeout: the timeout, or ``not_found_timeout``, ran out.
        :raises AirflowException: the trigger could not check the message.
        """
        if verdict.state == MET:
            self.log.info("%s", verdict.reason)
            return verdict.insights
        if verdict.state in (FAILED, UNREACHABLE):
            raise AirflowFailException(verdict.reason)
        if verdict.state in (NOT_FOUND_TIMEOUT, TIMED_OUT):
            raise AirflowSensorTimeout(verdict.reason)
        raise AirflowException(verdict.reason)

    def _current_wait(self, context: Context) -> EventWait:
        """The wait of this try, described once per process from the rendered arguments."""
        if self._wait is None:
            started_at = time.time()
            if self.reschedule and not self.deferrable:
                first_poke: datetime | str | None = context["ti"].get_first_reschedule_date(context)
                if isinstance(first_poke, str):  # Airflow 3.0's dag.test() passes it on as text
                    first_poke = datetime.fromisoformat(first_poke)
                if first_poke is not None:
                    started_at = first_poke.timestamp()
            try:
                self._wait = self._describe_wait(started_at)
            except InvalidMessageIdError as exc:
                raise AirflowFailException(f"message_id: {exc}") from exc
        return self._wait

    def _describe_wait(self, started_at: float) -> EventWait:
        return EventWait(
            message_id=self.message_id,
            started_at=started_at,
            timeout=self.timeout,
            target_events=event_names(self.target_events, "target_events"),
            failure_events=event_names(self.failure_events, "failure_events"),
            not_found_timeout=self.not_found_timeout,
            poke_interval=self.poke_interval,
            exponential_backoff=self.exponential_backoff,
            max_wait=self.max_wait.total_seconds() if self.max_wait is not None else None,
        )

    def _check(self, wait: EventWait) -> Verdict:
        """One GetMessageInsights call, judged; the pacing hold keeps the pool's next task paced."""
        try:
            answer: dict[str, Any] | None = self.hook.get_message_insights(wait.message_id)
        except MessageInsightsNotFound:
            answer = None
        finally:
            self.hook.hold_pacing()
        return judge(wait, answer, time.time())
