"""Command line of the SES v2 emulator (console script ``ses-insights-emulator``).

Runs the emulator in the foreground for out-of-process users (the demo, a real Airflow
scheduler) until SIGTERM or SIGINT, after printing one line with its URL.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_sesinsights.emulator.server import SesEmulator
from airflow_provider_sesinsights.emulator.state import InvalidRequestError

if TYPE_CHECKING:
    from types import FrameType


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    parser = argparse.ArgumentParser(
        prog="ses-insights-emulator",
        description="Local Amazon SES v2 emulator (GetMessageInsights, SendEmail) for boto3.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8642, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="GetMessageInsights calls per second per access key; 0 means unlimited (default 1.0)",
    )
    parser.add_argument("--seed-file", type=Path, help="JSON list of messages, as POST /_emulator/messages")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to each GetMessageInsights answer"
    )
    parser.add_argument(
        "--delivery-delay",
        type=float,
        default=2.0,
        help="seconds between steps of generated (mailbox simulator) timelines (default 2.0)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; return the process exit code."""
    args = _parser().parse_args(argv)
    latency = max(0.0, args.latency_ms) / 1000.0
    try:
        emulator = SesEmulator(
            rate=args.rate,
            host=args.host,
            port=args.port,
            delivery_delay=args.delivery_delay,
            latency=(latency, latency),
        )
        if args.seed_file is not None:
            emulator.add_messages(json.loads(args.seed_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, InvalidRequestError) as error:
        print(f"ses-insights-emulator: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    try:
        emulator.start()
    except OSError as error:
        print(f"ses-insights-emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    rate = "unlimited" if emulator.rate is None else f"{emulator.rate:g}/s"
    print(f"SES emulator listening on {emulator.endpoint_url} (rate {rate})", flush=True)
    try:
        while not stopping.wait(0.5):
            continue
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
