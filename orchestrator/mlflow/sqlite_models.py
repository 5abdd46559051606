"""The direct SQLite writer's rows beyond runs: metric points with ``latest_metrics``,
logged models, dataset inputs and model-version links (see
:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`, whose writer each function takes).

Each follows what MLflow 3.17's ``SqlAlchemyStore`` does for the same call; anything it
would refuse raises :class:`~gristmill.orchestrator.mlflow.sqlite_writer.DirectWriteRefused`.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

from gristmill.metadata import mlflow_rules as rules

_PENDING, _READY = 1, 2  # LoggedModelStatus.to_int()
_DELETED_STAGE = "Deleted_Internal"


def _refused(message: str) -> Exception:
    from gristmill.orchestrator.mlflow.sqlite_writer import DirectWriteRefused

    return DirectWriteRefused(message)


def insert_metrics(writer, run_id: str, experiment_id: int, metrics) -> None:
    """Metric points, ``latest_metrics`` and, for points naming a model, its
    ``logged_model_metrics``; a point already stored is refused (the client would skip it)."""
    from gristmill.orchestrator.mlflow.sqlite_writer import sanitized

    rows = []
    for key, value, timestamp, step, _ in metrics:
        stored, is_nan = sanitized(value)
        rows.append((key, stored, timestamp, run_id, step, is_nan))
    try:
        writer.connection.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?)", rows)
        writer.connection.executemany(
            "INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, "
            "metric_step, metric_value, experiment_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(model, key, timestamp, step, sanitized(value)[0], experiment_id, run_id)
             for key, value, timestamp, step, model in metrics if model is not None])
    except sqlite3.IntegrityError as e:
        raise _refused(f"metric points already stored for run {run_id}: {e}") from e
    _update_latest(writer, run_id, rows)


def _update_latest(writer, run_id: str, rows: list[tuple]) -> None:
    """Keep per key the point with the greatest ``(step, timestamp, value)``; on a tie the
    first one stays (MLflow's rule)."""
    keys = sorted({row[0] for row in rows})
    latest: dict[str, tuple] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        latest.update((r[0], r) for r in writer.sql(
            f"SELECT key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? "
            f"AND key IN ({', '.join('?' * len(chunk))})", (run_id, *chunk)))
    changed = {}
    for key, value, timestamp, _, step, is_nan in rows:
        old = latest.get(key)
        if old is None or (step, timestamp, value) > (old[3], old[2], old[1]):
            latest[key] = changed[key] = (key, value, timestamp, step, is_nan)
    writer.connection.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET "
        "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
        "is_nan = excluded.is_nan", [(*row, run_id) for row in changed.values()])


def log_model(writer, experiment_id: str, run_id: str, name: str, local_dir: str,
              tags: dict[str, str]) -> str:
    """A LoggedModel as the client's create, artifacts, finalize READY and run output."""
    from gristmill.orchestrator.mlflow.sqlite_writer import copy_tree, now_ms

    location = writer._active_experiment(experiment_id)
    if not name or any(c in name for c in rules.LOGGED_MODEL_NAME_FORBIDDEN):
        raise _refused(f"logged model name {name!r}")
    writer.active_run(run_id)
    model_id = f"m-{uuid.uuid4().hex}"
    artifact_location = f"{location}/models/{model_id}/artifacts"
    created = now_ms()
    writer.sql("INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, "
               "creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, "
               "model_type, source_run_id, status_message) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, 'active', 'gristmill', ?, NULL)",
               (model_id, int(experiment_id), name, artifact_location, created, created,
                _PENDING, run_id))
    writer.connection.executemany(
        "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) "
        "VALUES (?, ?, ?, ?)", [(model_id, int(experiment_id), str(k), str(v))
                                for k, v in tags.items()])
    writer.made.append(Path(location, "models", model_id))
    folder = Path(artifact_location)
    folder.mkdir(parents=True, exist_ok=True)
    copy_tree(local_dir, folder)
    writer.sql("UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? "
               "WHERE model_id = ?", (_READY, now_ms(), model_id))
    writer.sql("INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
               "destination_id, step) VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, 0)",
               (uuid.uuid4().hex, run_id, model_id))
    return model_id


def _check_dataset(fields: dict[str, Any], tags: list[tuple[str, str]]) -> None:
    for column in ("name", "digest", "source_type", "source"):
        if fields.get(column) is None:
            raise _refused(f"dataset without {column}")
    for column, limit in rules.DATASET_LIMITS.items():
        if fields.get(column) is not None and len(fields[column]) > limit:
            raise _refused(f"dataset {column} longer than {limit}")
    for key, value in tags:
        if key is None or value is None or len(key) > rules.INPUT_TAG_KEY_LIMIT or \
                len(value) > rules.INPUT_TAG_VALUE_LIMIT:
            raise _refused(f"dataset input tag {key!r}")


def log_datasets(writer, run_id: str,
                 datasets: list[tuple[dict[str, Any], list[tuple[str, str]]]]) -> None:
    """Dataset inputs of a run, as MLflow's ``log_inputs``: a dataset is one row per
    (experiment, name, digest), reused; an input already linked to the run is kept as is."""
    for fields, tags in datasets:
        _check_dataset(fields, tags)
    experiment_id, _ = writer.active_run(run_id)
    unique: dict[tuple[str, str], tuple] = {}
    for fields, tags in datasets:
        unique.setdefault((fields["name"], fields["digest"]), (fields, tags))
    for (name, digest), (fields, tags) in unique.items():
        row = writer.sql("SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND "
                         "name = ? AND digest = ?", (experiment_id, name, digest)).fetchone()
        dataset_uuid = row[0] if row else uuid.uuid4().hex
        if row is None:
            writer.sql("INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, "
                       "dataset_source_type, dataset_source, dataset_schema, dataset_profile) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (dataset_uuid, experiment_id, name, digest, fields["source_type"],
                        fields["source"], fields.get("schema"), fields.get("profile")))
        elif writer.sql("SELECT 1 FROM inputs WHERE source_type = 'DATASET' AND source_id = ? "
                        "AND destination_type = 'RUN' AND destination_id = ?",
                        (dataset_uuid, run_id)).fetchone():
            continue
        input_uuid = uuid.uuid4().hex
        writer.sql("INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
                   "destination_id, step) VALUES (?, 'DATASET', ?, 'RUN', ?, 0)",
                   (input_uuid, dataset_uuid, run_id))
        writer.connection.executemany(
            "INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)",
            [(input_uuid, k, v) for k, v in dict(tags).items()])


def _model_version(writer, name: str, version: str) -> tuple[str, int]:
    """``(workspace, version number)`` of an existing, not deleted model version."""
    if name is None or not name.strip() or "/" in name or ":" in name:
        raise _refused(f"registered model name {name!r}")
    try:
        number = int(version)
    except ValueError:
        raise _refused(f"model version {version!r}") from None
    rows = writer.sql("SELECT workspace FROM model_versions WHERE name = ? AND version = ? "
                      "AND current_stage != ?", (name, number, _DELETED_STAGE)).fetchall()
    if len(rows) != 1:
        raise _refused(f"model version {name} {version} not found")
    return rows[0][0], number


def update_model_version(writer, name: str, version: str, description: str) -> None:
    """The version's description (and its last-updated time), as MLflow's client."""
    from gristmill.orchestrator.mlflow.sqlite_writer import now_ms

    workspace, number = _model_version(writer, name, version)
    writer.sql("UPDATE model_versions SET description = ?, last_updated_time = ? "
               "WHERE workspace = ? AND name = ? AND version = ?",
               (description, now_ms(), workspace, name, number))


def set_model_version_tag(writer, name: str, version: str, key: str, value: str) -> None:
    """Set (insert or replace) one tag of a model version."""
    problem = rules.key_value_problem("model version tag", key, None, 0)
    if problem or value is None or key == "mlflow.prompt.text":
        raise _refused(problem or f"model version tag {key!r}")
    workspace, number = _model_version(writer, name, version)
    writer.sql("INSERT INTO model_version_tags (key, value, name, version, workspace) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace, key, name, version) "
               "DO UPDATE SET value = excluded.value", (key, str(value), name, number,
                                                        workspace))
