"""MLflow's tracking-store schema revision, read without importing MLflow.

Importing MLflow costs 1.5-2.7 CPU-seconds; the tracking store's creator
(``components/framework/tracking_store.py``) and the replay's direct SQLite writer
(``orchestrator/mlflow/sqlite_writer.py``) only need to know whether a SQLite database is at
the installed MLflow's head revision, which the database's ``alembic_version`` table and the
migration files MLflow ships tell. Standard library only.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=(.*)$", re.MULTILINE)


def schema_at_head(db: Path) -> bool:
    """True when ``db`` is a SQLite database stamped with MLflow's head schema revision
    (what MLflow's own schema check requires); False when unknown. Imports no MLflow."""
    head = mlflow_head_revision()
    if head is None or not db.is_file():
        return False
    try:
        connection = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=5)
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:  # not SQLite, no alembic_version table, locked: MLflow decides
        return False
    return rows == [(head,)]


@functools.lru_cache(maxsize=1)
def mlflow_head_revision() -> str | None:
    """The head revision of the installed MLflow's schema migrations, read from its
    ``store/db_migrations/versions`` files without importing MLflow (MLflow asks alembic,
    which imports every migration); None when they cannot be read or have no single head."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    revisions, parents = set(), set()
    for folder in spec.submodule_search_locations:
        for path in Path(folder, "store", "db_migrations", "versions").glob("*.py"):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
            revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
            if revision is None or down is None:
                continue  # not a migration (an __init__.py)
            revisions.add(revision.group(1))
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
