"""Where Gristmill keeps its files, and how metadata database URLs are spelled.

``GRISTMILL_HOME`` (default ``~/.gristmill``) holds the default SQLite metadata database.
A metadata URL may be ``None`` (that default), a plain filesystem path (an SQLite file),
``sqlite:///path``, or ``postgresql://user:pass@host/db`` (driven by psycopg 3).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
    """Turn what a user gave into a SQLAlchemy URL.

    Args:
        url: ``None`` for the default SQLite file, a filesystem path, or a database URL.
            ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.

    Returns:
        A SQLAlchemy URL such as ``sqlite:////abs/metadata.db`` or
        ``postgresql+psycopg://user:pass@host/db``.
    """
    if url is None or url == "":
        return f"sqlite:///{default_metadata_path()}"
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind an ``sqlite:///`` URL, or ``None`` (in-memory or not SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    path = path.split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path)


def redact_url(url: str | None) -> str:
    """Hide the password of a database URL so it can appear in errors and logs.

    ``postgresql://bob:s3cret@db/x`` becomes ``postgresql://bob:***@db/x``; URLs without a
    password, paths and ``None`` (shown as the default database) pass through.
    """
    if url is None:
        return f"sqlite:///{default_metadata_path()}"
    if "://" not in url:
        return url
    return _redact_token(url)


# Up to the next whitespace: a closing quote after the URL stays after the "@" and is kept.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def redact_text(text: str) -> str:
    """Hide the passwords of every URL inside free text (errors, logs, parameters).

    ``connect to postgresql://bob:s3cret@db/x failed`` becomes ``connect to
    postgresql://bob:***@db/x failed``. The userinfo is taken to end at the last ``@``
    before any ``?`` or ``#``, so a raw ``@`` or ``/`` in a password is hidden too.
    """
    return _URL_IN_TEXT.sub(lambda m: _redact_token(m.group(0)), str(text))


def _redact_token(url: str) -> str:
    scheme, rest = url.split("://", 1)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    userinfo, at, _ = rest[:cut].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{rest[len(userinfo) + 1:]}"

