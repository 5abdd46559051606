"""Where Gristmill keeps its files, and how metadata database URLs are spelled.

``GRISTMILL_HOME`` (default ``~/.gristmill``) holds the default SQLite metadata database.
A metadata URL may be ``None`` (that default), a plain filesystem path (an SQLite file),
``sqlite:///path``, or ``postgresql://user:pass@host/db`` (driven by psycopg 3).
"""

from __future__ import annotations

import os
from pathlib import Path

from gristmill.metadata.db_url import parse_db_url, sqlite_file, sqlite_url, url_text
from gristmill.metadata.db_url import redact_text as _redact_text
from gristmill.metadata.db_url import redact_url as _redact_url

HOME_ENV = "GRISTMILL_HOME"
METADATA_DB_NAME = "metadata.db"
SUPPORTED_SCHEMES = ("sqlite", "postgresql")


def gristmill_home() -> Path:
    """The Gristmill home directory: ``$GRISTMILL_HOME`` or ``~/.gristmill``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".gristmill").expanduser()


def default_metadata_path() -> Path:
    """The default SQLite metadata database file, ``<home>/metadata.db``."""
    return gristmill_home() / METADATA_DB_NAME


def resolve_metadata_url(url: str | None) -> str:
    """Turn what a user gave into a SQLAlchemy URL string.

    Args:
        url: ``None`` for the default SQLite file, a filesystem path, or a database URL.
            ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.

    Returns:
        A SQLAlchemy URL such as ``sqlite:////abs/metadata.db`` (the path percent-quoted, so
        ``?`` or ``%`` in a directory name stay in the path) or
        ``postgresql+psycopg://user:pass@host/db``.

    Raises:
        StoreError: ``url`` is a libpq keyword string or not a parseable URL.
    """
    return url_text(parse_db_url(url, default_metadata_path()))


def sqlite_path(url: str) -> Path | None:
    """The file behind an ``sqlite:///`` URL, or ``None`` (in-memory or not SQLite)."""
    return sqlite_file(url)


def redact_url(url: str | None) -> str:
    """Hide the password of a database URL so it can appear in errors and logs.

    ``postgresql://bob:s3cret@db/x`` becomes ``postgresql://bob:***@db/x``; URLs without a
    password, paths and ``None`` (shown as the default database) pass through. The password
    is found by SQLAlchemy's parse (:mod:`gristmill.metadata.db_url`), not by a pattern.
    """
    if url is None:
        return sqlite_url(default_metadata_path())
    return _redact_url(url)


def redact_text(text: str) -> str:
    """Hide the passwords of every URL inside free text (errors, logs, parameters).

    ``connect to postgresql://bob:s3cret@db/x failed`` becomes ``connect to
    postgresql://bob:***@db/x failed``; ``?password=`` values and libpq ``password=`` pairs
    are hidden too.
    """
    return _redact_text(text)
