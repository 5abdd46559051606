"""Schema revisions of the metadata database, through alembic only.

Opening a store calls :func:`ensure_schema`, which is cheap: it reads ``alembic_version``
with one query and compares it with :data:`HEAD_REVISION`. Alembic itself is imported only
when a brand-new database must be created. A database at any other revision raises
:class:`~gristmill.metadata.errors.SchemaVersionError` naming ``gristmill db upgrade``;
:func:`upgrade` (behind that command) moves it to the head.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gristmill.metadata.errors import SchemaVersionError, StoreError
from gristmill.metadata.locks import exclusive_file_lock
from gristmill.metadata.settings import redact_url, resolve_metadata_url, sqlite_path
from gristmill.metadata.sql.session import create_store_engine
from gristmill.metadata.sql.sqlite_file import (
    DamagedStoreError,
    check_header,
    create_atomically,
    first_line,
    is_damage_error,
    quick_check,
)

# The newest migration in metadata/migrations/versions; tests check it is alembic's one head.
HEAD_REVISION = "0001"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_VERSION_TABLE = "alembic_version"
_OUR_TABLES = ("artifact_types", "artifacts", "executions", "contexts", "events")


def read_revision(connection: Connection) -> str | None:
    """The revision stamped in ``alembic_version``.

    Returns:
        The revision; ``None`` for a database without our tables (a new one);
        ``"unversioned"`` when our tables exist without a revision stamp.
    """
    try:
        with connection.begin_nested():
            row = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).first()
        return row[0] if row else None
    except SQLAlchemyError:  # no alembic_version table: new, or made without alembic
        pass
    present = set(inspect(connection).get_table_names())
    if present.intersection(_OUR_TABLES):
        return "unversioned"
    return None


def ensure_schema(engine: Engine, url: str) -> None:
    """Create the schema in an empty database; refuse one at another revision or damaged.

    A missing SQLite file is built atomically (see :mod:`.sqlite_file`); an existing one
    must have SQLite's header and, when small, pass ``PRAGMA quick_check``.

    Args:
        engine: Engine of the store being opened.
        url: The resolved URL (redacted before it is shown).

    Raises:
        SchemaVersionError: The database is at a revision other than :data:`HEAD_REVISION`.
        DamagedStoreError: The SQLite file is empty, not SQLite, or fails its check.
    """
    path = sqlite_path(url)
    if path is not None:
        _ensure_sqlite_file(engine, url, path)
    revision = _read_revision_once(engine, url)
    if revision is None or revision == "unversioned":
        with _upgrade_lock(url):
            revision = _settled_revision(engine, url)
            if revision is None:
                _run_alembic_upgrade(engine)
                return
    if revision == HEAD_REVISION:
        return
    if revision != "unversioned" and revision not in known_revisions():
        raise SchemaVersionError(
            f"metadata database {redact_url(url)} is at schema revision {revision}, which this "
            f"gristmill does not know (it needs {HEAD_REVISION}); a newer gristmill wrote it.",
            fix="upgrade gristmill, or open another metadata database")
    raise SchemaVersionError(
        f"metadata database {redact_url(url)} is at schema revision {revision}, "
        f"this gristmill needs {HEAD_REVISION}.",
        fix=f"run `gristmill db upgrade --url {redact_url(url)}`")


def _ensure_sqlite_file(engine: Engine, url: str, path: Path, *, full_check: bool = False
                        ) -> None:
    """Build a missing SQLite store atomically; refuse an existing one that is damaged."""
    if not path.exists():
        with _upgrade_lock(url):
            create_atomically(path, _build_new_database)
    check_header(path)
    quick_check(engine, path, force=full_check)


def _build_new_database(url: str) -> None:
    """The whole schema in a fresh SQLite file (no WAL, so the file alone holds it): from
    the schema dump of :data:`HEAD_REVISION` when there is one, else by the migrations."""
    from sqlalchemy import create_engine

    from gristmill.metadata.sql.schema_script import build_from_script

    if build_from_script(sqlite_path(url), HEAD_REVISION):
        return
    engine = create_engine(url)
    try:
        _run_alembic_upgrade(engine)
    finally:
        engine.dispose()


def _settled_revision(engine: Engine, url: str, attempts: int = 20, pause: float = 0.1
                      ) -> str | None:
    """The revision, read again while it looks half-made.

    "unversioned" can be another process's upgrade caught between creating the tables and
    stamping the revision: on SQLite the upgrade lock waits it out; on PostgreSQL (whose
    upgrades serialise inside alembic's transaction) one opener in eight processes still
    saw it once, under load, in a CI rehearsal. A database that stays unversioned for
    ``attempts * pause`` seconds really is.
    """
    revision = _read_revision_once(engine, url)
    for _ in range(attempts - 1):
        if revision != "unversioned":
            break
        time.sleep(pause)
        revision = _read_revision_once(engine, url)
    return revision


def known_revisions() -> set[str]:
    """Every revision id among our migrations (imports alembic; for error paths and tests)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def _read_revision_once(engine: Engine, url: str) -> str | None:
    try:
        with engine.connect() as connection:
            revision = read_revision(connection)
            connection.rollback()
            return revision
    except SQLAlchemyError as e:
        path = sqlite_path(url)
        if path is not None and is_damage_error(e):
            raise DamagedStoreError(path, f"SQLite cannot read it ({first_line(e)})") from e
        fix = (f"check that {path} is a readable file in a writable folder" if path else
               "check that the database server runs and the URL is right")
        raise StoreError(f"cannot open metadata database {redact_url(url)}: "
                         f"{type(e).__name__}: {first_line(e)}", fix=fix) from e


def upgrade(url: str | None, revision: str = "head") -> str:
    """Upgrade the metadata database at ``url`` to ``revision`` (default: the head).

    Returns:
        The revision the database is at afterwards.

    Raises:
        StoreError: The migration failed (the message names the redacted URL).
    """
    resolved = resolve_metadata_url(url)
    engine = create_store_engine(resolved)
    try:
        path = sqlite_path(resolved)
        if path is not None:
            _ensure_sqlite_file(engine, resolved, path, full_check=True)
        with _upgrade_lock(resolved):
            _run_alembic_upgrade(engine, revision)
        return current_revision(resolved, engine=engine) or "base"
    finally:
        engine.dispose()


def current_revision(url: str | None, *, engine: Engine | None = None) -> str | None:
    """The schema revision of the database at ``url``; None when it has no schema yet.

    Raises:
        StoreError: The database cannot be reached.
    """
    resolved = resolve_metadata_url(url)
    own = engine is None
    engine = engine or create_store_engine(resolved)
    try:
        return _read_revision_once(engine, resolved)
    finally:
        if own:
            engine.dispose()


def alembic_config(connection: Connection | None = None):
    """A programmatic alembic Config for our migrations (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _run_alembic_upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
    except SQLAlchemyError as e:
        raise StoreError(f"upgrading the metadata database {redact_url(str(engine.url))} to "
                         f"{revision} failed: {type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _upgrade_lock(url: str) -> Iterator[None]:
    """Serialise schema creation between processes (PostgreSQL locks inside env.py)."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    with exclusive_file_lock(f"{path}.migrate-lock"):
        yield

