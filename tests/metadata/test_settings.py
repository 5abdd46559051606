"""GRISTMILL_HOME, metadata URL resolution and password redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from gristmill.metadata.settings import (
    default_metadata_path,
    gristmill_home,
    redact_text,
    redact_url,
    resolve_metadata_url,
    sqlite_path,
)

pytestmark = pytest.mark.unit


def test_home_defaults_to_dot_gristmill_and_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GRISTMILL_HOME", raising=False)
    assert gristmill_home() == Path.home() / ".gristmill"

    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path))
    assert default_metadata_path() == tmp_path / "metadata.db"
    assert resolve_metadata_url(None) == f"sqlite:///{tmp_path}/metadata.db"


@pytest.mark.parametrize(("given", "expected"), [
    ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////abs/m.db", "sqlite:////abs/m.db"),
])
def test_urls_get_the_psycopg_driver(given, expected):
    assert resolve_metadata_url(given) == expected


def test_a_plain_path_becomes_an_absolute_sqlite_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert resolve_metadata_url("rel/m.db") == f"sqlite:///{tmp_path}/rel/m.db"
    assert sqlite_path(resolve_metadata_url("rel/m.db")) == tmp_path / "rel" / "m.db"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("postgresql+psycopg://h/db") is None


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://bob:s3cret@db:5432/x", "postgresql://bob:***@db:5432/x"),
    ("postgresql+psycopg://bob:p@ss/w@rd@db/x?sslmode=require",
     "postgresql+psycopg://bob:***@db/x?sslmode=require"),
    ("postgresql://bob@db/x", "postgresql://bob@db/x"),
    ("sqlite:////tmp/m.db", "sqlite:////tmp/m.db"),
    ("/tmp/m.db", "/tmp/m.db"),
])
def test_redact_url_hides_only_the_password(url, expected):
    assert redact_url(url) == expected


def test_redact_url_of_none_names_the_default_database(monkeypatch, tmp_path):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path))

    assert redact_url(None) == f"sqlite:///{tmp_path}/metadata.db"


def test_redact_text_hides_every_password_in_free_text():
    text = ("connect postgresql://a:one@h/db failed; retry 'mysql://b:two:x@h/x' "
            "or sqlite:////tmp/m.db")

    redacted = redact_text(text)

    assert redacted == ("connect postgresql://a:***@h/db failed; retry 'mysql://b:***@h/x' "
                        "or sqlite:////tmp/m.db")
