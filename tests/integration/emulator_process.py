"""The SES emulator as a process of its own, scripted through its ``/_emulator/`` control API.

A separate process keeps the emulator's arrival timestamps free of the test process's work
(polling the REST API, parsing JSON), so the gaps it measures are the ones a real service
would see.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

_LISTENING = re.compile(r"listening on (?P<url>http://127\.0\.0\.1:\d+)")
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    """One GetMessageInsights call as the emulator logged it."""

    monotonic: float
    message_id: str | None
    status: int


class EmulatorProcess:
    """``python -m airflow_provider_sesinsights.emulator`` on 127.0.0.1 and a free port.

    :param rate: GetMessageInsights calls per second per account the emulator accepts.
    """

    def __init__(self, rate: float = 1.0):
        self.rate = rate
        self.endpoint_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        """Start the emulator and wait for the line with its URL."""
        command = [sys.executable, "-m", "airflow_provider_sesinsights.emulator"]
        self._process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", "0", "--rate", str(self.rate)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            self.endpoint_url = _read_url(self._process.stdout, time.monotonic() + STARTUP_TIMEOUT)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the emulator."""
        self._stop()

    def _stop(self) -> None:
        """SIGTERM the emulator's process group, SIGKILL it if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def control(self, method: str, action: str, body: Any = None) -> Any:
        """Call ``/_emulator/{action}`` and return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint_url}/_emulator/{action}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        """Forget messages, calls, faults and rate buckets."""
        self.control("POST", "reset")

    def add_messages(self, specs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Script messages (a message with an existing id replaces it); return their ids."""
        return list(self.control("POST", "messages", list(specs))["message_ids"])

    def insights_calls(self) -> list[Call]:
        """The GetMessageInsights calls so far, in arrival order."""
        return [
            Call(float(record["monotonic"]), record["message_id"], int(record["status"]))
            for record in self.control("GET", "calls")
            if record["operation"] == "GetMessageInsights"
        ]


def _read_url(stdout: IO[str] | None, deadline: float) -> str:
    """Read the emulator's start-up line and return the URL it names."""
    if stdout is None:
        raise RuntimeError("emulator started without a stdout pipe")
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([stdout], [], [], remaining)
        if not readable:
            break
        line = stdout.readline()
        if not line:
            break
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            return match.group("url")
    raise RuntimeError(f"SES emulator did not report its URL: {''.join(seen)!r}")
