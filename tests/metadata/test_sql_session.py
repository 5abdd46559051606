"""The managed session: commit/rollback, error translation, SQLite pragmas and lock retry."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from gristmill.metadata.errors import StoreError
from gristmill.metadata.sql import session as session_module
from gristmill.metadata.sql.models import ContextRow
from gristmill.metadata.sql.session import Database, create_store_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def database(tmp_path):
    from gristmill.metadata.sql.store import SqlMetadataStore

    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlMetadataStore(url).close()
    db = Database(create_store_engine(url), url)
    yield db
    db.close()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(database):
    with database.session() as session:
        pragmas = {name: session.execute(text(f"PRAGMA {name}")).scalar()
                   for name in ("journal_mode", "foreign_keys", "busy_timeout")}

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1,
                       "busy_timeout": session_module.SQLITE_BUSY_TIMEOUT_MS}


def test_the_session_commits_on_success_and_rolls_back_on_error(database):
    with database.session(write=True) as session:
        session.add(ContextRow(type="t", name="kept", properties={}, create_time=0.0))
    with pytest.raises(RuntimeError), database.session(write=True) as session:
        session.add(ContextRow(type="t", name="dropped", properties={}, create_time=0.0))
        session.flush()
        raise RuntimeError("user code failed")

    with database.session() as session:
        names = session.scalars(text("SELECT name FROM contexts")).all()
    assert names == ["kept"]


def test_driver_errors_become_store_errors_chained_to_the_cause(database):
    expected = r"metadata database sqlite:///.*m\.db failed: IntegrityError: FOREIGN KEY"
    with pytest.raises(StoreError, match=expected) as caught, \
            database.session(write=True) as session:
        session.execute(text("INSERT INTO attributions VALUES (12345, 67890)"))

    assert caught.value.__cause__ is not None


def test_a_locked_database_is_retried_until_the_lock_is_released(database, monkeypatch):
    monkeypatch.setattr(session_module, "SQLITE_BUSY_TIMEOUT_MS", 10)
    impatient = Database(create_store_engine(database.url), database.url)
    holder = sqlite3.connect(database.url.split(":///", 1)[1], isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    attempts = []

    def write(session):
        attempts.append(1)
        session.execute(text("INSERT INTO contexts (type, name, properties, create_time) "
                             "VALUES ('t', 'late', '{}', 0)"))
        return "written"

    release = threading.Timer(0.3, holder.rollback)
    release.start()
    try:
        result = impatient.write(write)
    finally:
        release.join()
        holder.close()
        impatient.close()

    assert result == "written" and attempts == [1]
    with database.session() as session:
        assert session.scalars(text("SELECT name FROM contexts")).all() == ["late"]


def test_lock_errors_give_up_after_the_last_attempt(database, monkeypatch):
    monkeypatch.setattr(session_module, "LOCK_RETRY_ATTEMPTS", 2)
    monkeypatch.setattr(session_module.time, "sleep", lambda seconds: None)
    calls = []

    def always_locked(session):
        calls.append(time.time())
        raise session_module.OperationalError("INSERT", {}, sqlite3.OperationalError(
            "database is locked"))

    with pytest.raises(StoreError, match="database is locked.*Fix: another process holds"):
        database.write(always_locked)
    assert len(calls) == 2


def test_opening_waits_while_another_process_holds_a_brand_new_file(tmp_path):
    """SQLite refuses the switch into WAL at once (no busy handler) while another
    connection writes a brand-new file; opening the store must wait, not fail."""
    import sqlite3
    import threading

    from gristmill.metadata.sql.store import SqlMetadataStore

    path = tmp_path / "metadata.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_process_was_here (x)")
    release = threading.Timer(0.4, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with SqlMetadataStore(f"sqlite:///{path}") as store:
            assert store.list_contexts("pipeline") == []
    finally:
        release.join()
        holder.close()


def _kill_connections(store_url: str, application: str) -> int:
    """Terminate the server backends of the connections named ``application`` (a server
    restart as the pool sees it: its connections are dead)."""
    import psycopg

    admin = "postgresql://" + store_url.split("://", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s", (application,)).fetchall()
    return len(rows)


def test_postgres_idle_connection_is_pinged_and_replaced_a_recent_one_fails_loudly(
        store_url, monkeypatch):
    # Issue 20: no ping per transaction; a connection idle for longer than
    # PING_AFTER_IDLE_SECONDS is pinged (a dead one replaced silently); a recently used
    # dead one makes the statement fail with a StoreError, and the pool then reconnects.
    if not store_url.startswith("postgresql"):
        pytest.skip("connection pings concern PostgreSQL")
    import uuid

    from gristmill.metadata.sql.store import SqlMetadataStore

    application = f"gristmill-ping-test-{uuid.uuid4().hex[:8]}"
    with SqlMetadataStore(f"{store_url}&application_name={application}") as store:
        store.put_context("pipeline", "before")
        monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _kill_connections(store_url, application) >= 1
        time.sleep(0.05)
        store.put_context("pipeline", "after-idle")  # pinged, replaced: no error
        monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
        assert _kill_connections(store_url, application) >= 1
        with pytest.raises(StoreError, match="metadata database"):
            store.put_context("pipeline", "recent")
        store.put_context("pipeline", "reconnected")
        assert {c.name for c in store.list_contexts("pipeline")} == {
            "before", "after-idle", "reconnected"}
