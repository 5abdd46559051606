"""Register a serving bundle in the MLflow Model Registry (used by the Pusher).

Into a local SQLite tracking store at the schema MLflow 3.17 writes, the registry rows are
written directly (:mod:`.registry_sqlite`, no MLflow import); anywhere else, or when that
writer refuses or SQLite fails, everything it did is rolled back and MLflow's client
registers instead (MLflow imported lazily). The log says at INFO which path and why.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

MLFLOW_MODEL_DIR = "mlflow_model"
ARTIFACT_PATH = "pushed_model"
#: The tags of a registered model the Pusher creates.
MANAGED_TAGS = {"gristmill.managed": "true"}


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
    source_dir = os.path.join(bundle_dir, MLFLOW_MODEL_DIR)
    if not os.path.isdir(source_dir):
        source_dir = bundle_dir
    refusal = _register_directly(tracking_uri, name, source_dir, tags, alias, run_id)
    if isinstance(refusal, int):
        return refusal
    log.info("Pusher: model version of %s registered with MLflow's client: %s", name, refusal)
    return _register_with_client(tracking_uri, name, source_dir, tags, alias, run_id)


def _register_directly(tracking_uri: str, name: str, source_dir: str, tags: dict[str, str],
                       alias: str, run_id: str | None) -> int | str:
    """The new version number, written with :mod:`.registry_sqlite`; else why not (all of
    it rolled back, copied files removed)."""
    from gristmill.components.framework.tracking_store import ensure_tracking_store
    from gristmill.components.pusher.registry_sqlite import RegistryWriter
    from gristmill.metadata.db_url import redact_text, sqlite_file
    from gristmill.metadata.mlflow_direct import store_refusal, write_directly

    ensure_tracking_store(tracking_uri)  # waits if another process is creating the schema
    refusal = store_refusal(tracking_uri)
    if refusal is not None:
        return refusal

    def register(writer: RegistryWriter) -> int:
        writer.ensure_registered_model(name, MANAGED_TAGS)
        if run_id:
            writer.log_artifacts(run_id, source_dir, ARTIFACT_PATH)
            source = f"runs:/{run_id}/{ARTIFACT_PATH}"
        else:
            source = os.path.abspath(source_dir)
        version = writer.create_model_version(name, source, run_id, tags)
        writer.set_alias(name, alias, version)
        return version

    written, version = write_directly(RegistryWriter, sqlite_file(tracking_uri), register)
    if not written:
        return redact_text(f"the direct registry writer refused: {version}")
    log.info("Pusher: %s version %d written directly into the MLflow registry (sqlite3)",
             name, version)
    return version


def _register_with_client(tracking_uri: str, name: str, source_dir: str,
                          tags: dict[str, str], alias: str, run_id: str | None) -> int:
    """The reference: the same registration through ``MlflowClient``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from gristmill.components.framework.tracking_store import ensure_tracking_store

    ensure_tracking_store(tracking_uri)  # waits if another process is creating the schema
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags=MANAGED_TAGS)
    if run_id:
        client.log_artifacts(run_id, source_dir, ARTIFACT_PATH)
        version = client.create_model_version(name, source=f"runs:/{run_id}/{ARTIFACT_PATH}",
                                              run_id=run_id, tags=tags)
    else:
        version = client.create_model_version(name, source=os.path.abspath(source_dir),
                                              tags=tags)
    client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)
