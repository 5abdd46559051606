"""Register a serving bundle in the MLflow Model Registry (used by the Pusher).

MLflow is imported lazily: only a pipeline with a ``tracking_uri`` pays for it.
"""

from __future__ import annotations

import os
from typing import Any

MLFLOW_MODEL_DIR = "mlflow_model"
ARTIFACT_PATH = "pushed_model"


def _artifact_location(tracking_uri: str) -> str | None:
    """Keep artifacts beside a SQLite database instead of MLflow's cwd-relative ``./mlruns``."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        db_path = tracking_uri[len(prefix):]
        return os.path.join(os.path.dirname(os.path.abspath(db_path)), "mlartifacts")
    return None


def _run_for(client: Any, tracking_uri: str, run_id: str | None, experiment_name: str | None
             ) -> tuple[str, bool]:
    """The run to log the model to: the component's run, or a new one (then we end it)."""
    if run_id:
        return run_id, False
    name = experiment_name or "gristmill"
    experiment = client.get_experiment_by_name(name)
    experiment_id = (experiment.experiment_id if experiment is not None else
                     client.create_experiment(name, artifact_location=_artifact_location(
                         tracking_uri)))
    run = client.create_run(experiment_id, run_name="Pusher")
    return run.info.run_id, True


def register_model_version(tracking_uri: str, name: str, bundle_dir: str, *,
                           tags: dict[str, str], alias: str = "champion",
                           run_id: str | None = None, experiment_name: str | None = None) -> int:
    """Log a bundle to an MLflow run and register it as a new version of ``name``.

    The bundle's ``mlflow_model/`` (pyfunc) is what gets registered; a bundle without one is
    registered whole. The registered model is created when missing, the version gets
    ``tags`` and ``alias`` is moved onto it.

    Args:
        tracking_uri: MLflow tracking URI, e.g. ``sqlite:////abs/path/mlflow.db``.
        name: Registered model name.
        bundle_dir: The Model artifact directory.
        tags: Tags for the model version (links back to the pipeline run and artifacts).
        alias: Alias to point at the new version.
        run_id: Run to log under (the component's run); a new run is made when ``None``.
        experiment_name: Experiment for that new run.

    Returns:
        The new version number.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"gristmill.managed": "true"})
    run, created = _run_for(client, tracking_uri, run_id, experiment_name)
    source_dir = os.path.join(bundle_dir, MLFLOW_MODEL_DIR)
    if not os.path.isdir(source_dir):
        source_dir = bundle_dir
    try:
        client.log_artifacts(run, source_dir, ARTIFACT_PATH)
        version = client.create_model_version(name, source=f"runs:/{run}/{ARTIFACT_PATH}",
                                              run_id=run, tags=tags)
        client.set_registered_model_alias(name, alias, version.version)
    finally:
        if created:
            client.set_terminated(run)
    return int(version.version)
