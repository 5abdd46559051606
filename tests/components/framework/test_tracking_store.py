"""MLflow's SQLite tracking database is created once, even by racing processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from gristmill.components.framework.tracking_store import (
    SCHEMA_SOURCE_ENV,
    ensure_tracking_store,
    needs_creation,
    sqlite_path,
)

pytestmark = pytest.mark.integration


def test_racing_processes_all_find_a_complete_schema(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert needs_creation(uri)
    code = ("import sys; "
            "from gristmill.components.framework.tracking_store import ensure_tracking_store;"
            "ensure_tracking_store(sys.argv[1]);"
            "from mlflow import MlflowClient;"
            "c = MlflowClient(sys.argv[1]); e = c.get_experiment_by_name('Default');"
            "print(e.experiment_id)")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=240) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0], [r[1][-500:] for r in results]
    assert {r[0].strip() for r in results} == {"0"}
    assert not needs_creation(uri)


@pytest.mark.unit
def test_only_sqlite_uris_have_a_file():
    assert sqlite_path("sqlite:////a/b/mlflow.db").as_posix() == "/a/b/mlflow.db"
    assert sqlite_path("postgresql://u@h/db") is None
    assert not needs_creation("http://127.0.0.1:5000")


_KILLABLE_CREATION = """
import sys, time
import mlflow.store.db.utils as utils
real = utils._upgrade_db
def slow(engine):
    print("migrating", flush=True)
    time.sleep(60)
    real(engine)
utils._upgrade_db = slow
from gristmill.components.framework.tracking_store import ensure_tracking_store
ensure_tracking_store(sys.argv[1])
"""


def _default_experiment(uri: str) -> str:
    from mlflow import MlflowClient

    return MlflowClient(uri).get_experiment_by_name("Default").experiment_id


def test_a_creation_killed_mid_schema_leaves_nothing_that_stays_broken(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**os.environ, SCHEMA_SOURCE_ENV: "migrations"}  # the slow path, to kill it midway
    process = subprocess.Popen([sys.executable, "-c", _KILLABLE_CREATION, uri],
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "migrating"  # tables half made
    process.kill()
    process.wait()

    assert needs_creation(uri)  # no half-made mlflow.db under the real name
    ensure_tracking_store(uri)
    assert _default_experiment(uri) == "0"
    assert not (tmp_path / "mlflow.db.creating").exists()


def test_a_half_made_database_without_runs_is_moved_aside_and_rebuilt(tmp_path, caplog):
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlExperiment

    db = tmp_path / "mlflow.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    SqlExperiment.__table__.create(engine)  # what a killed creation left
    engine.dispose()

    with caplog.at_level(logging.WARNING):
        ensure_tracking_store(f"sqlite:///{db}")

    assert _default_experiment(f"sqlite:///{db}") == "0"
    (moved,) = tmp_path.glob("mlflow.db.broken-*")
    assert str(moved) in caplog.text and "holds no runs" in caplog.text


@pytest.mark.parametrize("source", ["script", "migrations"])
def test_a_creation_stopped_by_a_full_disk_is_retried_by_the_next_opener(tmp_path, source):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**os.environ, SCHEMA_SOURCE_ENV: source}
    full_disk = ("import resource, signal, sys\n"
                 "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                 "resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))\n"
                 "from gristmill.components.framework.tracking_store import "
                 "ensure_tracking_store\n"
                 "ensure_tracking_store(sys.argv[1])\n")
    failed = subprocess.run([sys.executable, "-c", full_disk, uri], capture_output=True,
                            text=True, timeout=240, env=env)
    assert failed.returncode != 0
    assert "disk I/O error" in failed.stderr or "disk is full" in failed.stderr

    assert needs_creation(uri)
    ensure_tracking_store(uri)
    assert _default_experiment(uri) == "0"


_OPEN_AND_REPORT_IMPORTS = ("import sys\n"
                            "from gristmill.components.framework.tracking_store import "
                            "ensure_tracking_store\n"
                            "ensure_tracking_store(sys.argv[1])\n"
                            "print('mlflow' in sys.modules)\n")


def _opened_with_mlflow_import(uri: str) -> bool:
    """Run ensure_tracking_store in a fresh interpreter; True when it imported MLflow."""
    done = subprocess.run([sys.executable, "-c", _OPEN_AND_REPORT_IMPORTS, uri],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"True": True, "False": False}[done.stdout.strip()]


def _stamp(db, revision: str) -> None:
    import sqlite3

    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    connection.close()


def test_the_head_revision_read_from_the_files_is_mlflows():
    from mlflow.store.db.utils import _get_latest_schema_revision

    from gristmill.components.framework.tracking_store import mlflow_head_revision

    assert mlflow_head_revision() == _get_latest_schema_revision()


def test_a_fresh_store_is_created_and_one_at_head_is_opened_without_importing_mlflow(tmp_path):
    from gristmill.components.framework.tracking_store import schema_at_head
    from gristmill.metadata.db_url import sqlite_url

    db = tmp_path / "a #dir?%20" / "mlflow.db"  # URL characters in the path
    uri = sqlite_url(db)
    assert not schema_at_head(db)
    assert not _opened_with_mlflow_import(uri)  # fresh: built from mlflow_schema.sql
    assert schema_at_head(db) and _default_experiment(uri) == "0"
    assert not _opened_with_mlflow_import(uri)  # at head: a sqlite3 read, no MLflow


def test_a_store_at_an_older_revision_goes_through_mlflow(tmp_path):
    from gristmill.components.framework.tracking_store import schema_at_head

    empty, used = tmp_path / "empty" / "mlflow.db", tmp_path / "used" / "mlflow.db"
    setup = ("import sys; from mlflow import MlflowClient; "
             "from gristmill.components.framework.tracking_store import ensure_tracking_store; "
             "[ensure_tracking_store(u) for u in sys.argv[1:]]; "
             "MlflowClient(sys.argv[2]).create_run('0')")
    subprocess.run([sys.executable, "-c", setup, f"sqlite:///{empty}", f"sqlite:///{used}"],
                   check=True, timeout=240)
    for db in (empty, used):
        _stamp(db, "0584bdc529eb")  # an older MLflow's schema
        assert not schema_at_head(db)
    opened = [subprocess.run([sys.executable, "-c", _OPEN_AND_REPORT_IMPORTS, f"sqlite:///{db}"],
                             capture_output=True, text=True, timeout=240) for db in (empty, used)]

    assert opened[0].returncode == 0 and opened[0].stdout.strip() == "True"  # through MLflow
    assert "holds no runs" in opened[0].stderr and schema_at_head(empty)  # moved aside, rebuilt
    assert opened[1].returncode != 0  # runs to lose: left for `mlflow db upgrade` or a restore
    assert "out-of-date database schema" in opened[1].stderr and not schema_at_head(used)
