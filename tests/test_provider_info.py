"""The provider registers with Airflow correctly and its package root stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from importlib.resources import files

import jsonschema
import pytest

import airflow_provider_sesinsights
from airflow_provider_sesinsights import SES_INSIGHTS_POOL, get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_provider_info_fails_the_schema_when_broken() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    broken = {**get_provider_info(), "hooks": [{"python-modules": "not-a-list"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_entry_point_is_registered_and_package_name_matches_distribution() -> None:
    points = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_")
    ]
    assert [ep.load() for ep in points] == [get_provider_info]
    assert get_provider_info()["package-name"] == points[0].dist.name  # type: ignore[union-attr]
    assert get_provider_info()["versions"][0] == airflow_provider_sesinsights.__version__


def test_listed_modules_import() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                __import__(module)


def test_package_root_imports_nothing_heavy() -> None:
    code = (
        "import sys, airflow_provider_sesinsights as p; "
        "heavy = sorted(m for m in ('boto3', 'botocore', 'airflow', 'sqlalchemy') if m in sys.modules); "
        "print(p.SES_INSIGHTS_POOL, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == [SES_INSIGHTS_POOL, "[]"]


def test_py_typed_is_shipped() -> None:
    assert files("airflow_provider_sesinsights").joinpath("py.typed").is_file()


def _airflow_json(*args: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Airflow 3.0 prints log lines to stdout before the JSON document, which is the last line.
    return list(json.loads(out.strip().splitlines()[-1]))


def test_airflow_cli_lists_and_describes_the_provider(airflow_db: object) -> None:
    listed = {row["package_name"] for row in _airflow_json("list")}
    assert "airflow-provider-sesinsights" in listed
    (described,) = _airflow_json("get", "airflow-provider-sesinsights", "--full")
    modules = {
        section: [m for entry in described[section] for m in entry["python-modules"]]  # type: ignore[attr-defined]
        for section in ("hooks", "operators", "sensors", "triggers")
    }
    assert modules == {
        "hooks": ["airflow_provider_sesinsights.hooks.ses_insights"],
        "operators": ["airflow_provider_sesinsights.operators.ses_insights"],
        "sensors": ["airflow_provider_sesinsights.sensors.ses_insights"],
        "triggers": ["airflow_provider_sesinsights.triggers.ses_insights"],
    }
