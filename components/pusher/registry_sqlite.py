"""The Pusher's fast registry writer: MLflow's registry rows written with :mod:`sqlite3`.

Importing MLflow costs the Pusher 1-1.5 s on the pipeline's critical path. For a local
``sqlite:///`` tracking store at the schema revision MLflow 3.17 writes (see
:mod:`gristmill.metadata.mlflow_direct`), this writer makes, in one transaction, the rows
``MlflowClient`` makes for the Pusher's calls, read from MLflow 3.17's ``SqlAlchemyStore``:

* ``create_registered_model(name, tags)``: ``registered_models`` (created = last updated =
  now, no description, workspace ``default``) and ``registered_model_tags``;
* ``log_artifacts(run_id, dir, path)``: the files copied under the run's artifact location,
  as MLflow's local artifact repository copies them (no row);
* ``create_model_version(name, source, run_id, tags)``: ``model_versions`` with the next
  number (max over all the model's versions + 1), created = last updated = now, stage
  ``None``, status ``READY``, ``storage_location`` = ``source`` (MLflow resolves only
  ``models:/`` sources; a ``runs:/`` source links no logged model), no user, run link or
  description; ``model_version_tags``; the registered model's ``last_updated_time`` set to
  the version's creation time;
* ``set_registered_model_alias(name, alias, version)``: one ``registered_model_aliases``
  row, inserted or pointed at the new version (the model's times untouched).

MLflow's store dispatches no webhooks (its server does). Whatever this writer cannot write
exactly as the client would raises
:class:`~gristmill.metadata.mlflow_direct.DirectWriteRefused`; the caller
(:mod:`.model_registry`) rolls back, removes the copied files and uses the client, which
stays the reference. ``tests/components/pusher/test_registry_parity.py`` writes the same
registrations both ways and compares them.
"""

from __future__ import annotations

import os
from pathlib import Path

from gristmill.metadata import mlflow_rules as rules
from gristmill.metadata.mlflow_direct import (
    DEFAULT_WORKSPACE,
    DirectTransaction,
    DirectWriteRefused,
    artifact_folder,
    copy_tree,
    local_directory,
    now_ms,
)

STAGE_NONE = "None"  # MLflow's ``current_stage`` of a version never given a stage
STATUS_READY = "READY"


class RegistryWriter(DirectTransaction):
    """One registration's writes into a SQLite tracking store, in one transaction."""

    def ensure_registered_model(self, name: str, tags: dict[str, str]) -> None:
        """``get_registered_model(name)``, else ``create_registered_model(name, tags)``."""
        problem = rules.registered_model_name_problem(name)
        if problem:
            raise DirectWriteRefused(problem)
        if self._registered_model_exists(name):
            return
        tags = {key: str(value) for key, value in tags.items()}
        for key, value in tags.items():
            problem = rules.registry_tag_problem("registered model", key, value)
            if problem:
                raise DirectWriteRefused(problem)
        created = now_ms()
        self.sql("INSERT INTO registered_models (name, creation_time, last_updated_time, "
                 "description, workspace) VALUES (?, ?, ?, NULL, ?)",
                 (name, created, created, DEFAULT_WORKSPACE))
        self.connection.executemany(
            "INSERT INTO registered_model_tags (key, value, name, workspace) VALUES (?, ?, ?, ?)",
            [(key, value, name, DEFAULT_WORKSPACE) for key, value in tags.items()])

    def _registered_model_exists(self, name: str) -> bool:
        rows = self.sql("SELECT 1 FROM registered_models WHERE name = ? AND workspace = ?",
                        (name, DEFAULT_WORKSPACE)).fetchall()
        return bool(rows)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str) -> None:
        """Copy ``local_dir`` under ``artifact_path`` of the run's artifacts (a new folder:
        files the client would merge into an existing one are refused)."""
        row = self.sql("SELECT artifact_uri, lifecycle_stage FROM runs WHERE run_uuid = ?",
                       (run_id,)).fetchone()
        if row is None or row[1] != "active":
            raise DirectWriteRefused(f"run {run_id} is missing or not active")
        root = local_directory(row[0])
        target = root / os.path.normpath(artifact_path)
        if target.exists():
            raise DirectWriteRefused(f"the run's artifacts already hold {artifact_path}")
        if not os.path.isdir(local_dir):
            raise DirectWriteRefused(f"{local_dir} is not a directory")
        made = _first_missing(target)
        folder = artifact_folder(str(root), artifact_path)
        self.made.append(made)
        copy_tree(local_dir, folder)

    def create_model_version(self, name: str, source: str, run_id: str | None,
                             tags: dict[str, str]) -> int:
        """A new READY version of ``name`` from ``source``; returns its number."""
        if source.startswith("models:") or not source:
            raise DirectWriteRefused(f"source {source!r} (MLflow resolves it)")
        tags = {key: str(value) for key, value in tags.items()}
        for key, value in tags.items():
            problem = rules.registry_tag_problem("model version", key, value)
            if problem:
                raise DirectWriteRefused(problem)
        if not self._registered_model_exists(name):
            raise DirectWriteRefused(f"registered model {name!r} not found")
        created = now_ms()
        self.sql("UPDATE registered_models SET last_updated_time = ? WHERE name = ? AND "
                 "workspace = ?", (created, name, DEFAULT_WORKSPACE))
        (latest,) = self.sql("SELECT max(version) FROM model_versions WHERE name = ? AND "
                             "workspace = ?", (name, DEFAULT_WORKSPACE)).fetchone()
        version = (latest or 0) + 1
        self.sql("INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
                 "description, user_id, current_stage, source, run_id, status, status_message, "
                 "run_link, storage_location, workspace) "
                 "VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                 (name, version, created, created, STAGE_NONE, source, run_id or None,
                  STATUS_READY, source, DEFAULT_WORKSPACE))
        self.connection.executemany(
            "INSERT INTO model_version_tags (key, value, name, version, workspace) "
            "VALUES (?, ?, ?, ?, ?)",
            [(key, value, name, version, DEFAULT_WORKSPACE) for key, value in tags.items()])
        return version

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` of ``name`` at ``version`` (inserted or moved)."""
        problem = rules.alias_problem(alias)
        if problem:
            raise DirectWriteRefused(problem)
        self.sql("INSERT INTO registered_model_aliases (alias, version, name, workspace) "
                 "VALUES (?, ?, ?, ?) ON CONFLICT (workspace, name, alias) "
                 "DO UPDATE SET version = excluded.version",
                 (alias, version, name, DEFAULT_WORKSPACE))


def _first_missing(target: Path) -> Path:
    """The outermost folder of ``target``'s path that does not exist yet (what removing the
    copy must remove; the run's artifact folder itself when the run has no artifacts yet)."""
    made = target
    while not made.parent.exists():
        made = made.parent
    return made
