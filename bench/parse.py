"""Benchmark 3: what the provider adds to DAG parse time, against the amazon provider's SES operator.

A DAG file importing the operator and the sensor pays for their modules (and whatever they pull
in) every time the DAG processor parses it. Each measurement runs in a fresh interpreter, so
nothing is cached in memory, and times only the import of the modules after ``airflow.sdk``,
which every DAG file loads first (``from airflow.sdk import DAG``): the cost the modules add to
parsing. The two contenders alternate, in a shuffled order each round, so a burst of load on the
machine hits both alike; the minimum is reported beside the median because load only ever adds
time.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys

from bench.common import table

PROVIDER_MODULES = (
    "airflow_provider_sesinsights.operators.ses_insights",
    "airflow_provider_sesinsights.sensors.ses_insights",
)
AMAZON_MODULES = ("airflow.providers.amazon.aws.operators.ses",)
ROUNDS = 11
TARGET = 1.05

_PROBE = """
import importlib, sys, time
import airflow.sdk
started = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(time.perf_counter() - started)
"""


def probe(modules: tuple[str, ...]) -> float:
    """Seconds to import ``modules`` in a fresh interpreter that has loaded ``airflow.sdk``."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True, timeout=120
    )
    return float(result.stdout.splitlines()[-1])


def run(rounds: int = ROUNDS) -> float:
    """Measure both contenders ``rounds`` times each, interleaved; print the figures and return the
    ratio of the medians."""
    contenders = {"provider operator + sensor": PROVIDER_MODULES, "amazon SES operator": AMAZON_MODULES}
    for modules in contenders.values():
        probe(modules)  # warm-up, not counted: writes bytecode caches, fills the OS file cache
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffler = random.Random(3)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            samples[name].append(probe(contenders[name]) * 1000)
    print(f"{rounds} fresh interpreters per contender, interleaved; milliseconds after airflow.sdk.\n")
    rows = []
    for name, times in samples.items():
        low, _, high = statistics.quantiles(times, n=4)
        quartiles = f"{low:.0f}-{high:.0f}"
        rows.append((name, " + ".join(contenders[name]), statistics.median(times), quartiles, min(times)))
    print(table(["contender", "modules", "median ms", "quartiles ms", "min ms"], rows))
    ours, theirs = (samples[name] for name in contenders)
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(
        f"\nratio provider / amazon SES operator: medians {ratio:.3f}, minimums "
        f"{min(ours) / min(theirs):.3f} (target at most {TARGET})"
    )
    return ratio
