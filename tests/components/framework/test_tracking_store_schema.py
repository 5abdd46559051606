"""A tracking database built from ``mlflow_schema.sql`` is the one MLflow's migrations build."""

from __future__ import annotations

import sqlite3

import pytest

from gristmill.components.framework import tracking_store
from gristmill.components.framework.tracking_store import (
    SCHEMA_SOURCE_ENV,
    build_if_missing,
    ensure_tracking_store,
    mlflow_head_revision,
    schema_at_head,
    schema_script,
)
from gristmill.metadata.db_url import sqlite_url

pytestmark = pytest.mark.integration
REGENERATE = "python -m gristmill.components.framework.tracking_store --write-schema-script"


def _definitions(sql: str | None) -> list[str] | None:
    """A CREATE statement's lines (one column or constraint each), in sorted order.

    MLflow's migrations are not deterministic in two details: alembic's batch mode rebuilds
    a table with its named CHECK constraints in set order, and indexes are created in set
    order, so two migrated databases differ in those orders (seen on ``runs``). Columns
    keep their order (``table_xinfo`` below); constraints and indexes are compared as sets.
    """
    return None if sql is None else sorted(line.strip().rstrip(",").strip()
                                           for line in sql.splitlines())


def _everything(db) -> dict:
    """Every schema object's definition, every table's columns, indexes and rows."""
    connection = sqlite3.connect(db)
    try:
        master = sorted((kind, name, table, _definitions(sql)) for kind, name, table, sql in
                        connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        tables = [name for kind, name, _, _ in master if kind == "table"]
        found = {"master": master}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            found[table] = {
                "columns": connection.execute(f"PRAGMA table_xinfo({quoted})").fetchall(),
                "indexes": sorted(row[1:] for row in connection.execute(
                    f"PRAGMA index_list({quoted})")),
                "foreign_keys": connection.execute(
                    f"PRAGMA foreign_key_list({quoted})").fetchall(),
                "rows": sorted(map(repr, connection.execute(f"SELECT * FROM {quoted}")))}
        return found
    finally:
        connection.close()


def test_the_script_is_dumped_at_the_installed_mlflows_head():
    assert schema_script(mlflow_head_revision()) is not None, (
        f"components/framework/mlflow_schema.sql is not at MLflow's head revision "
        f"{mlflow_head_revision()}: new tracking databases fall back to MLflow's migrations "
        f"(~6 CPU-s each). Regenerate it with `{REGENERATE}` and review the diff.")


def test_script_and_migrations_build_the_same_database(tmp_path, monkeypatch):
    from_script, from_migrations = tmp_path / "script" / "mlflow.db", tmp_path / "mig" / "mlflow.db"
    assert build_if_missing(from_script)
    monkeypatch.setenv(SCHEMA_SOURCE_ENV, "migrations")
    assert schema_script(mlflow_head_revision()) is None
    assert build_if_missing(from_migrations)

    script_db, migrated_db = _everything(from_script), _everything(from_migrations)
    assert len(script_db["master"]) > 60  # tables and indexes of MLflow 3
    assert script_db == migrated_db
    assert schema_at_head(from_script) and schema_at_head(from_migrations)


def test_mlflow_works_the_same_on_both(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    results = []
    for source in ("script", "migrations"):
        monkeypatch.setenv(SCHEMA_SOURCE_ENV, source)
        uri = sqlite_url(tmp_path / source / "mlflow.db")
        ensure_tracking_store(uri)
        client = MlflowClient(tracking_uri=uri)
        experiment = client.create_experiment("e", artifact_location=str(tmp_path / "art"))
        run = client.create_run(experiment, run_name="r")
        client.log_metric(run.info.run_id, "m", 0.5, step=3)
        client.log_param(run.info.run_id, "p", "v")
        client.create_registered_model("model")
        found = client.search_runs([experiment])
        results.append((client.get_experiment_by_name("Default").experiment_id, experiment,
                        [(r.info.run_name, r.data.metrics, r.data.params) for r in found],
                        [m.name for m in client.search_registered_models()]))
    assert results[0] == results[1] == ("0", "1", [("r", {"m": 0.5}, {"p": "v"})], ["model"])


def test_a_stale_script_is_not_used(tmp_path, monkeypatch):
    stale = tmp_path / "mlflow_schema.sql"
    stale.write_text(tracking_store._script_header("0584bdc529eb") + "\nSELECT 1;\n")
    monkeypatch.setattr(tracking_store, "SCHEMA_SCRIPT", stale)
    assert schema_script(mlflow_head_revision()) is None  # an older MLflow's dump
    assert schema_script("0584bdc529eb") is not None
    db = tmp_path / "mlflow.db"
    assert build_if_missing(db) and schema_at_head(db)  # built by the migrations instead


def test_a_rewritten_script_builds_the_committed_ones_database(tmp_path, monkeypatch):
    written = tracking_store.write_schema_script(tmp_path / "mlflow_schema.sql")
    assert written.read_text().split("\n", 1)[0] == tracking_store._script_header(
        mlflow_head_revision())
    assert build_if_missing(tmp_path / "committed" / "mlflow.db")
    monkeypatch.setattr(tracking_store, "SCHEMA_SCRIPT", written)
    assert build_if_missing(tmp_path / "rewritten" / "mlflow.db")
    assert (_everything(tmp_path / "committed" / "mlflow.db")
            == _everything(tmp_path / "rewritten" / "mlflow.db")), (
        f"MLflow's migrations now build a different schema: run `{REGENERATE}`")
