"""``make demo``: a day of email traffic through the whole product, offline, in about a minute.

Starts the SES emulator (with a lifted rate limit, so the demo is quick) and moto's S3 server on
127.0.0.1, gives Airflow a fresh home with an embedded SQLite database under ``.demo/``, creates
the rate-limit pool, seeds a generated day of traffic (a few hundred messages over several ISPs
and campaigns) and drops the sender's manifest in S3, then runs the example report DAG with
``airflow dags test``. It copies the report out of S3 into ``.demo/report/``, prints a short
summary, and stops everything it started, on failure and Ctrl-C too.

Run it from a source checkout: ``python -m airflow_provider_sesinsights.demo [--messages N]
[--rate R]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from contextlib import suppress
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from airflow_provider_sesinsights import SES_INSIGHTS_POOL
from airflow_provider_sesinsights.emulator.scenarios import ScenarioDay, realistic_day

REPORT_DAG_ID = "example_ses_deliverability_report"
MANIFEST_BUCKET = "example-ses-sending-logs"
OUTPUT_BUCKET = "example-ses-insights"
OUTPUT_PREFIX = "ses-insights"
MANIFEST_KEY = "manifests/dt={ds}/sent.csv"
"""The report DAG's parameter defaults: the demo uses the DAG exactly as shipped."""

DEMO_ACCESS_KEY_ID = "AKIDSESINSIGHTSDEMO"
DEMO_SECRET_ACCESS_KEY = "demo-secret"
"""Fake credentials: the emulator and moto check neither."""

DEFAULT_RATE = 25.0
"""GetMessageInsights calls per second the demo's emulator allows (the real API: 1)."""

STOP_GRACE_SECONDS = 10.0
EMULATOR_START_TIMEOUT = 30.0
DAG_RUN_TIMEOUT = 900.0


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


def _project_root() -> Path:
    """The source checkout the demo runs from; checks that what it needs is there."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "example_dags" / f"{REPORT_DAG_ID}.py").is_file():
        raise DemoError(f"the demo runs from a source checkout; no example_dags/ next to {root}")
    if importlib.util.find_spec("moto") is None:
        raise DemoError("the demo needs moto's S3 server: pip install 'moto[server]' (make demo installs it)")
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The processes the demo started, each in its own process group, stopped in reverse order."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def start(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``command`` in a new session (so its whole group can be signalled) and track it."""
        process = subprocess.Popen(list(command), start_new_session=True, **kwargs)
        self._started.append(process)
        return process

    def stop_all(self) -> None:
        """SIGTERM each group, wait up to :data:`STOP_GRACE_SECONDS`, then SIGKILL what is left."""
        while self._started:
            process = self._started.pop()
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
                    process.wait(STOP_GRACE_SECONDS)


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


class Clock:
    """Prints each step with the seconds since the demo started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        """Print one progress line."""
        print(f"[{self.elapsed():5.1f}s] {text}", flush=True)


def _first_line(stream: IO[str], timeout: float) -> str | None:
    """The first line of a child's stdout, or ``None`` if none comes within ``timeout`` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else None


def start_emulator(processes: Processes, seed_file: Path, rate: float, log_file: IO[str]) -> str:
    """Start the emulator with the seeded messages; return its endpoint URL."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_sesinsights.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--rate",
        f"{rate:g}",
        "--seed-file",
        str(seed_file),
    ]
    process = processes.start(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    line = _first_line(process.stdout, EMULATOR_START_TIMEOUT) if process.stdout else None
    line = line or ""
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if found is None:
        raise DemoError(f"the SES emulator did not start (said {line.strip()!r}); see {log_file.name}")
    return found.group(0)


def start_s3(processes: Processes, log_file: IO[str]) -> str:
    """Start moto's S3 server on 127.0.0.1; return its endpoint URL once it answers."""
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = processes.start(command, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            return url
        except OSError:
            time.sleep(0.2)
    raise DemoError(f"moto's S3 server did not start; see {log_file.name}")


def airflow_environment(
    airflow_home: Path, dags_folder: Path, sesv2_url: str, s3_url: str, rate: float
) -> dict[str, str]:
    """The environment of every ``airflow`` command: a private home, the example DAGs, the
    ``aws_default`` connection pointing SES at the emulator and S3 at moto, fake credentials."""
    connection = {
        "conn_type": "aws",
        "login": DEMO_ACCESS_KEY_ID,
        "password": DEMO_SECRET_ACCESS_KEY,
        "extra": {
            "region_name": "us-east-1",
            "service_config": {
                "sesv2": {"endpoint_url": sesv2_url, "max_calls_per_second": rate},
                "s3": {"endpoint_url": s3_url},
            },
        },
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__", "AWS_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            "AWS_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEMO_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def run_airflow(
    processes: Processes, arguments: Sequence[str], env: dict[str, str], log_path: Path, timeout: float
) -> None:
    """Run one ``airflow`` command, its output in ``log_path``; raise :class:`DemoError` on failure."""
    with log_path.open("w", encoding="utf-8") as log_file:
        process = processes.start(
            [sys.executable, "-m", "airflow", *arguments], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(
                f"'airflow {' '.join(arguments)}' took over {timeout:.0f} s; see {log_path}"
            ) from None
    if code != 0:
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:])
        raise DemoError(f"'airflow {' '.join(arguments)}' failed (exit {code}); see {log_path}:\n{tail}")


def _s3_client(s3_url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=DEMO_ACCESS_KEY_ID,
        aws_secret_access_key=DEMO_SECRET_ACCESS_KEY,
    )


def upload_manifest(s3_url: str, scenario: ScenarioDay) -> str:
    """Create the DAG's buckets in moto and drop the day's manifest; return its S3 URI."""
    s3 = _s3_client(s3_url)
    for bucket in (MANIFEST_BUCKET, OUTPUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    key = MANIFEST_KEY.format(ds=scenario.day.isoformat())
    s3.put_object(Bucket=MANIFEST_BUCKET, Key=key, Body=scenario.manifest_csv().encode("utf-8"))
    return f"s3://{MANIFEST_BUCKET}/{key}"


def download_outputs(s3_url: str, target: Path) -> list[Path]:
    """Copy everything the DAG wrote to the output bucket into ``target`` (moto forgets it on exit)."""
    s3 = _s3_client(s3_url)
    saved: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=OUTPUT_BUCKET, Prefix=OUTPUT_PREFIX):
        for item in page.get("Contents", []):
            path = target / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(OUTPUT_BUCKET, item["Key"], str(path))
            saved.append(path)
    return saved


def emulator_call_counts(sesv2_url: str) -> tuple[int, int]:
    """``(GetMessageInsights calls, of which throttled)`` as the emulator logged them."""
    with urllib.request.urlopen(f"{sesv2_url}/_emulator/calls", timeout=10) as answer:
        calls = [c for c in json.load(answer) if c["operation"] == "GetMessageInsights"]
    return len(calls), sum(1 for c in calls if c["status"] == 429)


def _yesterday() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def run_demo(*, messages: int, rate: float, seed: int, day: date, workdir: Path) -> int:
    """Run every step; return the exit code. Everything started is stopped before returning."""
    from airflow_provider_sesinsights.report import summary_text
    from airflow_provider_sesinsights.report.source import load_insights
    from airflow_provider_sesinsights.report.summary import summarize

    clock = Clock()
    for stale in ("airflow", "report", "logs"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    processes = Processes()
    try:
        root = _project_root()
        scenario = realistic_day(day, messages=messages, seed=seed)
        seed_file = workdir / "seed.json"
        seed_file.write_text(scenario.seed_json(), encoding="utf-8")
        with (
            (logs / "emulator.log").open("w", encoding="utf-8") as emulator_log,
            (logs / "s3.log").open("w", encoding="utf-8") as s3_log,
        ):
            sesv2_url = start_emulator(processes, seed_file, rate, emulator_log)
            clock.say(
                f"SES emulator on {sesv2_url}, {messages} messages of {day} seeded, limit {rate:g} calls/s"
            )
            s3_url = start_s3(processes, s3_log)
            clock.say(f"moto S3 on {s3_url}")
            env = airflow_environment(workdir / "airflow", root / "example_dags", sesv2_url, s3_url, rate)
            run_airflow(processes, ["db", "migrate"], env, logs / "db-migrate.log", 300)
            clock.say(f"Airflow metadata DB (SQLite) in {workdir / 'airflow'}")
            description = "SES GetMessageInsights: one call per second per account and region"
            run_airflow(
                processes, ["pools", "set", SES_INSIGHTS_POOL, "1", description], env, logs / "pools.log", 120
            )
            clock.say(f"pool {SES_INSIGHTS_POOL!r} with 1 slot")
            manifest = upload_manifest(s3_url, scenario)
            clock.say(f"sender's manifest at {manifest}")
            clock.say(f"running 'airflow dags test {REPORT_DAG_ID} {day}' (log: {logs / 'dags-test.log'})")
            run_airflow(
                processes,
                ["dags", "test", REPORT_DAG_ID, day.isoformat()],
                env,
                logs / "dags-test.log",
                DAG_RUN_TIMEOUT,
            )
            saved = download_outputs(s3_url, workdir / "report")
            calls, throttled = emulator_call_counts(sesv2_url)
    except DemoError as error:
        print(f"\nDemo failed after {clock.elapsed():.0f} s: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping what the demo started.", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
    html = next((path for path in saved if path.name == "report.html"), None)
    raw = next((path for path in saved if path.name.endswith(".jsonl.gz")), None)
    if html is None or raw is None:
        print(f"\nThe DAG run wrote no report; see {logs / 'dags-test.log'}", file=sys.stderr)
        return 1
    summary = summarize(load_insights(raw).records)
    print()
    print(f"Report of {day} ({clock.elapsed():.0f} s in all):")
    for path in saved:
        print(f"  {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print(f"Open {html.resolve().as_uri()} in a browser.")
    print()
    print(summary_text(summary))
    print()
    print(
        f"The emulator's limit was lifted to {rate:g} calls/s for speed ({calls} GetMessageInsights calls, "
        f"{throttled} throttled). The real API allows 1 call/s per account and region: this day of "
        f"{messages} messages takes about {messages / 60:.0f} min of API time against AWS."
    )
    print("Everything the demo started has been stopped.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_sesinsights.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--messages", type=int, default=400, help="messages in the generated day (default 400)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"GetMessageInsights calls per second the emulator allows (default {DEFAULT_RATE:g}; AWS: 1)",
    )
    parser.add_argument("--seed", type=int, default=20260301, help="seed of the generated day")
    parser.add_argument(
        "--day", type=date.fromisoformat, default=None, help="day to report (default yesterday, UTC)"
    )
    parser.add_argument("--workdir", type=Path, default=Path(".demo"), help="where the demo keeps its files")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rate <= 0:
        parser.error("--messages must be at least 1 and --rate above 0")
    return run_demo(
        messages=args.messages,
        rate=args.rate,
        seed=args.seed,
        day=args.day or _yesterday(),
        workdir=args.workdir.resolve(),
    )


if __name__ == "__main__":
    sys.exit(main())
