"""SQLite schema dumps headed by the revision they were taken at (standard library only).

Two new-database paths build their schema from such a dump instead of running migrations:
MLflow's tracking store (:mod:`gristmill.components.framework.tracking_store`) and
Gristmill's own metadata store (:mod:`gristmill.metadata.sql.schema_script`). A dump is the
:meth:`sqlite3.Connection.iterdump` of a database the migrations built, under one header
line naming its revision; it is used only when that line is exactly the one expected.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def read_dump(path: Path, header: str) -> str | None:
    """The dump at ``path`` when its first line is ``header``; None otherwise or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return text if text.split("\n", 1)[0] == header else None


def write_dump(database: str | Path, path: Path, header: str) -> Path:
    """Dump ``database`` (schema and rows) to ``path`` under ``header``."""
    connection = sqlite3.connect(database)
    try:
        lines = list(connection.iterdump())
    finally:
        connection.close()
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def run_dump(database: str | Path, script: str) -> None:
    """Execute a dump in the (new) SQLite file ``database``."""
    connection = sqlite3.connect(database)
    try:
        connection.executescript(script)
    finally:
        connection.close()
