"""HTTP front end of the SES v2 emulator, speaking the rest-json protocol botocore expects.

Service routes (as in botocore's sesv2 model 2019-09-27):

* ``GET /v2/email/insights/{MessageId}/`` - GetMessageInsights, rate limited per account
  (the access key id in the SigV4 ``Authorization`` header; signatures are not verified),
  subject to injected faults and the configured latency.
* ``POST /v2/email/outbound-emails`` - SendEmail, neither rate limited nor faulted.

Control routes for out-of-process users, under ``/_emulator/``: ``POST messages``,
``GET calls``, ``DELETE calls``, ``POST faults``, ``PUT rate``, ``POST reset``, ``GET health``.

Errors carry ``x-amzn-ErrorType`` (read first by botocore's RestJSONParser) and a
``{"message": ...}`` body; every answer carries ``x-amzn-RequestId`` and a Content-Length, so
botocore's keep-alive connection pool keeps working across calls.
"""

from __future__ import annotations

import json
import random
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from airflow_provider_sesinsights.emulator.state import (
    CallRecord,
    EmulatorState,
    Fault,
    InvalidRequestError,
    message_id_problem,
)

ANONYMOUS_ACCOUNT = "anonymous"
"""Account name of requests that carry no SigV4 credential."""

_INSIGHTS_PATH = re.compile(r"^/v2/email/insights/(?P<id>[^/]*)/?$")
_SEND_EMAIL_PATH = re.compile(r"^/v2/email/outbound-emails/?$")
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/")
_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "TooManyRequestsException", "Too many requests (injected fault)."),
    "internal_error": (500, "InternalFailure", "The request processing has failed (injected fault)."),
    "unavailable": (503, "ServiceUnavailable", "The service is unavailable (injected fault)."),
    "bad_request": (400, "BadRequestException", "The request is invalid (injected fault)."),
}
_IDLE_TIMEOUT = 120.0
"""Seconds an idle keep-alive connection stays open, so handler threads cannot pile up."""


def account_from_authorization(header: str | None) -> str:
    """Return the access key id of a SigV4 ``Authorization`` header, or ``anonymous``."""
    match = _CREDENTIAL.search(header or "")
    return match.group("key") if match else ANONYMOUS_ACCOUNT


class _EmulatorServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the emulator state and tracking open connections.

    Tracking lets :meth:`close_connections` cut keep-alive connections on stop, so a stopped
    emulator really stops answering instead of serving pooled connections from old threads.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState, latency: Callable[[], float]) -> None:
        """Bind to ``address`` (port 0 picks a free one) and remember the shared state."""
        self.state = state
        self.latency = latency
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup of the host, which can stall."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it on a daemon thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection so handler threads end promptly."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to a service operation or a control action."""

    protocol_version = "HTTP/1.1"
    server_version = "SesInsightsEmulator"
    timeout = _IDLE_TIMEOUT
    disable_nagle_algorithm = True
    server: _EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the command line do not want a line per request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, unsupported method) in the service's format."""
        self.close_connection = True
        error_type = "UnknownOperationException" if code == 501 else "BadRequestException"
        self._send_error(code, error_type, message or explain or f"HTTP error {code}.")

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH (always an unknown operation, answered in the service's error format)."""
        self._dispatch()

    def _dispatch(self) -> None:
        """Record the arrival time, read the body and route the request."""
        arrival = (time.time(), time.monotonic())
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True
            self._send_error(400, "BadRequestException", str(error))
            return
        path = self.path.split("?", 1)[0]
        try:
            insights = _INSIGHTS_PATH.match(path)
            if self.command == "GET" and insights:
                self._get_message_insights(insights.group("id"), arrival)
            elif self.command == "POST" and _SEND_EMAIL_PATH.match(path):
                self._send_email(body, arrival)
            elif path.startswith("/_emulator/"):
                self._control(path.removeprefix("/_emulator/").rstrip("/"), body)
            else:
                self._unknown_operation(path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:
            self.close_connection = True
            self._send_error(500, "InternalFailure", f"Emulator error: {error!r}")

    def _read_body(self) -> bytes:
        """Read the whole request body (needed to keep a keep-alive connection in sync)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ValueError("Chunked request bodies are not supported; send a Content-Length.")
        length_header = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(length_header)
        except ValueError as error:
            raise ValueError(f"Invalid Content-Length {length_header!r}.") from error
        if length < 0:
            raise ValueError(f"Invalid Content-Length {length_header!r}.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Write a complete response with Content-Length and a request id."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any) -> None:
        """Write a JSON response."""
        self._send(status, json.dumps(payload).encode("utf-8"))

    def _send_error(self, status: int, code: str, message: str) -> None:
        """Write an error the way the service does: type header plus ``{"message": ...}``."""
        body = json.dumps({"message": message}).encode("utf-8")
        self._send(status, body, {"x-amzn-ErrorType": code})

    def _unknown_operation(self, path: str) -> None:
        """Answer a route the emulator does not implement."""
        self._send_error(404, "UnknownOperationException", f"Unknown operation: {self.command} {path}")

    def _get_message_insights(self, raw_id: str, arrival: tuple[float, float]) -> None:
        """Serve GetMessageInsights: limiter first, then latency, faults and the lookup.

        The limiter comes first because real throttling happens at the front door: a refused
        call consumes neither a token nor an injected fault.
        """
        state = self.server.state
        account = account_from_authorization(self.headers.get("Authorization"))
        message_id = unquote(raw_id)
        allowed = state.acquire(account, arrival[1])
        delay = self.server.latency()
        if delay > 0:
            time.sleep(delay)

        def answer(status: int, code: str | None, fault: Fault | None = None) -> None:
            """Log the call before answering, so a client that got its answer sees the record."""
            kind = fault.kind if fault else None
            state.record_call(
                CallRecord(*arrival, account, "GetMessageInsights", message_id, status, code, kind)
            )

        if not allowed:
            rate = state.rate or 0.0
            answer(429, "TooManyRequestsException")
            self._send_error(
                429,
                "TooManyRequestsException",
                f"Too many requests: GetMessageInsights allows {rate:g} call(s) per second per account.",
            )
            return
        problem = message_id_problem(message_id)
        if problem:
            answer(400, "BadRequestException")
            self._send_error(400, "BadRequestException", problem)
            return
        fault = state.take_fault(message_id)
        if fault and fault.kind in _FAULT_ERRORS:
            status, code, message = _FAULT_ERRORS[fault.kind]
            answer(status, code, fault)
            self._send_error(status, code, message)
            return
        if fault and fault.kind == "drop":
            answer(0, None, fault)
            self.close_connection = True
            return
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        body = state.message_insights(message_id)
        if fault and fault.kind == "malformed":
            encoded = json.dumps(body or {"MessageId": message_id, "Insights": []}).encode("utf-8")
            answer(200, None, fault)
            self._send(200, encoded[: len(encoded) // 2])
        elif body is None:
            answer(404, "NotFoundException", fault)
            self._send_error(404, "NotFoundException", f"Message {message_id} was not found.")
        else:
            answer(200, None, fault)
            self._send_json(200, body)

    def _send_email(self, raw_body: bytes, arrival: tuple[float, float]) -> None:
        """Serve SendEmail: validate the body, store the message with generated timelines."""
        state = self.server.state
        account = account_from_authorization(self.headers.get("Authorization"))
        try:
            request = json.loads(raw_body or b"{}")
        except ValueError:
            self._reject_send_email(arrival, account, "The request body is not valid JSON.")
            return
        try:
            message_id = state.send_email(request, account=account, source_ip=str(self.client_address[0]))
        except InvalidRequestError as error:
            self._reject_send_email(arrival, account, str(error))
            return
        state.record_call(CallRecord(*arrival, account, "SendEmail", message_id, 200, None))
        self._send_json(200, {"MessageId": message_id})

    def _reject_send_email(self, arrival: tuple[float, float], account: str, message: str) -> None:
        """Log and answer a SendEmail request the emulator refuses (400 BadRequest)."""
        record = CallRecord(*arrival, account, "SendEmail", None, 400, "BadRequestException")
        self.server.state.record_call(record)
        self._send_error(400, "BadRequestException", message)

    def _control(self, action: str, raw_body: bytes) -> None:
        """Serve the ``/_emulator/`` control API used by out-of-process tests and demos."""
        state = self.server.state
        route = (self.command, action)
        try:
            payload = json.loads(raw_body) if raw_body else None
            if route == ("GET", "health"):
                result: Any = {
                    "status": "ok",
                    "rate": state.rate,
                    "delivery_delay": state.delivery_delay,
                    "messages": state.message_count(),
                    "pending_faults": len(state.pending_faults()),
                    "calls": len(state.calls()),
                }
            elif route == ("GET", "calls"):
                result = [record.to_json() for record in state.calls()]
            elif route == ("DELETE", "calls"):
                state.clear_calls()
                result = {"cleared": True}
            elif route == ("POST", "messages"):
                specs = payload if isinstance(payload, list) else [payload]
                result = {"message_ids": state.add_messages(specs)}
            elif route == ("POST", "faults"):
                faults = payload if isinstance(payload, list) else [payload]
                for fault in faults:
                    if not isinstance(fault, dict) or "kind" not in fault:
                        raise InvalidRequestError('Each fault must be an object with a "kind".')
                    state.inject(**fault)
                result = {"pending_faults": len(state.pending_faults())}
            elif route == ("PUT", "rate"):
                state.set_rate(payload.get("rate") if isinstance(payload, dict) else payload)
                result = {"rate": state.rate}
            elif route == ("POST", "reset"):
                state.reset()
                result = {"reset": True}
            else:
                self._unknown_operation(f"/_emulator/{action}")
                return
        except (ValueError, TypeError) as error:
            self._send_error(400, "BadRequestException", str(error))
            return
        self._send_json(200, result)


class SesEmulator:
    """A local SES v2 endpoint for boto3, running in a background thread of this process.

    Use ``with SesEmulator() as emu:`` or :meth:`start` / :meth:`stop`, then point boto3 at
    :attr:`endpoint_url`. The scripting methods delegate to :attr:`state`.
    """

    def __init__(
        self,
        rate: float | None = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_delay: float = 2.0,
        latency: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """Configure the emulator; nothing listens until :meth:`start`.

        ``rate``: GetMessageInsights calls per second per account (None or 0: unlimited).
        ``delivery_delay``: seconds between generated timeline steps. ``latency``: uniform
        (min, max) seconds added before each GetMessageInsights answer.
        """
        low, high = latency
        if not 0 <= low <= high:
            raise ValueError(f"latency must be (min, max) with 0 <= min <= max, got {latency!r}.")
        self.state = EmulatorState(rate=rate, delivery_delay=delivery_delay)
        self._host = host
        self._port = port
        self._latency = (float(low), float(high))
        self._random = random.Random()
        self._server: _EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    def _sample_latency(self) -> float:
        """Draw one latency in seconds."""
        low, high = self._latency
        return self._random.uniform(low, high) if high > 0 else 0.0

    def start(self) -> SesEmulator:
        """Bind the socket and serve in a daemon thread; calling it while running does nothing."""
        with self._lifecycle:
            if self._server is None:
                server = _EmulatorServer((self._host, self._port), self.state, self._sample_latency)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"ses-emulator-{server.server_port}",
                    daemon=True,
                )
                thread.start()
                self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and close the socket; safe to call twice."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SesEmulator:
        """Start the emulator for a ``with`` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the emulator at the end of a ``with`` block."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The host the socket is bound to."""
        return self._host

    @property
    def port(self) -> int:
        """The port the socket is bound to (the real one when 0 was asked)."""
        if self._server is None:
            raise RuntimeError("The SES emulator is not running; call start() first.")
        return self._server.server_port

    @property
    def endpoint_url(self) -> str:
        """Base URL for boto3's ``endpoint_url`` or ``AWS_ENDPOINT_URL_SESV2``."""
        return f"http://{self._host}:{self.port}"

    @property
    def rate(self) -> float | None:
        """GetMessageInsights calls per second per account, or None when unlimited."""
        return self.state.rate

    def add_message(
        self,
        message_id: str | None = None,
        *,
        recipients: list[dict[str, Any]] | None = None,
        from_address: str = "sender@example.com",
        subject: str | None = "Hello",
        tags: dict[str, str] | None = None,
        visible_after: float = 0.0,
    ) -> str:
        """Script a message (see :meth:`EmulatorState.add_message`) and return its id."""
        return self.state.add_message(
            message_id,
            recipients=recipients,
            from_address=from_address,
            subject=subject,
            tags=tags,
            visible_after=visible_after,
        )

    def add_messages(self, specs: list[dict[str, Any]]) -> list[str]:
        """Script several messages given as dicts of :meth:`add_message` arguments."""
        return self.state.add_messages(specs)

    @property
    def calls(self) -> list[CallRecord]:
        """A copy of the call log, in arrival order."""
        return self.state.calls()

    def throttled_count(self) -> int:
        """How many logged calls were answered 429."""
        return self.state.throttled_count()

    def clear_calls(self) -> None:
        """Empty the call log."""
        self.state.clear_calls()

    def inject(
        self, kind: str, count: int = 1, *, message_id: str | None = None, seconds: float = 0.0
    ) -> None:
        """Queue faults for the next matching GetMessageInsights calls (see ``FAULT_KINDS``)."""
        self.state.inject(kind, count, message_id=message_id, seconds=seconds)

    def set_rate(self, rate: float | None) -> None:
        """Change the GetMessageInsights rate (None or 0: unlimited)."""
        self.state.set_rate(rate)

    def reset(self) -> None:
        """Forget messages, faults, calls and rate buckets."""
        self.state.reset()
