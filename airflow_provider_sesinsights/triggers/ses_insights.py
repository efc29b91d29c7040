"""SesMessageEventTrigger: the deferred form of :class:`~..sensors.ses_insights.SesMessageEventSensor`.

A deferred task holds no pool slot, so the pool cannot pace triggers. Instead every trigger in one
triggerer process draws from the hook's process-wide pacer (one per region and endpoint): a
hundred deferred sensors together still make at most one call per second, and since slots are
handed out first come, first served and each trigger asks again only after its own call, they are
served round robin. Pacing is per process: several triggerer replicas (or a triggerer beside
workers running poke-mode sensors) each have their own budget, and the hook's throttling retries
absorb the overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sesinsights.event_wait import (
    EventWait,
    Verdict,
    failed_to_check,
    judge,
    next_poke_interval,
    timed_out,
)
from airflow_provider_sesinsights.exceptions import MessageInsightsNotFound
from airflow_provider_sesinsights.hooks.ses_insights import SesInsightsHook

_shared_hooks: dict[tuple[Any, ...], tuple[str | None, SesInsightsHook]] = {}
_shared_hooks_lock = threading.Lock()


def _connection_fingerprint(aws_conn_id: str | None) -> str | None:
    """A digest of the connection as stored now, so an edited connection gets a new hook."""
    if not aws_conn_id:
        return None
    try:
        connection = SesInsightsHook.get_connection(aws_conn_id)
    except AirflowNotFoundException:
        return None  # the hook falls back to boto3's own credential chain, as it would anyway
    return hashlib.sha256(connection.get_uri().encode()).hexdigest()


def shared_hook(
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None,
    botocore_config: dict[str, Any] | None,
) -> SesInsightsHook:
    """Return a ready hook (connection read, client made) shared by triggers with these parameters.

    Each hook makes its own boto3 session and client, about 0.35 s of CPU and 9 MiB (measured with
    the amazon provider 9.39); a hundred deferred sensors on one connection share one instead of
    making a hundred (boto3 clients are safe to use from several threads). The connection is read
    again for each trigger, and a hook made from an older version of it is replaced, so edited
    credentials or endpoints apply to the next trigger.
    Blocking: call it through ``asyncio.to_thread``.
    """
    key = (aws_conn_id, region_name, json.dumps(verify), json.dumps(botocore_config, sort_keys=True))
    fingerprint = _connection_fingerprint(aws_conn_id)
    with _shared_hooks_lock:
        entry = _shared_hooks.get(key)
        if entry is not None and entry[0] == fingerprint:
            return entry[1]
        hook = SesInsightsHook(
            aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=botocore_config
        )
        _ = hook.pacer  # makes the client and joins the process-wide pacer, once per key
        _shared_hooks[key] = (fingerprint, hook)
        return hook


class SesMessageEventTrigger(BaseTrigger):
    """Wait in the triggerer until an SES message event occurs; fire one event with the verdict.

    The event's payload is :meth:`.Verdict.to_dict` (state, reason, insights, events), judged by
    the same :func:`~.event_wait.judge` as the sensor's poke. The trigger enforces the wait's
    timeout itself: it sleeps and waits for pacer slots only up to the deadline.

    :param wait: what to wait for, an :class:`~.event_wait.EventWait` or its ``to_dict()`` form.
    :param aws_conn_id: see :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`, as
        are ``region_name``, ``verify`` and ``botocore_config`` (its ``config``).
    """

    def __init__(
        self,
        *,
        wait: EventWait | Mapping[str, Any],
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.wait = wait if isinstance(wait, EventWait) else EventWait.from_dict(wait)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (plain JSON values) to re-create the trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "wait": self.wait.to_dict(),
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, judge and sleep until the wait ends; yield exactly one event."""
        verdict = await self.watch()
        self.log.info("%s", verdict.reason)
        yield TriggerEvent(verdict.to_dict())

    async def watch(self) -> Verdict:
        """Run the wait to its final :class:`~.event_wait.Verdict`."""
        wait = self.wait
        try:
            hook = await asyncio.to_thread(
                shared_hook, self.aws_conn_id, self.region_name, self.verify, self.botocore_config
            )
        except Exception as exc:
            return failed_to_check(wait, exc)
        last: Verdict | None = None
        pokes = 0
        pause = 0.0
        while True:
            await asyncio.sleep(pause)
            remaining = wait.deadline - time.time()
            # A slot that only comes after the deadline would be wasted on an answer nobody reads.
            if remaining <= 0 or hook.pacer.seconds_until_free() >= remaining:
                return timed_out(wait, last, time.time())
            try:
                answer = await asyncio.wait_for(self._fetch(hook), remaining)
            except asyncio.TimeoutError:
                return timed_out(wait, last, time.time())
            except Exception as exc:
                return failed_to_check(wait, exc)
            pokes += 1
            verdict = judge(wait, answer, time.time())
            if verdict.is_final:
                return verdict
            pause = next_poke_interval(wait, pokes, time.time())
            self.log.info("%s; next check in %.1f s", verdict.reason, pause)
            last = verdict

    async def _fetch(self, hook: SesInsightsHook) -> dict[str, Any] | None:
        try:
            return await hook.get_message_insights_async(self.wait.message_id)
        except MessageInsightsNotFound:
            return None
