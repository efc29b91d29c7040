"""Helpers shared by the benchmarks: machine facts, tables, emulator call logs, a local connection."""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

DAGS_DIR = Path(__file__).resolve().parent / "dags"
ACCESS_KEY = "AKIDSESINSIGHTSBENCH"
SECRET_KEY = "sesinsights-bench-secret"
REGION = "us-east-1"


def isolate_environment() -> None:
    """Use fixed fake AWS credentials, nothing from the user's own AWS set-up, and a throw-away
    Airflow home, so a benchmark neither reads nor writes the user's configuration; log warnings
    only, so the figures are not lost among a hundred triggers' progress lines. Child processes
    inherit all of it. Call it before anything imports Airflow."""
    if not os.environ.get("SESINSIGHTS_BENCH_HOME"):
        os.environ["SESINSIGHTS_BENCH_HOME"] = tempfile.mkdtemp(prefix="sesinsights-bench-")
    os.environ.update(
        {
            "AIRFLOW_HOME": os.environ["SESINSIGHTS_BENCH_HOME"],
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2"):
        os.environ.pop(name, None)


def connection_json(sesv2_endpoint: str, s3_endpoint: str | None = None, **sesv2_extra: Any) -> str:
    """An Airflow ``aws`` connection (JSON form, for ``AIRFLOW_CONN_*``) on local endpoints."""
    service_config: dict[str, Any] = {"sesv2": {"endpoint_url": sesv2_endpoint, **sesv2_extra}}
    if s3_endpoint:
        service_config["s3"] = {"endpoint_url": s3_endpoint}
    return json.dumps(
        {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"region_name": REGION, "service_config": service_config},
        }
    )


def run_bench_dag(conf: dict[str, Any]) -> Any:
    """Run the benchmark DAG (``bench/dags``) once with ``dag.test()``; returns the DagRun.

    The metadata database of the throw-away Airflow home is created on first use.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    ready = Path(os.environ["AIRFLOW_HOME"]) / ".bench-db-ready"
    if not ready.exists():
        db.initdb()
        ready.touch()
    dag = DagBag(dag_folder=str(DAGS_DIR)).get_dag("bench_insights")
    return dag.test(run_conf=conf)


def insights_calls(emulator: Any) -> list[Any]:
    """The emulator's GetMessageInsights call records, in arrival order."""
    return [call for call in emulator.calls if call.operation == "GetMessageInsights"]


def start_rate(calls: Sequence[Any]) -> float:
    """Calls per second between the first and the last arrival: (n - 1) / span."""
    if len(calls) < 2:
        return float("nan")
    span = calls[-1].monotonic - calls[0].monotonic
    return (len(calls) - 1) / span if span > 0 else float("inf")


def max_calls_in_window(calls: Sequence[Any], window: float = 1.0) -> int:
    """The most calls that arrived within any ``window`` seconds (half-open, [t, t + window))."""
    stamps = sorted(call.monotonic for call in calls)
    best = 0
    first = 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def min_gap(calls: Sequence[Any]) -> float:
    """The shortest time between two consecutive arrivals."""
    stamps = sorted(call.monotonic for call in calls)
    return min((b - a for a, b in itertools.pairwise(stamps)), default=float("nan"))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table, so a run's output can be pasted into BENCHMARKS.md as is."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def machine_summary() -> str:
    """What the figures were measured on: cores, memory, load, Python and library versions."""
    memory = _first_line(["free", "-h"], skip=1)
    load = os.getloadavg()
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("apache-airflow", "apache-airflow-providers-amazon", "boto3")
    )
    return "\n".join(
        [
            f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"machine: {platform.machine()}, {os.cpu_count()} CPU(s) (nproc), {platform.platform()}",
            f"memory (free -h): {memory}",
            f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            f"python {platform.python_version()} ({sys.executable}); {packages}",
        ]
    )


def _first_line(command: list[str], skip: int = 0) -> str:
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    lines = output.splitlines()
    return " ".join(lines[skip].split()) if len(lines) > skip else "unknown"
