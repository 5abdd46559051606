"""Schema revisions: alembic has one head, new databases get it, others are refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from gristmill.metadata.errors import SchemaVersionError, StoreError
from gristmill.metadata.settings import redact_url
from gristmill.metadata.sql import migrate
from gristmill.metadata.sql.models import Base
from gristmill.metadata.sql.store import SqlMetadataStore

pytestmark = pytest.mark.integration


def test_alembic_has_exactly_one_head_and_it_is_the_expected_revision():
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()

    assert heads == [migrate.HEAD_REVISION]


def test_a_new_database_is_upgraded_to_head_on_open(store_url):
    assert migrate.current_revision(store_url) is None

    SqlMetadataStore(store_url).close()

    assert migrate.current_revision(store_url) == migrate.HEAD_REVISION


def test_the_migrations_create_exactly_the_orm_tables(store_url):
    SqlMetadataStore(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()

    assert diff == []


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_at_an_older_revision_names_the_upgrade_command(store_url, monkeypatch):
    SqlMetadataStore(store_url).close()
    monkeypatch.setattr(migrate, "HEAD_REVISION", "0002")  # this code is newer than the DB

    with pytest.raises(SchemaVersionError, match=r"is at schema revision 0001, this "
                                                 r"gristmill needs 0002\. Fix: run `gristmill "
                                                 r"db upgrade --url .*`") as caught:
        SqlMetadataStore(store_url)
    assert f"metadata database {redact_url(store_url)} is at" in str(caught.value)


def test_a_database_from_a_newer_gristmill_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlMetadataStore(url).close()
    _stamp(url, "9999_future")

    with pytest.raises(SchemaVersionError, match=r"revision 9999_future, which this gristmill "
                                                 r"does not know \(it needs 0001\).*Fix: "
                                                 r"upgrade gristmill"):
        SqlMetadataStore(url)


def test_tables_without_a_revision_stamp_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlMetadataStore(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()

    with pytest.raises(SchemaVersionError, match="is at schema revision unversioned"):
        SqlMetadataStore(url)


def test_upgrade_creates_the_schema_and_is_idempotent(tmp_path):
    path = str(tmp_path / "nested" / "m.db")

    assert migrate.upgrade(path) == migrate.HEAD_REVISION
    assert migrate.upgrade(path) == migrate.HEAD_REVISION
    assert migrate.current_revision(path) == migrate.HEAD_REVISION


def test_unreachable_database_error_hides_the_password():
    with pytest.raises(StoreError, match=r"cannot open metadata database "
                                         r"postgresql\+psycopg://bob:\*\*\*@127\.0\.0\.1:9/x"
                                         ) as caught:
        SqlMetadataStore("postgresql://bob:s3cret@127.0.0.1:9/x?connect_timeout=2")

    assert "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is not None


def test_opening_an_existing_store_does_not_import_alembic(tmp_path):
    path = tmp_path / "m.db"
    SqlMetadataStore(str(path)).close()
    probe = ("import sys; from gristmill.metadata.sql.store import SqlMetadataStore; "
             f"SqlMetadataStore({str(path)!r}).close(); print('alembic' in sys.modules)")

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)

    assert result.stdout.strip() == "False"


def test_an_unsupported_backend_is_named_without_its_password():
    with pytest.raises(StoreError, match=r"mysql://u:\*\*\*@h/x: unsupported backend 'mysql'; "
                                         r"expected one of \['sqlite', 'postgresql'\]"):
        SqlMetadataStore("mysql://u:Secret@h/x")


def test_an_in_memory_sqlite_store_gets_the_schema_on_one_shared_connection():
    with SqlMetadataStore("sqlite://") as store:
        created = store.put_context("pipeline", "p")

        assert store.list_contexts("pipeline") == [created]
