"""The replay's fast writer: MLflow's SQLite schema written with :mod:`sqlite3`.

Importing MLflow costs the detached replay about 2 CPU-seconds and its SQLAlchemy layer
another second; for the common case (a local ``sqlite:///`` tracking store at exactly the
schema revision below) this writer puts the same rows MLflow's ``SqlAlchemyStore`` would
(experiments, runs, params, metrics and ``latest_metrics``, tags, datasets and inputs,
logged models, model-version links) in one transaction, and copies artifacts into the
run's artifact directory as MLflow's local artifact repository does.

It never guesses: whatever it cannot write exactly as MLflow would (a value MLflow would
refuse or cut, a run that is not active, a model version that does not exist, an artifact
location that is not a local path) raises :class:`DirectWriteRefused`; the replay then
rolls back, removes what it copied and replays with the client
(:mod:`~gristmill.orchestrator.mlflow.client_writer`), which stays the reference. A parity
test replays one journal through both and compares what MLflow reads back.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path

from gristmill.metadata import mlflow_rules as rules
from gristmill.metadata.mlflow_direct import (
    DEFAULT_WORKSPACE,
    SCHEMA_REVISION,
    DirectTransaction,
    DirectWriteRefused,
    artifact_folder,
    copy_tree,
    local_directory,
    now_ms,
    store_refusal,
)
from gristmill.orchestrator.mlflow import sqlite_models
from gristmill.orchestrator.mlflow.client_writer import MetricPoint

_RUN_STATUSES = frozenset({"SCHEDULED", "FAILED", "FINISHED", "RUNNING", "KILLED"})
__all__ = ["DEFAULT_WORKSPACE", "SCHEMA_REVISION", "DirectWriteRefused", "SqliteWriter",
           "artifact_folder", "copy_tree", "direct_refusal", "local_directory", "now_ms"]


def direct_refusal(tracking_uri: str, retry: bool) -> str | None:
    """Why a replay into ``tracking_uri`` must use MLflow's client; None when the direct
    writer may (a first attempt into a store :func:`~gristmill.metadata.mlflow_direct
    .store_refusal` accepts)."""
    if retry:
        return "a retry (an earlier attempt may have left runs to discard)"
    return store_refusal(tracking_uri)


class SqliteWriter(DirectTransaction):
    """One replay's writes into a SQLite tracking store, in one transaction."""

    def __init__(self, db: Path):
        self.runs: dict[str, tuple[int, str]] = {}  # run id -> (experiment id, artifact dir)
        super().__init__(db)

    def experiment(self, name: str, artifact_location: str | None,
                   tags: dict[str, str]) -> str:
        """The id of the experiment called ``name``, created when missing."""
        row = self.sql("SELECT experiment_id FROM experiments WHERE name = ? AND "
                       "lifecycle_stage IN ('active', 'deleted')", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        if not name or len(name) > rules.EXPERIMENT_NAME_LIMIT:
            raise DirectWriteRefused(f"experiment name {name[:80]!r}")
        local_directory(artifact_location)
        if len(artifact_location) > rules.ARTIFACT_LOCATION_LIMIT:
            raise DirectWriteRefused("artifact location too long")
        for key, value in tags.items():
            problem = rules.key_value_problem("experiment tag", key, value,
                                              rules.EXPERIMENT_TAG_VALUE_LIMIT)
            if problem or key.startswith("mlflow.trace"):
                raise DirectWriteRefused(problem or f"experiment tag {key}")
        created = now_ms()
        cursor = self.sql(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, ?)",
            (name, artifact_location, created, created, DEFAULT_WORKSPACE))
        self.connection.executemany(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?)",
            [(k, v, cursor.lastrowid) for k, v in tags.items()])
        return str(cursor.lastrowid)

    def _active_experiment(self, experiment_id: str) -> str:
        """The artifact location of an active experiment."""
        row = self.sql("SELECT artifact_location, lifecycle_stage FROM experiments "
                       "WHERE experiment_id = ?", (int(experiment_id),)).fetchone()
        if row is None or row[1] != "active":
            raise DirectWriteRefused(f"experiment {experiment_id} is missing or not active")
        local_directory(row[0])
        return row[0]

    def create_run(self, experiment_id: str, name: str, start_ms: int,
                   tags: dict[str, str]) -> str:
        """A new RUNNING run (MLflow's columns and its ``mlflow.runName`` tag); its id."""
        location = self._active_experiment(experiment_id)
        if not name or tags.get("mlflow.runName", name) != name:
            raise DirectWriteRefused(f"run name {name!r}")
        run_id = uuid.uuid4().hex
        artifact_uri = f"{location}/{run_id}/artifacts"
        self.sql("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                 " user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                 "artifact_uri, experiment_id, deleted_time) VALUES (?, ?, 'UNKNOWN', '', '', "
                 "?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
                 (run_id, name, tags.get("mlflow.user", "unknown"), start_ms or now_ms(),
                  artifact_uri, int(experiment_id)))
        self.connection.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, run_id) for k, v in {**tags, "mlflow.runName": name}.items()])
        self.runs[run_id] = (int(experiment_id), artifact_uri)
        self.made.append(Path(location, run_id))
        return run_id

    def active_run(self, run_id: str) -> tuple[int, str]:
        """``(experiment id, artifact directory)`` of an active run."""
        if run_id not in self.runs:
            row = self.sql("SELECT experiment_id, artifact_uri, lifecycle_stage FROM runs "
                           "WHERE run_uuid = ?", (run_id,)).fetchone()
            if row is None or row[2] != "active":
                raise DirectWriteRefused(f"run {run_id} is missing or not active")
            local_directory(row[1])
            self.runs[run_id] = (row[0], row[1])
        return self.runs[run_id]

    def log_batch(self, run_id: str, metrics: list[MetricPoint], params: dict[str, str],
                  tags: dict[str, str]) -> None:
        """Params (a changed value refused), metric points with ``latest_metrics``, logged
        model metrics and tags (upserted), as MLflow's ``log_batch``."""
        experiment_id, _ = self.active_run(run_id)
        check_batch(metrics, params, tags)
        known = dict(self.sql("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
        if any(known.get(k, v) != v for k, v in params.items()):
            raise DirectWriteRefused(f"a param of run {run_id} would change value")
        self.connection.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, run_id) for k, v in params.items() if k not in known])
        sqlite_models.insert_metrics(self, run_id, experiment_id, metrics)
        self.connection.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?) "
            "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value",
            [(k, v, run_id) for k, v in tags.items()])

    def set_terminated(self, run_id: str, status: str, end_time: int) -> None:
        self.active_run(run_id)
        if status not in _RUN_STATUSES:
            raise DirectWriteRefused(f"run status {status!r}")
        self.sql("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                 (status, end_time or now_ms(), run_id))

    def log_artifact(self, run_id: str, local_file: str, artifact_path: str | None) -> None:
        """Copy one file (contents and times, as MLflow) into the run's artifacts."""
        if os.path.isdir(local_file):
            raise DirectWriteRefused("log_artifact of a directory")
        folder = artifact_folder(self.active_run(run_id)[1], artifact_path)
        shutil.copy2(local_file, folder / os.path.basename(local_file))

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None) -> None:
        copy_tree(local_dir, artifact_folder(self.active_run(run_id)[1], artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """``text`` as a UTF-8 file at ``artifact_file`` in the run's artifacts."""
        normal = os.path.normpath(artifact_file)
        folder = artifact_folder(self.active_run(run_id)[1], os.path.dirname(normal) or None)
        with open(folder / os.path.basename(normal), "w", encoding="utf-8") as handle:
            handle.write(text)

    def log_model(self, experiment_id: str, run_id: str, name: str, local_dir: str,
                  tags: dict[str, str]) -> str:
        return sqlite_models.log_model(self, experiment_id, run_id, name, local_dir, tags)

    def log_datasets(self, run_id: str, datasets) -> None:
        sqlite_models.log_datasets(self, run_id, datasets)

    def update_model_version(self, name: str, version: str, description: str) -> None:
        sqlite_models.update_model_version(self, name, version, description)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        sqlite_models.set_model_version_tag(self, name, version, key, value)

    def discard_runs(self, experiment_id: str, gristmill_run_id: str, keep: set) -> None:
        raise DirectWriteRefused("discarding an earlier attempt's runs is the client's")


def check_batch(metrics: list[MetricPoint], params: dict[str, str],
                tags: dict[str, str]) -> None:
    """Refuse what MLflow's ``log_batch`` would refuse or cut."""
    if len(params) > rules.MAX_PARAMS_OR_TAGS_PER_BATCH or \
            len(tags) > rules.MAX_PARAMS_OR_TAGS_PER_BATCH or \
            len(metrics) + len(params) + len(tags) > rules.MAX_ENTITIES_PER_BATCH:
        raise DirectWriteRefused("a batch past MLflow's limits")
    for key, value, timestamp, step, _ in metrics:
        problem = rules.key_value_problem("metric", key, None, 0)
        if problem or not isinstance(value, float) or not isinstance(step, int) or \
                not isinstance(timestamp, int) or timestamp < 0:
            raise DirectWriteRefused(problem or f"metric {key!r}")
    for kind, values, limit in (("param", params, rules.PARAM_VALUE_LIMIT),
                                ("tag", tags, rules.TAG_VALUE_LIMIT)):
        for key, value in values.items():
            problem = rules.key_value_problem(kind, key, value, limit)
            if problem or not isinstance(value, str) or key == "mlflow.runName":
                raise DirectWriteRefused(problem or f"{kind} {key!r}")


def sanitized(value: float) -> tuple[float, bool]:
    """``(stored value, is_nan)`` as MLflow stores a metric value."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (1.7976931348623157e308 if value > 0 else -1.7976931348623157e308), False
    return value, False
