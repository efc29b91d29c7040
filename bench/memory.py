"""Benchmark 4: peak memory of a large batch written to S3, against a tiny one.

The operator streams a batch to a temporary file and S3 checkpoint parts, so its memory should not
grow with the batch. Each batch runs the operator with ``dag.test()`` in a fresh child process,
against the emulator with its limit lifted (and the connection's ``max_calls_per_second`` raised
to match) and moto's S3 server, both hosted by this parent process so their memory does not count.
The figure is the difference of the children's peak resident set sizes (``ru_maxrss``), which
cancels what Airflow itself costs.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import connection_json, insights_calls, run_bench_dag, start_rate, table

SIZES = (10, 10_000)
RATE = 2000.0
"""Calls per second the hook is configured for against the unlimited emulator; the pacer's fixed
safety margin per call caps what it really makes (the calls/s column)."""
BUCKET = "bench-memory"
TARGET_MIB = 50.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child(ids_file: str, ses_endpoint: str, s3_endpoint: str, key: str) -> None:
    """In the child process: run the batch, then print its state, duration and peak RSS as JSON."""
    import os

    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json(
        ses_endpoint, s3_endpoint, max_calls_per_second=RATE
    )
    message_ids = json.loads(Path(ids_file).read_text(encoding="utf-8"))
    started = time.monotonic()
    dagrun = run_bench_dag({"message_ids": message_ids, "s3_bucket": BUCKET, "s3_key": key})
    print(
        json.dumps(
            {
                "state": str(dagrun.state),
                "seconds": time.monotonic() - started,
                "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def _measure(size: int, message_ids: list[str], ses_endpoint: str, s3_endpoint: str) -> dict[str, Any]:
    """Run one batch of ``size`` messages in a child process and return what it printed."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ids_file:
        json.dump(message_ids[:size], ids_file)
    key = f"memory/{size}.jsonl"
    command = [sys.executable, "-m", "bench.memory", ids_file.name, ses_endpoint, s3_endpoint, key]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    finally:
        Path(ids_file.name).unlink()
    if result.returncode != 0:
        raise RuntimeError(f"the {size}-message child failed:\n{result.stderr[-3000:]}")
    return {"key": key, **json.loads(result.stdout.strip().splitlines()[-1])}


def run(sizes: tuple[int, ...] = SIZES) -> float:
    """Run each batch size once, check the objects, print the table; return the difference in MiB."""
    import boto3
    from moto.server import ThreadedMotoServer

    from airflow_provider_sesinsights.emulator import SesEmulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    port = _free_port()
    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3_server.start()
    try:
        s3_endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        with SesEmulator(rate=None) as emulator:
            message_ids = emulator.add_messages([{} for _ in range(max(sizes))])
            print(
                f"batches of {', '.join(map(str, sizes))} messages to S3 (moto), emulator limit lifted, "
                f"hook paced at {RATE:g} calls/s; each batch in a fresh child process.",
                flush=True,
            )
            results = {}
            for size in sizes:
                emulator.clear_calls()
                results[size] = _measure(size, message_ids, emulator.endpoint_url, s3_endpoint)
                body = s3.get_object(Bucket=BUCKET, Key=results[size]["key"])["Body"].read()
                results[size]["lines"] = body.count(b"\n")
                results[size]["call_rate"] = start_rate(insights_calls(emulator))
                print(
                    f"  {size} messages: {results[size]['state']} in {results[size]['seconds']:.0f} s",
                    flush=True,
                )
    finally:
        s3_server.stop()
    print()
    print(
        table(
            ["messages", "task state", "lines in the S3 object", "run seconds", "calls/s", "peak RSS, MiB"],
            [
                (
                    size,
                    r["state"],
                    r["lines"],
                    round(r["seconds"], 1),
                    round(r["call_rate"], 1),
                    round(r["max_rss_kib"] / 1024, 1),
                )
                for size, r in results.items()
            ],
        )
    )
    small, large = results[min(sizes)], results[max(sizes)]
    difference = (large["max_rss_kib"] - small["max_rss_kib"]) / 1024
    print(
        f"\npeak RSS difference, {max(sizes)} vs {min(sizes)} messages: {difference:+.1f} MiB "
        f"(target within +{TARGET_MIB:g} MiB)"
    )
    return difference


if __name__ == "__main__":
    child(*sys.argv[1:])
