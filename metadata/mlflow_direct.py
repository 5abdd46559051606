"""What MLflow's direct SQLite writers share; standard library only, no MLflow import.

Two writers put MLflow's rows into a local SQLite tracking store with :mod:`sqlite3` instead
of importing MLflow (1-2 CPU-seconds): the detached replay's
(:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`) and the Pusher's registry writer
(:mod:`~gristmill.components.pusher.registry_sqlite`). Both write only into a store at
exactly :data:`SCHEMA_REVISION` (MLflow 3.17's head) with that MLflow installed, and refuse
(:class:`DirectWriteRefused`) whatever they cannot write exactly as MLflow's client would;
their callers then roll back and use the client. Here (in ``metadata``) so that the
orchestrator and the components can both import it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gristmill.metadata import mlflow_rules as rules

#: The MLflow schema revision (``alembic_version``) whose tables the direct writers fill;
#: MLflow 3.17's head. Any other revision is written through the client.
SCHEMA_REVISION = "dc11669786a5"
DEFAULT_WORKSPACE = "default"


class DirectWriteRefused(Exception):
    """A direct writer cannot write this exactly as MLflow would; use the client."""


def now_ms() -> int:
    """MLflow's clock: milliseconds since the epoch."""
    return int(time.time() * 1000)


def store_refusal(tracking_uri: str) -> str | None:
    """Why a write into ``tracking_uri`` must use MLflow's client; None when a direct writer
    may (a local SQLite store at :data:`SCHEMA_REVISION`, the installed MLflow at the same
    head, no environment variable that changes what the client writes)."""
    from gristmill.metadata.db_url import sqlite_file
    from gristmill.metadata.mlflow_schema import mlflow_head_revision, schema_at_head

    db = sqlite_file(tracking_uri)
    if db is None:
        return "not a local SQLite tracking URI"
    if mlflow_head_revision() != SCHEMA_REVISION:
        return f"the installed MLflow's schema is not revision {SCHEMA_REVISION}"
    if not schema_at_head(db):
        return f"the database is missing or not at schema revision {SCHEMA_REVISION}"
    if any(os.environ.get(name) for name in rules.CLIENT_ONLY_ENVIRONMENT):
        return "an MLflow environment variable changes what the client writes"
    return None


def open_store(db: Path) -> sqlite3.Connection:
    """A connection to ``db`` inside a ``BEGIN IMMEDIATE`` transaction (the write lock held
    until commit or rollback), with the pragmas MLflow's engine sets."""
    connection = sqlite3.connect(str(db), timeout=20, isolation_level=None)
    for pragma in ("foreign_keys = ON", "busy_timeout = 20000", "case_sensitive_like = true"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("BEGIN IMMEDIATE")
    return connection


def check_store(connection: sqlite3.Connection) -> None:
    """Refuse what MLflow's client would refuse when it opens the store, and add what it
    adds (the ``Default`` experiment 0)."""
    if connection.execute("SELECT version_num FROM alembic_version").fetchall() != \
            [(SCHEMA_REVISION,)]:
        raise DirectWriteRefused(f"the database is not at revision {SCHEMA_REVISION}")
    for table in ("experiments", "registered_models", "webhooks"):
        if connection.execute(f"SELECT 1 FROM {table} WHERE workspace != ?",  # noqa: S608
                              (DEFAULT_WORKSPACE,)).fetchone():
            raise DirectWriteRefused(f"{table} outside the default workspace")
    if connection.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone() \
            is None:
        create_default_experiment(connection)


class DirectTransaction:
    """One direct writer's work in a SQLite tracking store: one transaction (the write lock
    held from the start), refused if the store is not one the writers know.

    Subclasses record in :attr:`made` the artifact folders they create, so that
    :meth:`abandon` can remove them with the rows.
    """

    def __init__(self, db: Path):
        self.db = db
        self.connection = open_store(db)
        self.made: list[Path] = []  # artifact folders made here, removed by abandon()
        try:
            check_store(self.connection)
        except BaseException:
            self.abandon()  # release the write lock before the client opens the store
            raise

    def sql(self, statement: str, parameters=()) -> sqlite3.Cursor:
        """Execute one statement in the transaction."""
        return self.connection.execute(statement, parameters)

    def commit(self) -> None:
        """Make everything written here durable and release the store."""
        self.connection.execute("COMMIT")
        self.connection.close()

    def abandon(self) -> None:
        """Roll back and remove the artifact folders made here."""
        with contextlib.suppress(sqlite3.Error):  # no transaction left after a failed COMMIT
            self.connection.execute("ROLLBACK")
        self.connection.close()
        for folder in self.made:
            shutil.rmtree(folder, ignore_errors=True)


def write_directly(writer_class: Callable[[Path], DirectTransaction], db: Path,
                   work: Callable[[Any], Any]) -> tuple[bool, Any]:
    """``work(writer)`` in one direct transaction: ``(True, its result)`` once committed, or
    ``(False, why)`` when the writer refused or SQLite failed, everything rolled back and
    its folders removed (the caller then uses MLflow's client). Anything else is re-raised
    after the same rollback."""
    writer = None
    try:
        writer = writer_class(db)
        result = work(writer)
        writer.commit()
        return True, result
    except (DirectWriteRefused, sqlite3.Error) as e:
        if writer is not None:
            writer.abandon()
        return False, str(e)
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise


def create_default_experiment(connection: sqlite3.Connection) -> None:
    """Experiment 0, ``Default``, as MLflow's client adds it when it first opens a database
    (one built from the schema dump has none): its artifacts under ``./mlruns/0`` of the
    opening process's working directory."""
    created = now_ms()
    location = f"{Path.cwd().joinpath('mlruns').as_posix()}/0"
    connection.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
        "creation_time, last_update_time, workspace) VALUES (0, 'Default', ?, 'active', ?, ?, ?)",
        (location, created, created, DEFAULT_WORKSPACE))


def local_directory(location: str | None) -> Path:
    """An artifact location that is a plain, absolute, normalised local path."""
    if not location or not os.path.isabs(location) or os.path.normpath(location) != location \
            or any(c in location for c in "?#") or location.startswith("//"):
        raise DirectWriteRefused(f"artifact location {location!r} is not a local path")
    return Path(location)


def artifact_folder(artifact_dir: str, artifact_path: str | None) -> Path:
    """``artifact_dir/artifact_path``, made; only paths MLflow accepts."""
    folder = Path(artifact_dir)
    if artifact_path:
        normal = os.path.normpath(artifact_path)
        if os.path.isabs(normal) or normal == ".." or normal.startswith("../") or \
                "\\" in artifact_path:
            raise DirectWriteRefused(f"artifact path {artifact_path!r}")
        folder = folder / normal
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def copy_tree(source: str, destination: Path) -> None:
    """Copy ``source``'s folders and files (contents and times) under ``destination``, as
    MLflow's local artifact repository: existing files are overwritten."""
    for folder, subfolders, files in os.walk(source):
        relative = os.path.relpath(folder, source)
        for name in subfolders:
            (destination / relative / name).mkdir(exist_ok=True)
        for name in files:
            shutil.copy2(os.path.join(folder, name), destination / relative / name)
