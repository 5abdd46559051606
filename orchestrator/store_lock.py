"""Before a run writes to a SQLite metadata store: wait for its write lock, saying so.

A process holding a long write transaction (a ``sqlite3`` shell, a stuck writer) would make
every store write wait in SQLite's busy handler and retry, silently, for minutes. A run
first checks that it can take the write lock; while it cannot, it says what it waits for,
and after ``GRISTMILL_STORE_LOCK_TIMEOUT`` seconds (default 60) it gives up with the fix.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable

from gristmill.metadata.errors import StoreError
from gristmill.metadata.settings import redact_url, resolve_metadata_url

log = logging.getLogger(__name__)
LOCK_TIMEOUT_ENV = "GRISTMILL_STORE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 60.0
_PROBE_S = 1.0


def lock_timeout() -> float:
    """Seconds to wait for a locked store: ``$GRISTMILL_STORE_LOCK_TIMEOUT`` or 60."""
    try:
        return max(0.0, float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT_S


def wait_for_write_lock(metadata_url: str | None, timeout: float | None = None,
                        notify: Callable[[str], None] = log.warning) -> None:
    """Return once the SQLite store's write lock can be taken; raise StoreError on timeout.

    Other backends, and SQLite files that do not exist yet, return at once; so do errors
    other than "locked" (opening the store reports those with their own fix).
    """
    from sqlalchemy.engine import make_url

    url = resolve_metadata_url(metadata_url)
    if not url.startswith("sqlite"):
        return
    path = make_url(url).database
    if not path or path == ":memory:" or not os.path.isfile(path):
        return
    timeout = lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    told = False
    while not _can_write(path):
        if not told:
            notify(f"waiting for the metadata database {redact_url(url)}: another process "
                   "holds its write lock (another gristmill command, or a sqlite3 shell with "
                   f"an open transaction); giving up after {timeout:g} s ({LOCK_TIMEOUT_ENV})")
            told = True
        if time.monotonic() >= deadline:
            raise StoreError(
                f"metadata database {redact_url(url)} stayed locked for {timeout:g} s: another "
                "process holds its write lock, so this run could record nothing.",
                fix=f"find the process holding {path} (`fuser {path}`) and let it finish or "
                    f"end it, then run again; set {LOCK_TIMEOUT_ENV} to wait longer; use "
                    "PostgreSQL for many concurrent writers")


def _can_write(path: str) -> bool:
    """Take and release the write lock (``BEGIN IMMEDIATE``), waiting up to a second."""
    try:
        connection = sqlite3.connect(path, timeout=_PROBE_S, isolation_level=None)
    except sqlite3.Error:
        return True  # not ours to report: opening the store says what is wrong
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as e:
        text = str(e).lower()
        return "locked" not in text and "busy" not in text
    finally:
        connection.close()
