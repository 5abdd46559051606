"""Build a new SQLite metadata database from a dump of its schema, without alembic.

Importing alembic and running the migrations took 0.26-0.45 s of every first run on a new
home, on the main thread before the first component starts (py-spy of a cold penguin run).
``schema_<revision>.sql`` is the :mod:`sqlite3` dump of a database the migrations built;
when its revision is :data:`~gristmill.metadata.sql.migrate.HEAD_REVISION`, a new SQLite
store is built from it instead. PostgreSQL stores, and any revision without a dump, still go
through alembic. ``tests/metadata/test_schema_script.py`` builds a database both ways and
compares every table, index and row; ``python -m gristmill.metadata.sql.schema_script``
writes the dump for the head revision (run it after adding a migration).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gristmill.metadata.sqlite_dump import read_dump, run_dump, write_dump

SCRIPT_DIR = Path(__file__).resolve().parent


def script_path(revision: str) -> Path:
    """Where the dump of ``revision``'s schema lives."""
    return SCRIPT_DIR / f"schema_{revision}.sql"


def schema_script(revision: str) -> str | None:
    """The dump for ``revision``, or None when there is none (or it is for another one)."""
    return read_dump(script_path(revision), _header(revision))


def build_from_script(database: str | Path, revision: str) -> bool:
    """Create the schema in the new SQLite file ``database``; False when there is no dump."""
    script = schema_script(revision)
    if script is None:
        return False
    run_dump(database, script)
    return True


def write_schema_script(revision: str, built_database: str | Path,
                        path: Path | None = None) -> Path:
    """Dump ``built_database`` (made by the migrations at ``revision``) as its script."""
    return write_dump(built_database, path or script_path(revision), _header(revision))


def _header(revision: str) -> str:
    return f"-- gristmill metadata schema at alembic revision {revision}; see schema_script.py"


def main() -> None:
    """Build the head schema with alembic in a temporary file and dump it."""
    import tempfile

    from sqlalchemy import create_engine

    from gristmill.metadata.db_url import sqlite_url
    from gristmill.metadata.sql.migrate import HEAD_REVISION, _run_alembic_upgrade

    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder, "metadata.db")
        engine = create_engine(sqlite_url(database))
        try:
            _run_alembic_upgrade(engine)
        finally:
            engine.dispose()
        print(write_schema_script(HEAD_REVISION, database))


if __name__ == "__main__":
    main()
    sys.exit(0)
