"""Benchmark 3: what the provider adds to DAG parse time, against the amazon provider's SES operator.

A DAG file importing the operator and the sensor pays for their modules (and whatever they pull
in) every time the DAG processor parses it. Each measurement runs in a fresh interpreter, so
nothing is cached in memory; the two contenders alternate, in a shuffled order each round, so a
burst of load on the machine hits both alike. Two figures per interpreter:

* marginal: the import of the modules after ``airflow.sdk`` is loaded, which every DAG file does
  first (``from airflow.sdk import DAG``): the cost the provider adds to parsing;
* total: ``airflow.sdk`` and the modules from nothing, as in a fresh parsing process.
"""

from __future__ import annotations

import json
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
import importlib, json, sys, time
started = time.perf_counter()
import airflow.sdk
loaded = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
done = time.perf_counter()
print(json.dumps({"sdk": loaded - started, "modules": done - loaded}))
"""


def probe(modules: tuple[str, ...]) -> dict[str, float]:
    """Import ``modules`` in a fresh interpreter; seconds for ``airflow.sdk`` and for the modules."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True, timeout=120
    )
    return {key: float(value) for key, value in json.loads(result.stdout.splitlines()[-1]).items()}


def run(rounds: int = ROUNDS) -> dict[str, float]:
    """Measure both contenders ``rounds`` times each, interleaved, and print medians and ratios."""
    contenders = {"provider operator + sensor": PROVIDER_MODULES, "amazon SES operator": AMAZON_MODULES}
    for modules in contenders.values():
        probe(modules)  # warm-up, not counted: writes bytecode caches, fills the OS file cache
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffler = random.Random(3)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            samples[name].append(probe(contenders[name]))
    medians = {
        name: {
            "modules": statistics.median(s["modules"] for s in runs),
            "total": statistics.median(s["sdk"] + s["modules"] for s in runs),
        }
        for name, runs in samples.items()
    }
    print(f"{rounds} fresh interpreters per contender, interleaved; medians in milliseconds.\n")
    print(
        table(
            ["contender", "modules", "marginal (after airflow.sdk)", "total (from nothing)"],
            [
                (
                    name,
                    " + ".join(contenders[name]),
                    round(medians[name]["modules"] * 1000, 1),
                    round(medians[name]["total"] * 1000, 1),
                )
                for name in contenders
            ],
        )
    )
    ours, theirs = (medians[name] for name in contenders)
    ratios = {key: ours[key] / theirs[key] for key in ("modules", "total")}
    print(
        f"\nratio provider / amazon SES operator: marginal {ratios['modules']:.3f}, "
        f"total {ratios['total']:.3f} (target at most {TARGET})"
    )
    return ratios
