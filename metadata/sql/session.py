"""Engines and the one managed-session context manager of the metadata store.

SQLite connections get WAL journaling, a busy timeout and foreign keys; write transactions
start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the database lock instead
of failing when a read lock cannot be upgraded. A unit of work that still meets "database is
locked" is retried with jittered exponential backoff. Every driver error leaves as a
:class:`~gristmill.metadata.errors.StoreError` (``raise ... from e``) naming the redacted URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from gristmill.metadata.errors import StoreError
from gristmill.metadata.settings import SUPPORTED_SCHEMES, redact_text, redact_url, sqlite_path
from gristmill.metadata.sql.sqlite_file import is_damage_error

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
LOCK_RETRY_ATTEMPTS = 10
_WRITE_OPTION = "gristmill_write"
#: A pooled PostgreSQL connection idle for longer than this is pinged before use (one
#: round trip); one used more recently is not. SQLAlchemy's ``pool_pre_ping`` pings on every
#: checkout, i.e. one round trip per transaction (3 per pipeline node). A server restarted
#: within this window makes the next statement fail loudly (StoreError) instead of a silent
#: reconnect, and the pool then reconnects.
PING_AFTER_IDLE_SECONDS = 5.0


def create_store_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url`` (already resolved), with SQLite tuned for concurrency.

    Raises:
        StoreError: The URL names a database other than SQLite or PostgreSQL, or is malformed.
    """
    backend = _backend(url)
    if backend not in SUPPORTED_SCHEMES:
        raise StoreError(f"metadata database {redact_url(url)}: unsupported backend "
                         f"{backend!r}; expected one of {list(SUPPORTED_SCHEMES)}.",
                         fix="use a file path, sqlite:///path or postgresql://user:pass@host/db")
    if backend == "postgresql":
        try:
            engine = create_engine(url)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StoreError(f"metadata database {redact_url(url)}: {type(e).__name__}: "
                             f"{redact_text(str(e))}",
                             fix="check the URL: postgresql://user:pass@host:port/db") from e
        _ping_idle_connections(engine)
        return engine
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:  # in-memory: one shared connection, or every session would see an empty database
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it has been idle for more than
    :data:`PING_AFTER_IDLE_SECONDS`; a failed ping makes the pool reconnect."""
    from sqlalchemy.exc import DisconnectionError

    def stamp(_dbapi_connection, record, *_args) -> None:
        record.info["gristmill_idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("gristmill_idle_since")
        if since is not None and time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:  # any driver error: a dead connection; the pool reconnects
            raise DisconnectionError(f"ping failed: {type(e).__name__}") from e

    event.listen(engine, "connect", stamp)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", checkout)


def _backend(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return url.split("://", 1)[0].split("+", 1)[0]


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Take transaction control away from pysqlite so that "begin" below decides how to BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    try:
        _switch_to_wal(cursor)
    except UnicodeDecodeError as e:
        # A damaged schema page: SQLite's own error text quotes the garbled bytes and
        # pysqlite cannot decode it. Raise a driver error the damage checks recognise.
        raise sqlite3.DatabaseError("file is not a database (its schema text could not "
                                    f"be decoded: {str(e)[:80]})") from e
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _switch_to_wal(cursor, attempts: int = 50) -> None:
    """``PRAGMA journal_mode = WAL``, retried: switching a brand-new file into WAL needs it
    to itself, and SQLite answers "database is locked" at once, without the busy handler,
    while another process is creating the schema in it."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.01 + random.random() * 0.05 * (1 + attempt % 5))


def _begin_sqlite_transaction(connection) -> None:
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_locked_error(error: BaseException) -> bool:
    """True for SQLite's transient "database is locked" / "database is busy" errors."""
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, OperationalError) and ("locked" in text or "busy" in text)


class Database:
    """One engine plus the managed session and retrying transactions over it.

    Args:
        engine: From :func:`create_store_engine`.
        url: The resolved URL, shown (redacted) in errors.
    """

    def __init__(self, engine: Engine, url: str):
        self.engine = engine
        self.url = url
        self.redacted_url = redact_url(url)
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        #: Artifact types stored and committed through this store: (name, property kinds)
        #: -> id. Types are never deleted and a stored kind never changes, so a hit needs
        #: no query (saves one round trip per registered output type).
        self.artifact_type_ids: dict[tuple, int] = {}

    @contextlib.contextmanager
    def session(self, *, write: bool = False, autocommit: bool = False) -> Iterator[Session]:
        """The managed session: commits on success, rolls back on error.

        Args:
            write: Start the transaction as a writer (``BEGIN IMMEDIATE`` on SQLite).
            autocommit: On PostgreSQL, run each statement in its own implicit transaction
                (no ``BEGIN``/``COMMIT`` round trips). Only for reads of ONE statement:
                it then sees the same snapshot it would inside a transaction.

        Raises:
            StoreError: From any SQLAlchemy/driver error, chained with ``from``.
        """
        session = self._sessions()
        try:
            options: dict = {_WRITE_OPTION: write}
            if autocommit and not write and self.engine.dialect.name == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            session.connection(execution_options=options)
            yield session
            session.commit()
        except SQLAlchemyError as e:
            session.rollback()
            raise _StoreDriverError(
                f"metadata database {self.redacted_url} failed: {type(e).__name__}: "
                f"{_first_line(e)}", locked=is_locked_error(e),
                damaged_file=sqlite_path(self.url) if is_damage_error(e) else None) from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:  # a stored value is garbled
            session.rollback()
            path = sqlite_path(self.url)
            raise _StoreDriverError(
                f"metadata database {self.redacted_url}: a stored value cannot be decoded "
                f"({type(e).__name__}: {str(e)[:120]}).", locked=False,
                damaged_file=path) from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, write: bool,
            autocommit: bool = False) -> T:
        """Run ``work(session)`` in one transaction, retrying it while SQLite is locked."""
        for attempt in range(LOCK_RETRY_ATTEMPTS):
            try:
                with self.session(write=write, autocommit=autocommit) as session:
                    return work(session)
            except _StoreDriverError as e:
                if not e.locked or attempt == LOCK_RETRY_ATTEMPTS - 1:
                    raise
                delay = min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random())
                log.debug("metadata database %s is locked; retry %d in %.2fs",
                          self.redacted_url, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Session], T], *, one_statement: bool = False) -> T:
        """Run read-only ``work(session)``; see :meth:`run`.

        Args:
            one_statement: ``work`` sends a single SELECT: on PostgreSQL it then runs in
                autocommit, saving the ``BEGIN`` and ``COMMIT`` round trips.
        """
        return self.run(work, write=False, autocommit=one_statement)

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` as one write transaction; see :meth:`run`."""
        return self.run(work, write=True)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class _StoreDriverError(StoreError):
    """A StoreError from the driver; ``locked`` marks the retryable SQLite lock errors."""

    def __init__(self, message: str, *, locked: bool, damaged_file=None):
        self.locked = locked
        fix = ("another process holds the SQLite lock for too long; retry, or use PostgreSQL "
               "for many concurrent writers") if locked else None
        if damaged_file is not None:
            fix = (f"the file is damaged: restore {damaged_file} from a backup, or "
                   f"`mv {damaged_file} {damaged_file}.damaged` to start an empty store")
        elif damaged_file is None and "decoded" in message:
            fix = "the database holds a damaged value: restore it from a backup"
        super().__init__(message, fix=fix)


def _first_line(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]
