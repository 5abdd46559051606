"""Database URLs parsed by structure: quoting of paths, libpq strings refused, redaction."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.metadata.db_url import parse_db_url, sqlite_url
from gristmill.metadata.errors import StoreError
from gristmill.metadata.settings import (
    default_metadata_path,
    redact_text,
    redact_url,
    resolve_metadata_url,
    sqlite_path,
)

pytestmark = pytest.mark.unit

# Printable characters a password may hold, without whitespace (a URL cannot hold it raw).
PASSWORD_CHARS = st.characters(min_codepoint=33, max_codepoint=126)
SCHEMES = ["postgresql", "postgresql+psycopg", "postgres", "mysql", "mssql+pyodbc"]


@pytest.mark.parametrize("url", [
    "postgresql://bob:pa?ss@db:5432/x",
    "postgresql://bob:pa#ss@db:5432/x",
    "postgresql://bob:a?b#c/d@db/x?sslmode=require",
    "postgresql://bob@db/x?password=S3CRETVALUE",
    "postgresql://bob@db/x?sslmode=require&password=S3CRETVALUE",
    "postgresql://bob:p@s?s@db/x",
])
def test_passwords_with_query_and_fragment_characters_are_hidden(url):
    secret_parts = ("pa?ss", "pa#ss", "a?b#c", "S3CRETVALUE", "s?s")

    for shown in (redact_url(url), redact_text(f"connect to {url} failed")):
        assert not any(part in shown for part in secret_parts), shown
        assert "***" in shown


def test_the_query_password_form_keeps_the_other_options():
    assert redact_url("postgresql://bob@db/x?password=S3cret&sslmode=require") == \
        "postgresql://bob@db/x?password=***&sslmode=require"


@settings(max_examples=300, deadline=None)
@given(secret=st.text(PASSWORD_CHARS, min_size=1, max_size=24),
       scheme=st.sampled_from(SCHEMES), encode=st.booleans(), in_query=st.booleans())
def test_no_generated_password_survives_redaction(secret, scheme, encode, in_query):
    password = "Zq8" + secret  # a marker so the password never occurs by chance elsewhere
    written = quote(password, safe="") if encode else password
    url = (f"{scheme}://alice@db.example:5432/sales?password={quote(password, safe='')}"
           if in_query else f"{scheme}://alice:{written}@db.example:5432/sales")

    for shown in (redact_url(url), redact_text(f"connecting to {url}: refused")):
        assert password not in shown and written not in shown, (url, shown)


def test_a_libpq_keyword_string_is_refused_without_echoing_its_password(tmp_path,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="libpq keyword string") as caught:
        resolve_metadata_url("host=db.example user=bob password=Hunter2Secret dbname=x")

    assert "Hunter2Secret" not in str(caught.value)
    assert "postgresql://" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after it


def test_an_unparseable_url_is_refused_and_hidden():
    with pytest.raises(StoreError, match="not a database URL") as caught:
        resolve_metadata_url("postgresql://bob:Hunter2Secret@db:notaport/x")

    assert "Hunter2Secret" not in str(caught.value)


@pytest.mark.parametrize("folder", ["a?b", "x%20y", "q#r", "p%3Fq", "sp ace"])
def test_a_home_with_url_characters_keeps_the_database_inside_it(tmp_path, monkeypatch,
                                                                  folder):
    home = tmp_path / folder
    monkeypatch.setenv("GRISTMILL_HOME", str(home))

    url = resolve_metadata_url(None)

    assert sqlite_path(url) == home / "metadata.db" == default_metadata_path()
    assert sqlite_path(sqlite_url(home / "mlflow.db")) == home / "mlflow.db"
    assert parse_db_url(str(home / "m.db"), home).database == str(home / "m.db")


def test_a_store_under_a_home_with_url_characters_is_created_there(tmp_path, monkeypatch):
    from gristmill.metadata.store import open_store

    home = tmp_path / "h?x%20y"
    monkeypatch.setenv("GRISTMILL_HOME", str(home))

    with open_store(None) as store:
        store.put_context("pipeline", "p", {})

    assert (home / "metadata.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h?x%20y"]


@pytest.mark.parametrize("url", ["sqlite:///a b/c.db", "sqlite:////abs/x.db", "sqlite:///",
                                 "sqlite:///:memory:", "sqlite:////a:b@c/d.db",
                                 "sqlite:///rel/x@y:z.db", "sqlite:////x/é.db"])
def test_plain_sqlite_urls_read_without_sqlalchemy_as_sqlalchemy_reads_them(url):
    # The detached MLflow replay reads these without importing SQLAlchemy.
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from gristmill.metadata.db_url import _plain_sqlite_database, redact_url, sqlite_file

    parsed = make_url(url)
    assert _plain_sqlite_database(url) == parsed.database and parsed.password is None
    assert redact_url(url) == url
    assert sqlite_file(url) == (Path(parsed.database) if parsed.database not in ("", ":memory:")
                                else None)
