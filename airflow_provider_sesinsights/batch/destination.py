"""The S3 object a batch is written to, and the keys that live beside it.

``s3_bucket`` plus a relative ``s3_key``, or a full ``s3://bucket/key`` URI in ``s3_key`` alone,
as in the amazon provider's S3 operators. Next to ``<key>`` the operator keeps
``<key>.manifest.json`` (what the batch contained) and, while a batch is unfinished,
``<key>.checkpoint/part-NNNNNN.jsonl`` (what it has fetched so far).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

GZIP_SUFFIX = ".gz"
MANIFEST_SUFFIX = ".manifest.json"
CHECKPOINT_SUFFIX = ".checkpoint/"


def _bucket_problem(bucket: str) -> str | None:
    if not bucket:
        return "is empty"
    if bucket != bucket.strip() or any(ch.isspace() for ch in bucket):
        return "contains whitespace"
    if "/" in bucket:
        return "contains '/'"
    return None


@dataclass(frozen=True)
class S3Destination:
    """Where the insights go.

    :param bucket: the S3 bucket.
    :param key: the object key of the data.
    :param gzip: whether the data is gzip-compressed.
    """

    bucket: str
    key: str
    gzip: bool = False

    @classmethod
    def parse(cls, bucket: str | None, key: object, *, gzip: bool = False) -> S3Destination:
        """Resolve the operator's ``s3_bucket`` / ``s3_key``; gzip if asked or the key ends in ``.gz``.

        :raises ValueError: naming the parameter and the value that cannot work.
        """
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"s3_key must be a non-empty string, got {key!r}")
        parts = urlsplit(key)
        if parts.scheme:
            if parts.scheme != "s3":
                raise ValueError(f"s3_key {key!r} is a {parts.scheme}:// URI; only s3:// URIs are accepted")
            if bucket is not None:
                raise ValueError(
                    f"s3_key {key!r} is a full s3:// URI, so s3_bucket must be left out (got {bucket!r})"
                )
            bucket, key = parts.netloc, parts.path.lstrip("/")
            if not key:
                raise ValueError(f"s3_key URI names no object key: {parts.geturl()!r}")
        elif bucket is None:
            raise ValueError(f"s3_key {key!r} is not an s3:// URI, so s3_bucket is needed")
        if not isinstance(bucket, str) or (problem := _bucket_problem(bucket)) is not None:
            detail = problem if isinstance(bucket, str) else "is not a string"
            raise ValueError(f"S3 bucket name {detail}: {bucket!r}")
        return cls(bucket=bucket, key=key, gzip=gzip or key.endswith(GZIP_SUFFIX))

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` of the data."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def manifest_key(self) -> str:
        """Key of the manifest written next to the data."""
        return self.key + MANIFEST_SUFFIX

    @property
    def checkpoint_prefix(self) -> str:
        """Key prefix of the checkpoint parts of an unfinished batch."""
        return self.key + CHECKPOINT_SUFFIX
