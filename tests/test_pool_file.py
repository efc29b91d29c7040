"""The pools file the provider ships for ``airflow pools import`` creates the pool it should."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from airflow_provider_sesinsights import SES_INSIGHTS_POOL

POOLS_FILE = Path(str(files("airflow_provider_sesinsights") / "pools" / "ses_insights_pool.json"))


def test_pools_file_describes_one_slot_pool_without_deferred_tasks() -> None:
    """One pool, named by ``SES_INSIGHTS_POOL``, of one slot, deferred tasks not counted (a long
    deferred wait must not block every other task)."""
    pools = json.loads(POOLS_FILE.read_text(encoding="utf-8"))
    assert list(pools) == [SES_INSIGHTS_POOL]
    assert pools[SES_INSIGHTS_POOL]["slots"] == 1
    assert pools[SES_INSIGHTS_POOL]["include_deferred"] is False


def test_airflow_pools_import_creates_the_pool(airflow_db: Path) -> None:
    """The file goes through the code of ``airflow pools import`` into the metadata DB."""
    from airflow.cli.commands.pool_command import pool_import_helper
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    created, failed = pool_import_helper(str(POOLS_FILE))
    assert failed == []
    assert len(created) == 1
    with create_session() as session:
        pool = session.query(Pool).filter(Pool.pool == SES_INSIGHTS_POOL).one()
        assert (pool.slots, pool.include_deferred) == (1, False)
        session.delete(pool)
