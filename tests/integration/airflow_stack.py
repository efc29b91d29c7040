"""A real Airflow 3 deployment for integration tests: api-server, scheduler, dag-processor and
triggerer as separate processes on the embedded SQLite DB, driven through the REST API.

Why real processes: pools, reschedules and the triggerer only exist in the scheduler loop, which
``dag.test()`` bypasses. Everything listens on 127.0.0.1 only (the scheduler's and triggerer's log
servers, whose ports are fixed and bound to every interface, are switched off), every wait is
bounded, and every process group started here is stopped on the way out, also after a failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
"""Command line of each component; the log servers stay off (``--skip-serve-logs``)."""

HEALTH_KEYS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
STOP_GRACE = 20.0
"""Seconds a process group gets to exit after SIGTERM before it is killed."""

FINISHED_RUN_STATES = frozenset({"success", "failed"})


class StackError(RuntimeError):
    """The stack did not start, or did not answer as expected."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_time(value: str | None) -> datetime | None:
    """A REST API timestamp (ISO 8601, possibly ending in ``Z``) as an aware datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class TaskAttempt:
    """One run of a task instance as the REST API reported it: a try, or one poke of a
    reschedule-mode sensor (each poke gets its own start and end date)."""

    task_id: str
    map_index: int
    start: datetime
    end: datetime
    state: str

    @property
    def label(self) -> str:
        """``task_id`` or ``task_id[map_index]``, for messages."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


class AirflowStack:
    """Start and stop the four Airflow components against a temporary AIRFLOW_HOME.

    Use as a context manager; on a failure while starting, the tail of each component's log is
    printed before everything is stopped.

    :param dags_folder: folder of the DAG files the dag-processor parses.
    :param env: extra environment for every component (connections, test settings).
    :param parallelism: executor slots, i.e. LocalExecutor worker processes.
    """

    def __init__(self, dags_folder: Path, env: Mapping[str, str] | None = None, parallelism: int = 4):
        self.dags_folder = dags_folder
        self.home = Path(tempfile.mkdtemp(prefix="sesinsights-stack-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = self._environment(parallelism, env or {})
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        # Session ids of the components (each leads its own), kept after the stop for checks.
        self._sessions: set[int] = set()

    def _environment(self, parallelism: int, extra: Mapping[str, str]) -> dict[str, str]:
        """The components' environment: this process's, minus any Airflow setting, plus ours."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        env.update(extra)
        return env

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        """Migrate the DB and start every component; stop them all if that fails."""
        try:
            self.start()
        except BaseException:
            self.print_logs()
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop every component; print their logs first if the block failed."""
        if exc is not None:
            self.print_logs()
        self.stop()

    def start(self) -> None:
        """``airflow db migrate``, then each component in its own process group."""
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            timeout=240,
            check=False,
        )
        if migrate.returncode != 0:
            output = (migrate.stdout + migrate.stderr).decode(errors="replace")[-4000:]
            raise StackError(f"airflow db migrate failed ({migrate.returncode}):\n{output}")
        for name, args in COMPONENTS.items():
            with (self.home / f"{name}.log").open("wb") as log:
                self._processes[name] = subprocess.Popen(
                    [AIRFLOW, *args],
                    env=self.env,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                self._sessions.add(self._processes[name].pid)

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL the ones still there after :data:`STOP_GRACE`,
        then delete the temporary home."""
        for process in self._processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in self._processes.values():
            while _group_alive(process) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_alive(process):
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self._processes.clear()
        shutil.rmtree(self.home, ignore_errors=True)

    def pids(self) -> list[int]:
        """Processes of the stack: those in the sessions of its components (each started one),
        and any other with its AIRFLOW_HOME in the environment (a child that left the session)."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # Fields after the command name, which may hold spaces: state, ppid, pgrp, session.
                session = int((entry / "stat").read_text().rpartition(")")[2].split()[3])
                # setproctitle overwrites the environment block of some components (api-server).
                if session in self._sessions or marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def listening_addresses(self) -> set[tuple[str, int]]:
        """The (address, port) pairs that the stack's processes listen on (TCP, IPv4 and IPv6)."""
        return listening_addresses(self.pids())

    def print_logs(self, lines: int = 40) -> None:
        """Print the tail of each component's log and of the newest task logs (for failures)."""
        for name in COMPONENTS:
            print(f"----- {name} (last {lines} lines) -----\n{log_tail(self.home / f'{name}.log', lines)}")
        task_logs = sorted(
            (self.home / "logs").rglob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True
        )
        for path in task_logs[:3]:
            print(f"----- task log {path.relative_to(self.home)} -----\n{log_tail(path, lines)}")

    @contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """Print the component logs if the block raises (a failing test inside a shared stack)."""
        try:
            yield
        except BaseException:
            self.print_logs()
            raise

    def check_running(self) -> None:
        """Raise :class:`StackError` if a component has exited."""
        dead = {name: p.returncode for name, p in self._processes.items() if p.poll() is not None}
        if dead:
            raise StackError(f"Airflow components exited: {dead}")

    # -- REST API ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call the REST API (``/api/v2`` + ``path``) and return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/api/v2{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:2000]
            raise StackError(f"{method} {path} answered {error.code}: {detail}") from error
        return json.loads(raw) if raw else None

    def wait_ready(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        """Wait until every component reports healthy and the DAGs are parsed."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            self.check_running()
            try:
                health = self.request("GET", "/monitor/health", timeout=5)
                unhealthy = [key for key in HEALTH_KEYS if health[key]["status"] != "healthy"]
                known = {dag["dag_id"] for dag in self.request("GET", "/dags?limit=100", timeout=5)["dags"]}
            except (OSError, StackError) as error:
                last = str(error)
            else:
                missing = wanted - known
                if not unhealthy and not missing:
                    return
                last = f"unhealthy: {unhealthy}, DAGs not parsed yet: {sorted(missing)}"
            time.sleep(1.0)
        raise StackError(f"Airflow stack not ready after {timeout:.0f} s ({last})")

    def create_pool(
        self, name: str, slots: int, description: str = "", include_deferred: bool = False
    ) -> None:
        """Create a pool (``POST /pools``)."""
        body = {
            "name": name,
            "slots": slots,
            "description": description,
            "include_deferred": include_deferred,
        }
        self.request("POST", "/pools", body)

    def delete_pool(self, name: str) -> None:
        """Delete a pool (``DELETE /pools/{name}``)."""
        self.request("DELETE", f"/pools/{name}")

    def pool_names(self) -> set[str]:
        """Names of the pools that exist."""
        return {pool["name"] for pool in self.request("GET", "/pools?limit=100")["pools"]}

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG so that its runs get scheduled."""
        self.request("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run now and return its run id."""
        run = self.request(
            "POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
        )
        return str(run["dag_run_id"])

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        """State of a DAG run (``queued``, ``running``, ``success``, ``failed``)."""
        return str(self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included, as the REST API returns them."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
        return list(self.request("GET", path)["task_instances"])

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float,
        every: float = 1.0,
        on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> tuple[str, list[TaskAttempt]]:
        """Poll a run until it finishes; return its state and every task attempt seen.

        A reschedule-mode sensor overwrites its start and end dates at each poke, and waits at
        least its poke interval between pokes, so polling every ``every`` seconds (well under the
        interval) catches each poke as a separate attempt. ``on_poll`` gets the task instances
        of each poll, to drive the test's side (e.g. script the emulator) while the run goes on.
        """
        deadline = time.monotonic() + timeout
        attempts: dict[tuple[str, int, datetime], TaskAttempt] = {}
        state = "queued"
        while True:
            self.check_running()
            instances = self.task_instances(dag_id, run_id)
            for attempt in finished_attempts(instances):
                attempts[(attempt.task_id, attempt.map_index, attempt.start)] = attempt
            if on_poll is not None:
                on_poll(instances)
            if state in FINISHED_RUN_STATES:
                break  # this last poll recorded the final attempts
            if time.monotonic() > deadline:
                raise StackError(f"run {run_id} of {dag_id} did not finish within {timeout:.0f} s")
            state = self.dag_run_state(dag_id, run_id)
            if state not in FINISHED_RUN_STATES:
                time.sleep(every)
        return state, sorted(attempts.values(), key=lambda attempt: attempt.start)


def finished_attempts(instances: Iterable[Mapping[str, Any]]) -> Iterator[TaskAttempt]:
    """The task instances that have both a start and an end date, as attempts."""
    for instance in instances:
        start, end = parse_time(instance.get("start_date")), parse_time(instance.get("end_date"))
        if start is not None and end is not None:
            yield TaskAttempt(
                task_id=str(instance["task_id"]),
                map_index=int(instance["map_index"]),
                start=start,
                end=end,
                state=str(instance["state"]),
            )


def listening_addresses(pids: Iterable[int]) -> set[tuple[str, int]]:
    """The TCP (address, port) pairs in LISTEN state owned by ``pids``, read from /proc."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            with suppress(OSError):
                target = os.readlink(descriptor)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    found: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((_proc_net_address(address), int(port, 16)))
    return found


def _proc_net_address(hex_address: str) -> str:
    """Decode an address of /proc/net/tcp{,6}: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send a signal to a whole process group, ignoring a group that is already gone."""
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the group led by ``process`` is still there (reaping the leader)."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True
