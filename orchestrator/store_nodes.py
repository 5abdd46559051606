"""Nodes that read the store instead of running an executor: Resolver and Importer.

Like every node they go through :func:`gristmill.orchestrator.launcher.launch`, which
resolves their inputs and records a failure; here they pick or register artifacts.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import publisher
from gristmill.orchestrator.hooks import NodeResult
from gristmill.orchestrator.resolver import resolve_intact

if TYPE_CHECKING:
    from gristmill.orchestrator.launcher import RunState

log = logging.getLogger(__name__)


def resolve_node(component: Any, run: RunState, node_context_id: int,
                 result: NodeResult) -> None:
    """Pick artifacts from the store (damaged ones retired) and record what was picked."""
    started = time.time()
    resolution = resolve_intact(component, run.store, run.info.pipeline_name, result.inputs,
                                retire=True, roots=run.read_roots)
    outputs = resolution.outputs
    for note in resolution.retired:
        log.warning("%s", note)
    result.warnings += resolution.retired
    execution = publisher.register_execution(
        run.store, component_id=component.id, component_type=component.type_name,
        parameters=component.describe_parameters(), cache_key=None, ingredients={},
        context_ids=[*run.context_ids, node_context_id], inputs=result.inputs, outputs={},
        pipeline_name=run.info.pipeline_name, run_id=run.info.run_id)
    result.execution_id = execution.id
    result.parameters = component.describe_parameters()
    context = ExecutionContext(component_id=component.id, pipeline_name=run.info.pipeline_name,
                               run_id=run.info.run_id, execution_id=execution.id)
    run.hooks.before_node(run.info, result, context)
    resolved = {k: [a.id for a in v] for k, v in outputs.items()}
    context.log_metrics({f"resolved_{k}": float(len(v)) for k, v in outputs.items()})
    run.store.publish_execution(execution.id, state=ExecutionState.COMPLETE, custom_properties={
        "resolved": resolved, **({"retired": resolution.retired} if resolution.retired else {})})
    result.state, result.outputs = ExecutionState.COMPLETE, outputs
    result.seconds = time.time() - started
    run.hooks.after_node(run.info, result, context)


def import_node(component: Any, run: RunState, node_context_id: int,
                result: NodeResult) -> None:
    """Register an external file or folder as an artifact (reusing an identical import)."""
    started = time.time()
    if not os.path.exists(component.source_uri):
        component.make_artifact("")  # raises the ConfigError naming the path
    fingerprint = fingerprint_path(component.source_uri)
    reused = None if component.reimport else next(
        (a for a in run.store.list_artifacts(type_name=component.artifact_type.TYPE_NAME,
                                             states=[ArtifactState.LIVE])
         if a.uri == component.source_uri and a.fingerprint == fingerprint), None)
    artifact = reused or component.make_artifact(fingerprint)
    execution = publisher.register_execution(
        run.store, component_id=component.id, component_type=component.type_name,
        parameters=component.describe_parameters(), cache_key=None, ingredients={},
        context_ids=[*run.context_ids, node_context_id], inputs={},
        outputs={} if reused else {"result": [artifact]},
        pipeline_name=run.info.pipeline_name, run_id=run.info.run_id)
    if reused:
        publisher.publish_cached(run.store, execution, {"result": [reused]}, {"reused": True})
        result.state = ExecutionState.CACHED
    else:
        run.store.publish_execution(execution.id, state=ExecutionState.COMPLETE,
                                    outputs={"result": [artifact]})
        result.state = ExecutionState.COMPLETE
    result.execution_id, result.outputs = execution.id, {"result": [artifact]}
    result.parameters = component.describe_parameters()
    result.seconds = time.time() - started
