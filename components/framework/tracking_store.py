"""Create MLflow's SQLite tracking database once, safely across processes and crashes.

Creating the schema (MLflow's own alembic migrations) takes 1-2 s here. The orchestrator's
mirror starts ``python -m gristmill.components.framework.tracking_store URI`` when a run
begins on a home whose tracking database does not exist yet, so the schema is built on
another core while the pipeline works. Everything that opens the database first (this
module's process, the Pusher, the mirror's replay) does so under one exclusive file lock.

The schema is built in ``mlflow.db.creating`` and renamed into place only when complete, so
a creation killed in its first seconds, or stopped by a full disk, leaves no half-made
``mlflow.db``: the next opener builds it again. A database that MLflow cannot open and that
holds no runs (half-made by an older version, empty, or not SQLite) is moved aside to
``mlflow.db.broken-<time>`` with a warning naming it, and rebuilt.

Importing MLflow costs 1.5-2.7 CPU-seconds, so a database whose ``alembic_version`` already
is MLflow's head revision (the common case: read with :mod:`sqlite3`, the head from the
migration files MLflow ships) is taken as sound without importing MLflow at all.

Running MLflow's ~100 migrations on a new database costs ~6 CPU-seconds (alembic copies
SQLite tables to alter them), on every new home. ``mlflow_schema.sql`` is the SQL dump of a
database those migrations built, stamped with their head revision; when it matches the
installed MLflow's head, a new database is built from it with :mod:`sqlite3` (~10 ms, no
MLflow import). Otherwise the migrations run as before. ``tests/components/framework/
test_tracking_store_schema.py`` builds both and compares every table, index and row;
``python -m gristmill.components.framework.tracking_store --write-schema-script``
regenerates the dump after an MLflow upgrade.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gristmill.metadata.db_url import redact_url, sqlite_file, sqlite_url
from gristmill.metadata.locks import exclusive_file_lock
from gristmill.metadata.mlflow_schema import mlflow_head_revision, schema_at_head
from gristmill.metadata.sqlite_dump import read_dump, run_dump, write_dump

__all__ = ["build_if_missing", "creation_lock", "ensure_tracking_store", "mlflow_head_revision",
           "needs_creation", "schema_at_head", "schema_script", "sqlite_path",
           "write_schema_script"]

log = logging.getLogger(__name__)
CREATING_SUFFIX = ".creating"
#: MLflow's schema at its head revision, dumped from a database its migrations built
SCHEMA_SCRIPT = Path(__file__).with_name("mlflow_schema.sql")
#: ``migrations`` builds new databases with MLflow's migrations even when the dump matches
SCHEMA_SOURCE_ENV = "GRISTMILL_MLFLOW_SCHEMA"


def sqlite_path(tracking_uri: str | None) -> Path | None:
    """The database file behind a ``sqlite:///`` tracking URI; None for anything else."""
    return sqlite_file(tracking_uri) if tracking_uri else None


@contextlib.contextmanager
def creation_lock(tracking_uri: str | None) -> Iterator[None]:
    """Hold the exclusive lock that serialises first opens of a SQLite tracking database."""
    db = sqlite_path(tracking_uri)
    if db is None:
        yield
        return
    with exclusive_file_lock(f"{db}.init.lock"):
        yield


def ensure_tracking_store(tracking_uri: str) -> None:
    """Make sure the tracking database's schema exists (creating or repairing it, locked).

    Raises:
        Exception: MLflow's error for a database that holds runs and still fails to open
            (left alone: it needs ``mlflow db upgrade`` or a restore, not a rebuild).
    """
    db = sqlite_path(tracking_uri)
    if db is not None and schema_at_head(db):
        return  # complete (databases appear under their name only when built): no MLflow import
    with creation_lock(tracking_uri):
        if db is not None and build_if_missing(db) and schema_at_head(db):
            return  # built at head (MLflow adds its Default experiment on first open)
        try:
            _open(tracking_uri)
        except Exception as e:
            if db is None or not _rebuildable(db):
                raise
            moved = db.with_name(f"{db.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            _forget_engine(tracking_uri)
            os.replace(db, moved)
            log.warning("MLflow tracking database %s could not be opened (%s) and holds no "
                        "runs; moved it to %s and built a new one", db,
                        str(e).splitlines()[0][:200] if str(e) else type(e).__name__, moved)
            build_if_missing(db)
            _open(tracking_uri)


def build_if_missing(db: Path) -> bool:
    """Build MLflow's schema in ``<db>.creating`` and rename it to ``db``; False if present.

    Built from ``mlflow_schema.sql`` when its revision is the installed MLflow's head, else
    by MLflow's own migrations."""
    if db.exists():
        return False
    db.parent.mkdir(parents=True, exist_ok=True)
    temporary = db.with_name(db.name + CREATING_SUFFIX)
    _remove_with_sidecars(temporary)  # an earlier, interrupted creation
    try:
        script = schema_script(mlflow_head_revision())
        if script is None:
            migrate_new_database(temporary)
        else:
            run_dump(temporary, script)
        os.replace(temporary, db)
    finally:
        _remove_with_sidecars(temporary)
    return True


def migrate_new_database(db: Path) -> None:
    """Create MLflow's schema in the new SQLite file ``db`` with MLflow's own migrations."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(sqlite_url(db))
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def schema_script(head: str | None) -> str | None:
    """The SQL of ``mlflow_schema.sql`` when it was dumped at revision ``head``; else None
    (also when ``GRISTMILL_MLFLOW_SCHEMA=migrations`` asks for MLflow's migrations)."""
    if os.environ.get(SCHEMA_SOURCE_ENV) == "migrations" or head is None:
        return None
    return read_dump(SCHEMA_SCRIPT, _script_header(head))


def write_schema_script(path: Path | None = None) -> Path:
    """Build a database with MLflow's migrations and dump it to ``mlflow_schema.sql``."""
    import tempfile

    path = path or SCHEMA_SCRIPT
    head = mlflow_head_revision()
    if head is None:
        raise RuntimeError("cannot read the installed MLflow's head schema revision")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder, "mlflow.db")
        migrate_new_database(db)
        return write_dump(db, path, _script_header(head))


def _script_header(head: str) -> str:
    return f"-- MLflow tracking schema at alembic revision {head}; see tracking_store.py"


def _open(tracking_uri: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)


def _rebuildable(db: Path) -> bool:
    """True when ``db`` holds no runs to lose: empty, not SQLite, or without runs."""
    try:
        with open(db, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    if head != b"SQLite format 3\x00":
        return True
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            tables = {r[0] for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "runs" not in tables:
                return True
            return connection.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        finally:
            connection.close()
    except sqlite3.DatabaseError as e:
        return "malformed" in str(e) or "not a database" in str(e)


def _forget_engine(tracking_uri: str) -> None:
    """Drop MLflow's cached engine for the URI: its pooled connections hold the old file."""
    with contextlib.suppress(Exception):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        engine = SqlAlchemyStore._engine_map.pop(tracking_uri, None)
        if engine is not None:
            engine.dispose()


def _remove_with_sidecars(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def needs_creation(tracking_uri: str | None) -> bool:
    """True for a SQLite tracking URI whose database file does not exist yet."""
    db = sqlite_path(tracking_uri)
    return db is not None and not db.exists()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-schema-script"]:
        print(write_schema_script())
        sys.exit(0)
    try:
        ensure_tracking_store(sys.argv[1])
    except Exception as e:  # a background helper: the next opener retries and reports
        print(f"creating the MLflow store {redact_url(sys.argv[1])} failed: {e}",
              file=sys.stderr)
    sys.stdout.flush()
    os._exit(0)  # skip MLflow's interpreter teardown; the schema is committed
