"""The production instance (deploy/dagster.yaml) keeps run history and materializations in PostgreSQL."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from ml_assets_tests.conftest import ASSET_NAMES, materialize

PRODUCTION_YAML = Path(__file__).parents[2] / "deploy" / "dagster.yaml"


def test_the_full_graph_runs_on_the_postgres_instance(
    data_dir: Path, tmp_path: Path, postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2
    from dagster._core.run_coordinator import QueuedRunCoordinator

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    for variable, value in postgres_env.items():
        monkeypatch.setenv(variable, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
        result = materialize(data_dir, instance)
    assert result.success
    assert not (home / "history").exists(), "the instance fell back to SQLite"

    with (
        psycopg2.connect(
            host=postgres_env["DAGSTER_PG_HOST"],
            port=postgres_env["DAGSTER_PG_PORT"],
            user=postgres_env["DAGSTER_PG_USER"],
            password=postgres_env["DAGSTER_PG_PASSWORD"],
            dbname=postgres_env["DAGSTER_PG_DB"],
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT run_id, status FROM runs")
        assert cursor.fetchall() == [(result.run_id, "SUCCESS")]
        cursor.execute(
            "SELECT DISTINCT asset_key FROM event_logs"
            " WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        materialized = {dg.AssetKey.from_db_string(key) for (key,) in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM event_logs"
            " WHERE run_id = %s AND dagster_event_type = 'ASSET_CHECK_EVALUATION'",
            (result.run_id,),
        )
        (check_evaluations,) = cursor.fetchone()
    assert materialized == {dg.AssetKey(name) for name in ASSET_NAMES}
    assert check_evaluations == len(result.get_asset_check_evaluations()) > 0
