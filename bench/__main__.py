"""Run the benchmarks: ``python -m bench`` for all four, or name some (``python -m bench parse``)."""

from __future__ import annotations

import argparse
import importlib
import time

from bench.common import isolate_environment, machine_summary

BENCHMARKS = {
    "throughput": "batch throughput at 1 call/s against two boto3 baselines",
    "triggers": "100 deferred sensors' triggers sharing one event loop",
    "parse": "import cost of the operator and sensor modules (DAG parse time)",
    "memory": "peak memory of a 10,000-message batch to S3 against a 10-message one",
}


def main(argv: list[str] | None = None) -> None:
    """Print the machine's facts, then run each chosen benchmark in the order listed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)}")
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    isolate_environment()  # before any benchmark module imports Airflow
    print(machine_summary(), flush=True)
    for name in BENCHMARKS:
        if name not in names:
            continue
        print(f"\n## {name}: {BENCHMARKS[name]}\n", flush=True)
        started = time.monotonic()
        importlib.import_module(f"bench.{name}").run()
        print(f"\n({name} took {time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
