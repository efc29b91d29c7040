"""SesInsightsHook: GetMessageInsights, paced to the API's limit, with JSON-safe answers."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Iterator
from copy import deepcopy
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from airflow_provider_sesinsights.exceptions import (
    MessageInsightsBadRequest,
    MessageInsightsNotFound,
    MessageInsightsUnavailable,
)
from airflow_provider_sesinsights.insights import json_safe
from airflow_provider_sesinsights.message_ids import validate_message_id, validate_message_ids
from airflow_provider_sesinsights.pacing import DEFAULT_INTERVAL, Pacer, pacer_for
from airflow_provider_sesinsights.retries import (
    NO_RETRIES,
    IncompleteAnswer,
    RetryPolicy,
    error_code,
    is_retryable,
)

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client

MAX_CALLS_PER_SECOND_KEY = "max_calls_per_second"
"""Key of the connection's ``service_config.sesv2`` extra that overrides the pacing rate."""


class SesInsightsHook(AwsBaseHook):
    """Read Amazon SES v2 message insights (``GetMessageInsights``), paced and retried.

    Every call waits for a slot of the process-wide pacer for its (region, endpoint), so all hooks,
    threads and triggers of a process together stay within one call per second (the API's limit
    per account and region). Pacing is per region rather than per credentials: two access keys
    can belong to one account, and telling them apart would cost an STS call; the pool
    (``SES_INSIGHTS_POOL``) serializes tasks across processes.

    Throttling (429), 5xx answers, dropped connections and timeouts are retried with capped
    exponential backoff, each retry paced like a first call, unless ``botocore_config`` (or the
    connection's ``config_kwargs``) sets ``retries``, in which case botocore's retries apply.

    Additional arguments (``aws_conn_id``, ``region_name``, ``verify``, ``config``) are passed to
    :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`. The endpoint follows boto3's
    rules (``endpoint_url`` in the connection, ``AWS_ENDPOINT_URL_SESV2``), so a local emulator
    needs no special case here.

    :param max_calls_per_second: pacing rate; default 1.0, the API's limit, or the connection
        extra ``{"service_config": {"sesv2": {"max_calls_per_second": ...}}}``. Raise it only for
        an emulator with a lifted limit.
    :param retry_policy: attempts and backoff for retryable failures.
    """

    _pacer: Pacer

    def __init__(
        self,
        *args: Any,
        max_calls_per_second: float | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["client_type"] = "sesv2"
        super().__init__(*args, **kwargs)
        if max_calls_per_second is not None:
            check_max_calls_per_second(max_calls_per_second)
        self._max_calls_per_second = max_calls_per_second
        self._retry_policy = retry_policy or RetryPolicy()

    @property
    def retries_by_botocore(self) -> bool:
        """Whether the user configured botocore retries, which then replace the hook's own."""
        return getattr(self.config, "retries", None) is not None

    @property
    def retry_policy(self) -> RetryPolicy:
        """The hook's own retry policy; a single attempt when botocore retries instead."""
        return NO_RETRIES if self.retries_by_botocore else self._retry_policy

    @cached_property
    def conn(self) -> SESV2Client:
        """The boto3 ``sesv2`` client; botocore's own retries off unless the user set them.

        Every GetMessageInsights request the client sends passes the pacer first (botocore's
        ``before-send`` event), so real sends keep their spacing, retries included.
        """
        config = deepcopy(self.config)
        if not self.retries_by_botocore:
            config = config.merge(Config(retries={"total_max_attempts": 1}))
        client = cast("SESV2Client", self.get_client_type(region_name=self.region_name, config=config))
        pacer = pacer_for(
            (client.meta.region_name, client.meta.endpoint_url), 1.0 / self.max_calls_per_second
        )
        client.meta.events.register("before-send.sesv2.GetMessageInsights", lambda **_: pacer.before_send())
        self._pacer = pacer
        return client

    @property
    def max_calls_per_second(self) -> float:
        """The pacing rate: the argument, else the connection's service config, else 1.0."""
        if self._max_calls_per_second is not None:
            return self._max_calls_per_second
        configured = self.service_config.get(MAX_CALLS_PER_SECOND_KEY)
        if configured is None:
            return 1.0 / DEFAULT_INTERVAL
        return check_max_calls_per_second(configured, f"service_config.sesv2.{MAX_CALLS_PER_SECOND_KEY}")

    @property
    def pacer(self) -> Pacer:
        """The process-wide pacer shared by every client of the same region and endpoint."""
        _ = self.conn  # chosen with the client: it depends on the resolved region and endpoint
        return self._pacer

    def get_message_insights(self, message_id: str) -> dict[str, Any]:
        """Return the insights of one message, JSON-safe (see :func:`~.insights.json_safe`).

        :param message_id: the ``MessageId`` that SES returned when the email was sent.
        :raises InvalidMessageIdError: before any call, if the ID cannot be valid.
        :raises MessageInsightsNotFound: SES does not know the ID (404).
        :raises MessageInsightsBadRequest: SES rejected the request (400).
        :raises MessageInsightsUnavailable: retryable failures outlasted the retry policy.
        """
        message_id = validate_message_id(message_id)
        failures = 0
        while True:
            self.pacer.wait()
            try:
                response = _complete(self.conn.get_message_insights(MessageId=message_id), message_id)
            except Exception as exc:
                failures += 1
                time.sleep(self._backoff_or_raise(exc, message_id, failures))
            else:
                return json_safe(response)

    async def get_message_insights_async(self, message_id: str) -> dict[str, Any]:
        """Async form of :meth:`get_message_insights`, paced against the same budget.

        The boto3 call runs in a worker thread (``asyncio.to_thread``), so the event loop never
        blocks and no async AWS library (which would pin an older botocore) is needed.
        """
        message_id = validate_message_id(message_id)
        client = await asyncio.to_thread(lambda: self.conn)
        pacer = await asyncio.to_thread(lambda: self.pacer)
        failures = 0
        while True:
            await pacer.wait_async()
            try:
                response = _complete(
                    await asyncio.to_thread(client.get_message_insights, MessageId=message_id), message_id
                )
            except Exception as exc:
                failures += 1
                await asyncio.sleep(self._backoff_or_raise(exc, message_id, failures))
            else:
                return json_safe(response)

    def iter_message_insights(
        self, message_ids: Iterable[str]
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Fetch many messages in order, yielding ``(message_id, insights)`` as each arrives.

        Every ID is validated before the first call. A message SES does not know yields
        ``None`` instead of raising, so one bad ID does not sink a batch; other errors raise,
        after everything yielded so far has been handed to the caller.
        """
        for message_id in validate_message_ids(message_ids):
            try:
                yield message_id, self.get_message_insights(message_id)
            except MessageInsightsNotFound:
                self.log.warning("No insights for message ID %r (not found); skipped.", message_id)
                yield message_id, None

    def hold_pacing(self) -> None:
        """Wait until this process's last call is one interval old; a task calls this at its end so
        the next task in the pool slot starts paced. Does nothing if no client was ever made."""
        if "_pacer" in self.__dict__:
            self._pacer.hold()

    def _backoff_or_raise(self, exc: Exception, message_id: str, failures: int) -> float:
        """Map a failed call to the provider's errors, or return the backoff before a retry."""
        code = error_code(exc)
        if code == "NotFoundException":
            raise MessageInsightsNotFound(message_id, str(exc)) from exc
        if code == "BadRequestException":
            raise MessageInsightsBadRequest(message_id, str(exc)) from exc
        if not is_retryable(exc):
            raise exc
        policy = self.retry_policy
        if failures >= policy.max_attempts:
            raise MessageInsightsUnavailable(message_id, failures, exc) from exc
        delay = policy.backoff(failures)
        self.log.warning(
            "GetMessageInsights for %r failed (%s: %s); retry %d of %d in %.1f s.",
            message_id,
            type(exc).__name__,
            code or exc,
            failures,
            policy.max_attempts - 1,
            delay,
        )
        return delay


def _complete(response: Any, message_id: str) -> Any:
    if "MessageId" not in response:
        raise IncompleteAnswer(f"GetMessageInsights answer for {message_id!r} has no MessageId")
    return response


def check_max_calls_per_second(value: object, name: str = "max_calls_per_second") -> float:
    """Return ``value`` as a pacing rate, or raise ``ValueError`` naming it: a finite number above 0
    (infinity would turn pacing off without saying so)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number of calls per second above 0, got {value!r}")
    return float(value)
