"""Shared test set-up: an isolated Airflow home with a real SQLite metadata DB, the SES emulator,
moto's S3 server, and an ``aws_default`` connection pointing at both.

The environment is set before Airflow is imported anywhere, so every test (and every in-process
``dag.test()``) uses the temporary home and the DAG files in ``tests/dags``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
DAGS_DIR = TESTS_DIR / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sesinsights-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AWS_ACCESS_KEY_ID": "AKIDSESINSIGHTSTEST",
        "AWS_SECRET_ACCESS_KEY": "sesinsights-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2"):
    os.environ.pop(_name, None)
sys.path.insert(0, str(DAGS_DIR))


AIRFLOW_3_0 = tuple(int(part) for part in version("apache-airflow").split(".")[:2]) < (3, 1)
"""Airflow 3.0, the supported floor, whose ``dag.test()`` neither prints task logs nor hands the
task's exception to failure callbacks: tests that read either are marked ``needs_airflow_3_1``."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, on Airflow 3.0, the tests marked ``needs_airflow_3_1(reason)``, saying why."""
    if not AIRFLOW_3_0:
        return
    for item in items:
        marker = item.get_closest_marker("needs_airflow_3_1")
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"on Airflow 3.0: {marker.args[0]}"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once per session (SQLite in the temporary AIRFLOW_HOME)."""
    from airflow.utils import db

    db.initdb()
    return AIRFLOW_HOME


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A fresh SES v2 emulator on 127.0.0.1 enforcing the real limit of one call per second."""
    from airflow_provider_sesinsights.emulator import SesEmulator

    with SesEmulator(rate=1.0, delivery_delay=1.0) as emu:
        yield emu


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_endpoint(moto_server: str) -> Iterator[str]:
    """moto's S3 endpoint, emptied before the test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    yield moto_server


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client on moto's server."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def aws_connection_uri(sesv2_endpoint: str, s3_endpoint: str | None = None, **sesv2_extra: Any) -> str:
    """An ``aws`` connection (JSON form) whose SES and S3 calls go to local endpoints."""
    service_config: dict[str, Any] = {"sesv2": {"endpoint_url": sesv2_endpoint, **sesv2_extra}}
    if s3_endpoint:
        service_config["s3"] = {"endpoint_url": s3_endpoint}
    return json.dumps(
        {
            "conn_type": "aws",
            "login": os.environ["AWS_ACCESS_KEY_ID"],
            "password": os.environ["AWS_SECRET_ACCESS_KEY"],
            "extra": {"region_name": "us-east-1", "service_config": service_config},
        }
    )


@pytest.fixture
def aws_conn(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` pointing SES at the emulator (no S3); returns the connection id."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(emulator.endpoint_url))
    return "aws_default"


@pytest.fixture
def aws_conn_with_s3(emulator: Any, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` pointing SES at the emulator and S3 at moto; returns the connection id."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(emulator.endpoint_url, s3_endpoint))
    return "aws_default"


def dag_bag_class() -> Any:
    """Airflow's DagBag, from where the running Airflow keeps it (it moved in 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    return DagBag


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    """Run a DAG from ``tests/dags`` with ``dag.test()`` and return the finished DagRun."""
    DagBag = dag_bag_class()

    bag = DagBag(dag_folder=str(DAGS_DIR))  # examples are off through AIRFLOW__CORE__LOAD_EXAMPLES
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id!r} in {DAGS_DIR}: {bag.import_errors}"
    return dag.test(run_conf=conf)


def task_states(dagrun: Any) -> dict[tuple[str, int], str]:
    """``{(task_id, map_index): state}`` for every task instance of a DagRun."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dagrun.get_task_instances()}


def xcom_value(dagrun: Any, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
    """The XCom a task instance of ``dagrun`` pushed, deserialized as Airflow would."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, map_index=map_index, key=key
            )
            .one_or_none()
        )
        assert row is not None, f"no XCom {key!r} from {task_id}[{map_index}]"
        return XComModel.deserialize_value(row)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the temporary Airflow home (metadata DB, logs) at the end of the run."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
