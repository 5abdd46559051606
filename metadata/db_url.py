"""Database URLs parsed by structure: SQLAlchemy's URL object, never string slicing.

Every database URL Gristmill takes (``--db``, ``metadata_url``, ``tracking_uri``) or shows
(errors, logs, ``--json``, MLflow journals) goes through this module:

- :func:`sqlite_url` builds an ``sqlite:///`` URL from a path with the path percent-quoted,
  so a directory named ``a?b`` or ``x%20y`` stays that directory (``?`` would otherwise
  start the query and ``%20`` would decode to a space).
- :func:`parse_db_url` turns what a user gave into a SQLAlchemy ``URL`` and refuses what is
  neither a URL nor a path (a libpq ``host=... password=...`` string) without echoing it.
- :func:`redact_url` / :func:`redact_text` hide passwords where SQLAlchemy's parse says they
  are: the userinfo password (also when it holds ``?``, ``#``, ``/`` or a raw ``@``) and
  ``password=`` in the query or in libpq keyword strings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gristmill.metadata.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

HIDDEN = "***"
_PASSWORD_KEYS = {"password", "passwd", "pwd"}
_LIBPQ_KEYS = {"host", "hostaddr", "port", "dbname", "user", "password", "passfile",
               "sslmode", "connect_timeout", "options", "service", "target_session_attrs"}
_LIBPQ_PAIR = re.compile(r"(?:^|\s)([A-Za-z_]+)\s*=")
# A URL inside free text runs to the next whitespace (a password never holds whitespace
# unquoted: a URL needs it percent-encoded).
_URL_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_LIBPQ_PASSWORD = re.compile(r"(?i)\b(password|passwd)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)")


def sqlite_url(path: str | os.PathLike) -> str:
    """``sqlite:///<absolute path>`` with the path quoted so that it parses back unchanged."""
    from sqlalchemy.engine import URL

    absolute = str(Path(path).expanduser().absolute())
    return URL.create("sqlite", database=absolute).render_as_string(hide_password=False)


def looks_like_libpq(text: str) -> bool:
    """True for a libpq keyword string such as ``host=db user=bob password=x``."""
    return any(key.lower() in _LIBPQ_KEYS for key in _LIBPQ_PAIR.findall(text))


def parse_db_url(text: str | None, default_path: Path) -> URL:
    """The SQLAlchemy URL for what a user gave as a metadata database.

    Args:
        text: ``None``/``""`` (``default_path``), a filesystem path, or a URL.
            ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.
        default_path: The SQLite file used for ``None``.

    Raises:
        StoreError: ``text`` is a libpq keyword string or a URL SQLAlchemy cannot parse;
            the message never repeats its password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not text:
        return make_url(sqlite_url(default_path))
    if "://" not in text:
        if looks_like_libpq(text):
            raise StoreError(
                f"metadata database {redact_text(text)!r} is a libpq keyword string, not a "
                "URL or a file path.",
                fix="write it as a URL: postgresql://USER:PASSWORD@HOST:PORT/DBNAME "
                    "(percent-encode special characters in the password)")
        return make_url(sqlite_url(Path(text).expanduser().resolve()))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as e:  # ValueError: a port that is not a number
        raise StoreError(f"metadata database {redact_url(text)}: not a database URL.",
                         fix="use a file path, sqlite:///path or "
                             "postgresql://user:pass@host/db") from e
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def url_text(url: URL) -> str:
    """The URL as a string that :func:`sqlalchemy.engine.make_url` parses back to ``url``."""
    return url.render_as_string(hide_password=False)


def _plain_sqlite_database(url: str) -> str | None:
    """The database part of a plain ``sqlite:///PATH`` string (no query, fragment or
    percent-escape: what SQLAlchemy's ``make_url`` returns for it, without importing
    SQLAlchemy, which the detached MLflow replay avoids); None for any other URL."""
    if not isinstance(url, str) or not url.startswith("sqlite:///") or \
            any(c in url for c in "?#%"):
        return None
    return url[len("sqlite:///"):]


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind an ``sqlite:///`` URL; ``None`` for in-memory or other backends."""
    plain = _plain_sqlite_database(url)
    if plain is not None:
        return Path(plain) if plain not in ("", ":memory:") else None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def redact_url(url: str) -> str:
    """``url`` with its password hidden; paths and password-less URLs pass through.

    ``postgresql://bob:s3cret@db/x`` becomes ``postgresql://bob:***@db/x`` and
    ``...?password=s3cret`` becomes ``...?password=***``. A URL that SQLAlchemy cannot parse
    keeps only its scheme, since where its password lies is unknown.
    """
    if "://" not in url:
        return _LIBPQ_PASSWORD.sub(lambda m: f"{m.group(1)}={HIDDEN}", url)
    if _plain_sqlite_database(url) is not None:
        return url  # a file path: no password, no query
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{url.split('://', 1)[0]}://{HIDDEN}"
    if parsed.password is not None:
        url = _hide_userinfo_password(url, url.count("@") > 1)
    if _PASSWORD_KEYS.intersection(k.lower() for k in parsed.query):
        url = _hide_query_password(url)
    return url


def redact_text(text: str) -> str:
    """Hide the passwords of every URL (and libpq ``password=``) inside free text."""
    text = _URL_TOKEN.sub(lambda m: redact_url(m.group(0)), str(text))
    return _LIBPQ_PASSWORD.sub(lambda m: f"{m.group(1)}={HIDDEN}", text)


def redact_values(value: Any) -> Any:
    """``value`` (nested dicts, lists, strings) with every string passed through
    :func:`redact_text`: for JSON output, MLflow parameters and journals."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(v) for v in value]
    return value


def _hide_userinfo_password(url: str, rest_has_at: bool) -> str:
    """Replace what SQLAlchemy parsed as the password: from the first ``:`` after the
    username to the ``@`` before the host. When the URL holds another ``@``, the password
    may have had a raw one (SQLAlchemy then takes part of it for the host, database or
    query), so it is hidden up to the last ``@``: too much hidden rather than a leak."""
    start = url.index("://") + 3
    colon = url.index(":", start) + 1
    end = url.rindex("@") if rest_has_at else url.index("@", colon)
    return url[:colon] + HIDDEN + url[end:]


def _hide_query_password(url: str) -> str:
    base, _, query = url.partition("?")
    while "?" in query and not any(p.split("=", 1)[0].lower() in _PASSWORD_KEYS
                                   for p in query.split("&")):
        more, _, query = query.partition("?")  # a "?" inside the userinfo came first
        base = f"{base}?{more}"
    pairs = []
    for pair in query.split("&"):
        key, eq, _value = pair.partition("=")
        pairs.append(f"{key}={HIDDEN}" if eq and key.lower() in _PASSWORD_KEYS else pair)
    return f"{base}?{'&'.join(pairs)}"
