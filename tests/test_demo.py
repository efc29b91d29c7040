"""``make demo``: its process handling, its services, and (integration) one whole run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pytest

from airflow_provider_sesinsights import demo
from airflow_provider_sesinsights.emulator.scenarios import realistic_day

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 80)) == 0


def test_stop_all_ends_whole_process_groups_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    processes = demo.Processes()
    pid_file = tmp_path / "child.pid"
    # A parent that spawns a child and ignores SIGTERM: only the group SIGKILL ends both.
    script = f"trap '' TERM; sleep 120 & echo $! > {pid_file}; wait"
    parent = processes.start(["sh", "-c", script])
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    original_grace = demo.STOP_GRACE_SECONDS
    demo.STOP_GRACE_SECONDS = 1.0
    try:
        processes.stop_all()
    finally:
        demo.STOP_GRACE_SECONDS = original_grace
    assert parent.returncode is not None
    assert wait_until_gone([child]) == []
    processes.stop_all()


def test_emulator_and_s3_start_on_localhost_and_stop(tmp_path: Path) -> None:
    scenario = realistic_day(date(2025, 6, 2), messages=5, seed=1)
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(scenario.seed_json(), encoding="utf-8")
    processes = demo.Processes()
    try:
        with (tmp_path / "emulator.log").open("w") as emulator_log, (tmp_path / "s3.log").open("w") as s3_log:
            sesv2_url = demo.start_emulator(processes, seed_file, 40.0, emulator_log)
            s3_url = demo.start_s3(processes, s3_log)
        assert urlparse(sesv2_url).hostname == urlparse(s3_url).hostname == "127.0.0.1"
        with urllib.request.urlopen(f"{sesv2_url}/_emulator/health", timeout=10) as answer:
            health = json.load(answer)
        assert (health["messages"], health["rate"]) == (5, 40.0)
        manifest = demo.upload_manifest(s3_url, scenario)
        assert manifest == f"s3://{demo.MANIFEST_BUCKET}/manifests/dt={scenario.day}/sent.csv"
        assert demo.emulator_call_counts(sesv2_url) == (0, 0)
    finally:
        processes.stop_all()
    assert not port_open(sesv2_url) and not port_open(s3_url)


def test_airflow_environment_points_aws_default_at_the_local_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    env = demo.airflow_environment(
        tmp_path, PROJECT_ROOT / "example_dags", "http://127.0.0.1:1", "http://127.0.0.1:2", 30
    )
    assert "AWS_PROFILE" not in env and "AIRFLOW__CORE__EXECUTOR" not in env
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    extra = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]
    assert extra["service_config"] == {
        "sesv2": {"endpoint_url": "http://127.0.0.1:1", "max_calls_per_second": 30},
        "s3": {"endpoint_url": "http://127.0.0.1:2"},
    }


@pytest.mark.integration
def test_demo_end_to_end(tmp_path: Path) -> None:
    """The whole demo, smaller: 60 messages at 30 calls/s; about a minute and a half."""
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sesinsights.demo", "--messages", "60", "--rate", "30",
         "--workdir", str(workdir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Messages 60" in out and "Delivery time p50" in out
    assert "limit was lifted to 30 calls/s" in out and "The real API allows 1 call/s" in out
    assert "60 GetMessageInsights calls" in out
    reports = list(workdir.glob("report/ses-insights/reports/dt=*/report.html"))
    assert len(reports) == 1 and 'id="by-isp"' in reports[0].read_text(encoding="utf-8")
    assert list(workdir.glob("report/ses-insights/events/dt=*/events.csv"))
    urls = [word.rstrip(",") for word in out.split() if word.startswith("http://127.0.0.1:")]
    assert len(urls) == 2
    for url in urls:
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=2)
