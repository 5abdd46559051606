"""Register a serving bundle in the MLflow Model Registry (used by the Pusher).

MLflow is imported lazily: only a pipeline with a ``tracking_uri`` pays for it.
"""

from __future__ import annotations

import os

MLFLOW_MODEL_DIR = "mlflow_model"
ARTIFACT_PATH = "pushed_model"


def register_model_version(tracking_uri: str, name: str, bundle_dir: str, *,
                           tags: dict[str, str], alias: str = "champion",
                           run_id: str | None = None) -> int:
    """Register a pushed bundle as a new version of ``name`` and point ``alias`` at it.

    The bundle's ``mlflow_model/`` (pyfunc) is what gets registered; a bundle without one is
    registered whole. With ``run_id`` (the Trainer's MLflow run) the model is logged to
    that run and registered from it; without, the version's source is the absolute local
    path of ``bundle_dir`` (the pushed, versioned copy) and no run is created, so no stray
    run appears in the experiment. The registered model is created when missing; the version
    gets ``tags``.

    Args:
        tracking_uri: MLflow tracking URI, e.g. ``sqlite:////abs/path/mlflow.db``.
        name: Registered model name.
        bundle_dir: The pushed bundle directory.
        tags: Tags for the model version (links back to the pipeline run and artifacts).
        alias: Alias to point at the new version.
        run_id: The MLflow run to log the model under and link the version to (its
            "Source run"): the mirror passes the run of the node that trained the model.

    Returns:
        The new version number.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from gristmill.components.framework.tracking_store import ensure_tracking_store

    ensure_tracking_store(tracking_uri)  # waits if another process is creating the schema
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"gristmill.managed": "true"})
    source_dir = os.path.join(bundle_dir, MLFLOW_MODEL_DIR)
    if not os.path.isdir(source_dir):
        source_dir = bundle_dir
    if run_id:
        client.log_artifacts(run_id, source_dir, ARTIFACT_PATH)
        version = client.create_model_version(name, source=f"runs:/{run_id}/{ARTIFACT_PATH}",
                                              run_id=run_id, tags=tags)
    else:
        version = client.create_model_version(name, source=os.path.abspath(source_dir),
                                              tags=tags)
    client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)
