"""GetMessageInsightsOperator: the insights of one message or of a batch, to XCom or to S3."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowException, AirflowNotFoundException
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import Asset

from airflow_provider_sesinsights.batch.destination import S3Destination
from airflow_provider_sesinsights.exceptions import AirflowFailException, InvalidMessageIdError
from airflow_provider_sesinsights.hooks.ses_insights import SesInsightsHook, check_max_calls_per_second
from airflow_provider_sesinsights.message_ids import (
    is_template,
    shown_value,
    validate_message_id,
    validate_message_ids,
)

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import Context

    from airflow_provider_sesinsights.batch.checkpoint import S3Checkpoint
    from airflow_provider_sesinsights.batch.manifest import BatchSummary
    from airflow_provider_sesinsights.batch.plan import BatchPlan
    from airflow_provider_sesinsights.batch.spool import InsightsSpool

NOT_FOUND_XCOM_KEY = "not_found_message_ids"
"""XCom key under which a batch pushes the IDs SES had no insights for (a list, maybe empty)."""

ON_NOT_FOUND_CHOICES = ("skip", "fail")

DEFAULT_MAX_XCOM_MESSAGES = 100
"""Unique messages a batch may return through XCom (about 100 KB); larger batches go to S3."""


class _Default(Enum):
    SAME_AS_SES = "the SES connection"


def _is_literal(value: object) -> bool:
    return value is None or (isinstance(value, str) and not is_template(value))


def _rendered_message_ids(value: object) -> tuple[list[str], bool]:
    """The IDs to fetch and whether the input was a single ID rather than a list."""
    if isinstance(value, str):
        return [validate_message_id(value)], True
    if value is None or isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidMessageIdError(
            f"message_id must be an SES message ID or a list of them, got "
            f"{type(value).__name__}: {shown_value(value)}"
        )
    return validate_message_ids(list(value)), False


def _check_literal_message_ids(value: object) -> None:
    """Reject at DAG parse time what can already be seen to be wrong; templates and XComArgs wait."""
    if isinstance(value, str):
        if not is_template(value):
            validate_message_id(value)
    elif isinstance(value, list | tuple):
        if not any(is_template(item) for item in value):
            validate_message_ids(value)
        else:
            for item in value:
                if not is_template(item):
                    validate_message_id(item)
    elif value is None or isinstance(value, int | float | bytes | Mapping):
        _rendered_message_ids(value)


def _bucket_missing(s3: S3Hook, bucket: str) -> bool:
    """Whether S3 says the bucket does not exist. A refusal (403) is not taken as missing: writers
    allowed into one prefix only may not be allowed HeadBucket, and the upload will tell."""
    from botocore.exceptions import ClientError

    client: Any = s3.get_conn()  # typed loosely by the amazon provider
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchBucket"}
    return False


def _check_number(value: object, name: str, *, integer: bool = False) -> None:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = None if integer and not isinstance(value, int) else value
    if number is None or not 0 <= number < math.inf:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind} >= 0, got {value!r}")


@contextmanager
def _naming_refused_writes(uri: str) -> Iterator[None]:
    """Re-raise S3's refusal of a write (botocore names only the operation) with the object's URI."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        raise AirflowException(f"Could not write {uri}: {exc}") from exc


class GetMessageInsightsOperator(AwsBaseOperator[SesInsightsHook]):
    """Fetch the Amazon SES v2 insights (``GetMessageInsights``) of one message or a batch.

    Without an S3 destination the insights go to XCom: one dict for one ID, a list for a list of
    IDs. With ``s3_bucket``/``s3_key`` they are written to S3 and the ``s3://bucket/key`` URI goes
    to XCom: one message as a JSON document, a list as JSON Lines (one message a line).

    A list's output holds one entry per distinct ID, in input order (where each ID first appears):
    a repeated ID is fetched once and written once. Calls are paced to the API's limit (one a
    second per account and region), so a batch of N messages takes about N seconds; run the task
    in the ``SES_INSIGHTS_POOL`` pool of one slot so that no other task calls the API at the same
    time (outside the pool it works too, paced within its own process only). The task ends one
    interval after its last call, so the next task in the slot starts paced.

    A message SES does not know is skipped, logged and listed under the XCom key
    ``not_found_message_ids`` (and in the manifest for S3), unless ``on_not_found="fail"``; a
    single-message run always fails on it.

    An S3 batch streams to a temporary file, so memory stays flat, and keeps a checkpoint beside
    the destination (``<key>.checkpoint/``) while it runs: a retry of a failed batch fetches only
    what the earlier try did not get, and the final object is complete and in input order. Next
    to the data, ``<key>.manifest.json`` counts what was requested, written and not found.

    Downstream DAGs can schedule on the S3 output: when ``s3_bucket``/``s3_key`` are not
    templates and no ``outlets`` are given, the operator declares ``Asset("s3://bucket/key")`` as
    its outlet (schedule a DAG on that asset). For a templated destination, give
    ``outlets=[AssetAlias("name")]`` and schedule on that alias: the operator attaches the asset
    it wrote to every alias among its outlets. The upload is also reported to Airflow's hook
    lineage (for OpenLineage) by the amazon provider's S3Hook.

    :param message_id: an SES message ID or a list of them (templated); an upstream task's
        output works, and so does ``.partial(...).expand(message_id=...)``.
    :param s3_bucket: bucket of the S3 output (templated); leave out when ``s3_key`` is a full
        ``s3://`` URI.
    :param s3_key: key or ``s3://bucket/key`` URI of the S3 output (templated). No key: XCom.
    :param s3_conn_id: Airflow connection for S3 (templated); default: ``aws_conn_id``.
    :param replace: overwrite an existing object; if False (the default) an existing key fails
        the task before any API call.
    :param gzip: compress the output with gzip; also done whenever the key ends in ``.gz``.
    :param on_not_found: ``"skip"`` (default) or ``"fail"``: whether a batch with unknown message
        IDs fails, after fetching the rest (saved in the checkpoint for the retry).
    :param max_xcom_messages: largest batch returned through XCom; above it the task refuses
        before any API call and asks for an S3 destination.
    :param checkpoint_interval: seconds between checkpoint saves while an S3 batch runs (the
        most a killed worker loses); the checkpoint is also saved on any failure.
    :param max_calls_per_second: pacing rate passed to :class:`SesInsightsHook` (default: the
        connection's setting, else the API's limit of 1.0).

    Connection arguments (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``) are
    those of :class:`~airflow.providers.amazon.aws.operators.base_aws.AwsBaseOperator`.
    """

    aws_hook_class = SesInsightsHook
    template_fields: Sequence[str] = aws_template_fields("message_id", "s3_bucket", "s3_key", "s3_conn_id")
    ui_color = "#f3e3c3"

    def __init__(
        self,
        *,
        message_id: str | Sequence[str],
        s3_bucket: str | None = None,
        s3_key: str | None = None,
        s3_conn_id: str | _Default | None = _Default.SAME_AS_SES,
        replace: bool = False,
        gzip: bool = False,
        on_not_found: str = "skip",
        max_xcom_messages: int = DEFAULT_MAX_XCOM_MESSAGES,
        checkpoint_interval: float = 60.0,
        max_calls_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_not_found not in ON_NOT_FOUND_CHOICES:
            raise ValueError(f"on_not_found must be one of {ON_NOT_FOUND_CHOICES}, got {on_not_found!r}")
        _check_number(max_xcom_messages, "max_xcom_messages", integer=True)
        _check_number(checkpoint_interval, "checkpoint_interval")
        if max_calls_per_second is not None:
            check_max_calls_per_second(max_calls_per_second)
        _check_literal_message_ids(message_id)
        self.message_id = message_id
        self.s3_bucket = s3_bucket
        self.s3_key = s3_key
        self.s3_conn_id = self.aws_conn_id if s3_conn_id is _Default.SAME_AS_SES else s3_conn_id
        self.replace = replace
        self.gzip = gzip
        self.on_not_found = on_not_found
        self.max_xcom_messages = max_xcom_messages
        self.checkpoint_interval = checkpoint_interval
        self.max_calls_per_second = max_calls_per_second
        literal = self._literal_destination()
        if literal is not None and not self.outlets:
            self.outlets = [Asset(literal.uri)]

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "max_calls_per_second": self.max_calls_per_second}

    def _literal_destination(self) -> S3Destination | None:
        """The destination if it is known at DAG parse time (no templates); checks it as well."""
        if self.s3_key is None:
            if self.s3_bucket is not None:
                raise ValueError(f"s3_bucket {self.s3_bucket!r} was given without s3_key")
            return None
        if _is_literal(self.s3_key) and _is_literal(self.s3_bucket):
            return S3Destination.parse(self.s3_bucket, self.s3_key, gzip=self.gzip)
        return None

    def _rendered_destination(self) -> S3Destination | None:
        if self.s3_key is None and self.s3_bucket is None:
            return None
        if self.s3_key is None:
            raise ValueError(f"s3_bucket {self.s3_bucket!r} was given without s3_key")
        return S3Destination.parse(self.s3_bucket, self.s3_key, gzip=self.gzip)

    def execute(self, context: Context) -> Any:
        try:
            message_ids, single = _rendered_message_ids(self.message_id)
        except InvalidMessageIdError as exc:
            raise AirflowFailException(f"message_id: {exc}") from exc
        destination = self._rendered_destination()
        try:
            if single:
                return self._fetch_one(message_ids[0], destination, context)
            from airflow_provider_sesinsights.batch.plan import BatchPlan

            plan = BatchPlan.of(message_ids)
            if destination is None:
                return self._fetch_batch_to_xcom(plan, context)
            return self._fetch_batch_to_s3(plan, destination, context)
        finally:
            self.hook.hold_pacing()

    def _fetch_one(self, message_id: str, destination: S3Destination | None, context: Context) -> Any:
        if destination is None:
            return self.hook.get_message_insights(message_id)
        from airflow_provider_sesinsights.batch.spool import json_bytes, output_writer

        s3 = self._s3_hook()
        self._check_destination_free(s3, destination)
        insights = self.hook.get_message_insights(message_id)
        with tempfile.TemporaryFile() as raw:
            with output_writer(raw, destination.gzip) as out:
                out.write(json_bytes(insights))
            raw.seek(0)
            with _naming_refused_writes(destination.uri):
                s3.load_file_obj(raw, destination.key, destination.bucket, replace=self.replace)
        self.log.info("Wrote the insights of message %r to %s.", message_id, destination.uri)
        self._announce_asset(context, destination, {"messages": 1})
        return destination.uri

    def _fetch_batch_to_xcom(self, plan: BatchPlan, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_sesinsights.batch.manifest import BatchSummary

        unique = len(plan.unique_ids)
        if unique > self.max_xcom_messages:
            raise ValueError(
                f"{unique} unique message IDs are more than max_xcom_messages={self.max_xcom_messages}: "
                "XCom lives in the metadata database and is no place for large results. Write the "
                "batch to S3 instead (set s3_bucket and s3_key; it becomes a JSON Lines object), or "
                "raise max_xcom_messages if the results are known to be small. Nothing was fetched."
            )
        summary = BatchSummary(plan)
        self._log_start(summary, "XCom")
        results = [insights for _, insights in self._fetch(list(plan.unique_ids), summary)]
        summary.written = len(results)
        self._report(summary, context)
        self._fail_on_not_found(summary, saved_elsewhere=False)
        return results

    def _fetch_batch_to_s3(self, plan: BatchPlan, destination: S3Destination, context: Context) -> str:
        from airflow_provider_sesinsights.batch.checkpoint import S3Checkpoint
        from airflow_provider_sesinsights.batch.manifest import BatchSummary, utc_now
        from airflow_provider_sesinsights.batch.spool import InsightsSpool, json_bytes, output_writer

        s3 = self._s3_hook()
        self._check_destination_free(s3, destination)
        ti = context["ti"]
        owner = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}
        checkpoint = S3Checkpoint(s3, destination, owner, interval=self.checkpoint_interval)
        summary = BatchSummary(plan)
        with InsightsSpool() as spool:
            checkpoint.load(spool)
            remaining = plan.remaining(spool)
            summary.resumed = len(plan.unique_ids) - len(remaining)
            self._log_start(summary, destination.uri)
            try:
                for message_id, insights in self._fetch(remaining, summary):
                    spool.add(message_id, insights)
                    if checkpoint.due(spool):
                        checkpoint.save(spool)
                self._fail_on_not_found(summary, saved_elsewhere=True)
            except BaseException:
                self._save_after_failure(checkpoint, spool)
                raise
            summary.finished_at = utc_now()
            try:
                with tempfile.TemporaryFile() as raw:
                    with output_writer(raw, destination.gzip) as out:
                        summary.written = spool.write_json_lines(plan.unique_ids, out)
                    raw.seek(0)
                    manifest = summary.manifest(
                        destination.uri,
                        compression="gzip" if destination.gzip else None,
                        try_number=ti.try_number,
                    )
                    with _naming_refused_writes(f"s3://{destination.bucket}/{destination.manifest_key}"):
                        s3.load_bytes(
                            json_bytes(manifest), destination.manifest_key, destination.bucket, replace=True
                        )
                    try:
                        with _naming_refused_writes(destination.uri):
                            s3.load_file_obj(raw, destination.key, destination.bucket, replace=self.replace)
                    except BaseException:
                        self._delete_orphan_manifest(s3, destination)
                        raise
            except BaseException:
                # The output could not be written: keep what was fetched for the retry.
                self._save_after_failure(checkpoint, spool)
                raise
        self._delete_checkpoint(checkpoint)
        self._report(summary, context)
        self.log.info("Wrote %d message(s) to %s.", summary.written, destination.uri)
        self._announce_asset(context, destination, {"messages": summary.written})
        return destination.uri

    def _fetch(self, message_ids: list[str], summary: BatchSummary) -> Iterator[tuple[str, dict[str, Any]]]:
        """Fetch in order, counting into ``summary`` and logging progress; yield found messages."""
        from airflow_provider_sesinsights.batch.progress import BatchProgress

        progress = BatchProgress(len(message_ids))
        for message_id, insights in self.hook.iter_message_insights(message_ids):
            if insights is None:
                summary.not_found.append(message_id)
            else:
                summary.fetched += 1
                yield message_id, insights
            line = progress.advance()
            if line:
                self.log.info("Progress: %s.", line)
        if message_ids:
            self.log.info("Fetched: %s.", progress.describe())

    def _log_start(self, summary: BatchSummary, target: str) -> None:
        plan = summary.plan
        to_fetch = len(plan.unique_ids) - summary.resumed
        rate = self.hook.max_calls_per_second
        self.log.info(
            "Fetching the insights of %d message ID(s) to %s: %d unique (%d duplicate(s) removed), "
            "%d already in the checkpoint, %d to fetch, about %.0f s at %.2f calls/s.",
            plan.requested,
            target,
            len(plan.unique_ids),
            plan.duplicates_removed,
            summary.resumed,
            to_fetch,
            to_fetch / rate,
            rate,
        )

    def _report(self, summary: BatchSummary, context: Context) -> None:
        self.log.info("Batch done: %s.", summary.describe())
        if summary.not_found:
            self.log.warning(
                "SES had no insights for %d message ID(s): %s",
                len(summary.not_found),
                ", ".join(summary.not_found),
            )
        context["ti"].xcom_push(key=NOT_FOUND_XCOM_KEY, value=list(summary.not_found))

    def _fail_on_not_found(self, summary: BatchSummary, *, saved_elsewhere: bool) -> None:
        if not summary.not_found or self.on_not_found != "fail":
            return
        shown = ", ".join(map(repr, summary.not_found[:20]))
        more = f" and {len(summary.not_found) - 20} more" if len(summary.not_found) > 20 else ""
        kept = ""
        if saved_elsewhere:
            kept = " The messages found are kept in the checkpoint; a retry asks only for the rest."
        raise AirflowNotFoundException(
            f"SES had no insights for {len(summary.not_found)} of {len(summary.plan.unique_ids)} "
            f"message ID(s) and on_not_found='fail': {shown}{more}.{kept}"
        )

    def _s3_hook(self) -> S3Hook:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.s3_conn_id)

    def _check_destination_free(self, s3: S3Hook, destination: S3Destination) -> None:
        """Fail before any API call if the output could not be written at the end."""
        if _bucket_missing(s3, destination.bucket):
            raise AirflowException(
                f"S3 bucket {destination.bucket!r} does not exist (connection {self.s3_conn_id!r}); "
                "nothing was fetched."
            )
        if not self.replace and s3.check_for_key(destination.key, destination.bucket):
            raise AirflowException(
                f"{destination.uri} already exists and replace=False; nothing was fetched. Set "
                "replace=True to overwrite it, or choose another s3_key."
            )

    def _save_after_failure(self, checkpoint: S3Checkpoint, spool: InsightsSpool) -> None:
        """Save what was fetched for the retry, without hiding the failure if saving fails too."""
        try:
            saved = checkpoint.save(spool)
        except Exception:
            self.log.exception("Could not save the checkpoint; a retry will fetch those messages again.")
            return
        self.log.info(
            "Saved %d message(s) in the checkpoint under s3://%s/%s (%d in all) for the retry.",
            saved,
            checkpoint.destination.bucket,
            checkpoint.destination.checkpoint_prefix,
            len(spool),
        )

    def _delete_orphan_manifest(self, s3: S3Hook, destination: S3Destination) -> None:
        """Remove the manifest of data that could not be written, so no manifest describes an
        object that is not there; a failure here is logged, not raised over the original one."""
        try:
            s3.delete_objects(destination.bucket, [destination.manifest_key])
        except Exception:
            self.log.warning(
                "Could not delete s3://%s/%s, which describes data that was not written.",
                destination.bucket,
                destination.manifest_key,
                exc_info=True,
            )

    def _delete_checkpoint(self, checkpoint: S3Checkpoint) -> None:
        """Remove the checkpoint; the data is complete, so a failure here only leaves litter."""
        try:
            deleted = checkpoint.delete()
        except Exception:
            self.log.warning(
                "Could not delete the checkpoint under s3://%s/%s; the data is complete, delete it by hand.",
                checkpoint.destination.bucket,
                checkpoint.destination.checkpoint_prefix,
                exc_info=True,
            )
            return
        if deleted:
            self.log.info("Deleted %d checkpoint part(s).", deleted)

    def _announce_asset(self, context: Context, destination: S3Destination, extra: dict[str, Any]) -> None:
        """Put the counts on the asset event of the written object, and name it to asset aliases."""
        from airflow.sdk import AssetAlias

        written = Asset(destination.uri)
        events = context["outlet_events"]
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                events[outlet].add(written, extra=extra)
            elif isinstance(outlet, Asset) and outlet.uri == written.uri:
                events[outlet].extra.update(extra)
