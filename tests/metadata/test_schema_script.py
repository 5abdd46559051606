"""A new SQLite metadata store built from the schema dump equals one the migrations build."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from gristmill.metadata.db_url import sqlite_url
from gristmill.metadata.sql import migrate, schema_script
from gristmill.metadata.sql.store import SqlMetadataStore

pytestmark = pytest.mark.integration
REGENERATE = "python -m gristmill.metadata.sql.schema_script"


def _everything(path) -> dict:
    connection = sqlite3.connect(path)
    try:
        master = sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        found = {"master": master}
        for kind, name, _, _ in master:
            if kind == "table":
                quoted = '"' + name.replace('"', '""') + '"'
                found[name] = (connection.execute(f"PRAGMA table_xinfo({quoted})").fetchall(),
                               sorted(connection.execute(f"PRAGMA index_list({quoted})")),
                               sorted(map(repr, connection.execute(f"SELECT * FROM {quoted}"))))
        for pragma in ("user_version", "application_id", "journal_mode", "page_size"):
            found[pragma] = connection.execute(f"PRAGMA {pragma}").fetchall()
        return found
    finally:
        connection.close()


def _migrated(path) -> None:
    engine = create_engine(sqlite_url(path))
    try:
        migrate._run_alembic_upgrade(engine)
    finally:
        engine.dispose()


def test_the_dump_is_at_the_head_revision():
    assert schema_script.schema_script(migrate.HEAD_REVISION) is not None, (
        f"metadata/sql/schema_{migrate.HEAD_REVISION}.sql is missing or stale: new stores "
        f"fall back to alembic. Regenerate it with `{REGENERATE}`.")


def test_a_store_built_from_the_dump_equals_one_built_by_the_migrations(tmp_path, monkeypatch):
    SqlMetadataStore(str(tmp_path / "dump.db")).close()  # a new store: built from the dump
    monkeypatch.setattr(schema_script, "SCRIPT_DIR", tmp_path / "nowhere")
    SqlMetadataStore(str(tmp_path / "migrated.db")).close()  # the same, by the migrations
    from_dump, migrated = _everything(tmp_path / "dump.db"), _everything(tmp_path / "migrated.db")
    assert len(from_dump["master"]) >= 6
    assert from_dump == migrated


def test_a_new_store_is_created_without_importing_alembic(tmp_path):
    probe = ("import sys; from gristmill.metadata.sql.store import SqlMetadataStore; "
             f"SqlMetadataStore({str(tmp_path / 'new.db')!r}).close(); "
             "print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
    assert migrate.current_revision(str(tmp_path / "new.db")) == migrate.HEAD_REVISION


def test_without_a_dump_for_the_head_the_migrations_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(schema_script, "SCRIPT_DIR", tmp_path / "nowhere")
    assert schema_script.schema_script(migrate.HEAD_REVISION) is None
    SqlMetadataStore(str(tmp_path / "m.db")).close()
    assert migrate.current_revision(str(tmp_path / "m.db")) == migrate.HEAD_REVISION


def test_a_dump_for_another_revision_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(schema_script, "SCRIPT_DIR", tmp_path)
    schema_script.script_path("0001").write_text(schema_script._header("0000") + "\n")
    assert schema_script.schema_script("0001") is None


def test_regenerating_the_dump_builds_the_same_database(tmp_path):
    _migrated(tmp_path / "migrated.db")
    written = schema_script.write_schema_script(migrate.HEAD_REVISION, tmp_path / "migrated.db",
                                                tmp_path / "schema.sql")
    rebuilt = sqlite3.connect(tmp_path / "rebuilt.db")
    rebuilt.executescript(written.read_text())
    rebuilt.close()
    committed = tmp_path / "committed.db"
    assert schema_script.build_from_script(committed, migrate.HEAD_REVISION)
    assert _everything(rebuilt := tmp_path / "rebuilt.db") == _everything(committed), (
        f"the migrations now build another schema: run `{REGENERATE}`")
    assert rebuilt.exists()
