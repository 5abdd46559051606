"""``gristmill bless MODEL_ID --reason TEXT [--revoke]``: a human overrules the Evaluator, on
the record.

Each call records one ``ManualBlessing`` execution in the metadata store: its input is the
Model artifact, its output a new ModelBlessing artifact whose custom properties say
``manual=1``, ``blessed`` (1 bless, 0 revoke), ``current_model_id``, ``blessed_by`` (the OS
user), ``blessed_at`` (UTC), ``reason`` and ``blessing_message``; the parameters hold the
same. It belongs to the context ``manual_blessing`` named after the model's pipeline (not to
the pipeline context, so a Resolver's "latest blessed model" is unchanged by it).

The artifact's files (``blessing.json``, ``BLESSED``/``NOT_BLESSED``) live under
``<GRISTMILL_HOME>/manual_blessings/`` where the Pusher looks for them
(:mod:`gristmill.components.pusher.manual_override`): the newest record for a model wins.
``gristmill lineage MODEL_ID --direction downstream``, ``runs show`` and ``artifacts`` show it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import tempfile
import time
import uuid
from typing import Any

from gristmill.components.pusher.manual_override import (
    canonical_model_uri,
    manual_blessings_root,
    model_key,
)
from gristmill.metadata.errors import ConfigError, StoreError
from gristmill.metadata.standard_artifacts import Model, ModelBlessing
from gristmill.metadata.store import MetadataStore
from gristmill.metadata.types import ArtifactState, EventType
from gristmill.orchestrator import publisher

COMPONENT_ID = "ManualBlessing"
COMPONENT_TYPE = "gristmill.ManualBlessing"
CONTEXT_TYPE = "manual_blessing"


def _model(store: MetadataStore, artifact_id: int) -> Model:
    try:
        [artifact] = store.get_artifacts([artifact_id])
    except StoreError as e:
        raise ConfigError(f"bless: no artifact {artifact_id} in this metadata store.",
                          fix="list models with `gristmill artifacts --type Model`, or pass "
                              "--db URL") from e
    if artifact.type_name != Model.TYPE_NAME:
        raise ConfigError(f"bless: artifact {artifact_id} is a {artifact.type_name}, not a "
                          "Model; a blessing is about a model.",
                          fix="pass the id of a Model (`gristmill artifacts --type Model`)")
    if artifact.state != ArtifactState.LIVE:
        raise ConfigError(f"bless: model {artifact_id} is {artifact.state.value}, not LIVE "
                          f"({artifact.uri}); its files cannot be pushed.",
                          fix="bless a LIVE model (`gristmill artifacts --type Model`)")
    return artifact


def _pipeline_of(store: MetadataStore, artifact_id: int) -> str:
    for event in store.get_events(artifact_id=artifact_id):
        if event.type == EventType.OUTPUT:
            return store.get_execution(event.execution_id).pipeline_name
    return ""


def _record(model: Model, blessed: bool, reason: str, user: str, when: float) -> dict[str, Any]:
    stamp = dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    verb = "manually blessed" if blessed else "manual blessing revoked"
    return {"manual": True, "blessed": blessed, "model_id": model.id,
            "model_uri": canonical_model_uri(model.uri), "blessed_by": user, "blessed_at": stamp,
            "reason": reason, "blessing_message": f"{verb} by {user} at {stamp}: {reason}"}


def record_manual_blessing(store: MetadataStore, artifact_id: int, reason: str,
                           revoke: bool = False, user: str | None = None) -> dict[str, Any]:
    """Record a manual blessing (or its revocation) of a model as an execution.

    Args:
        store: The metadata store (opened by the CLI).
        artifact_id: The Model artifact's id.
        reason: Why; required, shown wherever the decision is.
        revoke: Record a revocation: the Pusher then refuses the model.
        user: Who; default the OS user.

    Returns:
        The record: ``blessing.json``'s content plus ``execution_id`` and ``artifact_id``.

    Raises:
        ConfigError: Empty reason; the id is not a LIVE Model in this store.
    """
    if not reason or not reason.strip():
        raise ConfigError("bless: --reason is empty; a manual blessing must say why.",
                          fix='gristmill bless MODEL_ID --reason "why this model may ship"')
    model = _model(store, artifact_id)
    record = _record(model, not revoke, reason.strip(), user or getpass.getuser(), time.time())
    pipeline = _pipeline_of(store, artifact_id)
    context = store.put_context(CONTEXT_TYPE, pipeline or "(no pipeline)")
    folder = os.path.join(manual_blessings_root(), model_key(model.uri))
    os.makedirs(folder, exist_ok=True)
    blessing = ModelBlessing(os.path.join(folder, f"{time.time_ns()}"),
                             producer_component=COMPONENT_ID, output_key="blessing")
    execution = publisher.register_execution(
        store, component_id=COMPONENT_ID, component_type=COMPONENT_TYPE,
        parameters={k: record[k] for k in ("blessed", "blessed_by", "blessed_at", "reason")},
        cache_key=None, ingredients={}, context_ids=[context.id], inputs={"model": [model]},
        outputs={"blessing": [blessing]}, pipeline_name=pipeline,
        run_id=f"manual-blessing-{uuid.uuid4().hex[:12]}")
    record["execution_id"] = execution.id
    staging = tempfile.mkdtemp(prefix=".staging-", dir=folder)
    try:
        _write(staging, record)
        for key in ("manual", "blessed", "blessed_by", "blessed_at", "reason",
                    "blessing_message"):
            blessing.set_custom_property(key, int(record[key]) if isinstance(record[key], bool)
                                         else record[key])
        blessing.set_custom_property("current_model_id", model.id)
        blessing.set_custom_property("current_model", model.uri)
        blessing.set_custom_property("manual_execution_id", execution.id)
        publisher.publish_succeeded(store, execution, {"blessing": [(blessing, staging)]},
                                    custom_properties={"manual_blessing": record})
    except BaseException as e:
        publisher.publish_failed(store, execution, f"{type(e).__name__}: {e}", [staging])
        raise
    return {**record, "artifact_id": blessing.id}


def _write(directory: str, record: dict[str, Any]) -> None:
    marker = "BLESSED" if record["blessed"] else "NOT_BLESSED"
    open(os.path.join(directory, marker), "w").close()
    with open(os.path.join(directory, "blessing.json"), "w") as f:
        json.dump(record, f, indent=1)


def manual_blessings_of(store: MetadataStore, model_ids: set[int]) -> dict[int, list[str]]:
    """Per model id, its manual blessings as lines (oldest first), for ``runs show``."""
    out: dict[int, list[str]] = {}
    for execution in store.list_executions(component_id=COMPONENT_ID):
        record = execution.custom_properties.get("manual_blessing")
        if record and record.get("model_id") in model_ids:
            out.setdefault(record["model_id"], []).append(
                f"{record['blessing_message']} (execution {execution.id})")
    return out
