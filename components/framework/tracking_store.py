"""Create MLflow's SQLite tracking database once, safely across processes.

Creating the schema (MLflow's own alembic migrations) takes 1-2 s here. The orchestrator's
mirror starts ``python -m gristmill.components.framework.tracking_store URI`` when a run begins on a
home whose tracking database does not exist yet, so the schema is built on another core
while the pipeline works. Everything that opens the database first (this module's process,
the Pusher, the mirror's replay) does so under one exclusive file lock, so nobody ever sees
a half-created schema: whoever comes second waits, then finds it ready.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from gristmill.metadata.locks import exclusive_file_lock


def sqlite_path(tracking_uri: str | None) -> Path | None:
    """The database file behind a ``sqlite:///`` tracking URI; None for anything else."""
    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri[len("sqlite:///"):])


@contextlib.contextmanager
def creation_lock(tracking_uri: str | None) -> Iterator[None]:
    """Hold the exclusive lock that serialises first opens of a SQLite tracking database."""
    db = sqlite_path(tracking_uri)
    if db is None:
        yield
        return
    with exclusive_file_lock(f"{db}.init.lock"):
        yield


def ensure_tracking_store(tracking_uri: str) -> None:
    """Make sure the tracking database's schema exists (creating it under the lock)."""
    with creation_lock(tracking_uri):
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)


def needs_creation(tracking_uri: str | None) -> bool:
    """True for a SQLite tracking URI whose database file does not exist yet."""
    db = sqlite_path(tracking_uri)
    return db is not None and not db.exists()


if __name__ == "__main__":
    ensure_tracking_store(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # skip MLflow's interpreter teardown; the schema is committed
