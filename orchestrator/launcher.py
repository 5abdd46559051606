"""One node's fixed lifecycle: resolve inputs -> register -> cache check -> execute -> publish.

The launcher only sequences; every store write is a named function in :mod:`publisher`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gristmill.components.framework.base import BaseComponent
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.confinement import ConfinementError, confine
from gristmill.metadata.errors import IntegrityError
from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.store import NODE, MetadataStore
from gristmill.metadata.types import Artifact, ArtifactState, ExecutionRecord, ExecutionState
from gristmill.orchestrator import object_store, publisher
from gristmill.orchestrator.cache import cache_ingredients, cache_key
from gristmill.orchestrator.cleanup import DeferredCleanup
from gristmill.orchestrator.failures import Failure, describe_failure
from gristmill.orchestrator.hooks import NodeResult, PipelineHooks, RunInfo
from gristmill.orchestrator.runtime_params import resolve_runtime_parameters
from gristmill.orchestrator.store_nodes import import_node, resolve_node

log = logging.getLogger(__name__)


def execute_here(component: BaseComponent, context: ExecutionContext,
                 inputs: dict[str, list[Artifact]], outputs: dict[str, list[Artifact]]
                 ) -> dict[str, Any]:
    """Run the node's executor in this process; nothing extra to record."""
    component.EXECUTOR(context).Do(inputs, outputs, component.parameters)
    return {}


@dataclass
class RunState:
    """What the nodes of one run share: the store, contexts and outputs produced so far."""

    info: RunInfo
    store: MetadataStore
    hooks: PipelineHooks
    context_ids: list[int]
    enable_cache: bool = True
    beam_pipeline_args: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, list[Artifact]]] = field(default_factory=dict)
    #: Artifact ids written or fingerprint-checked in this run (inputs not to re-hash).
    produced_here: set[int] = field(default_factory=set)
    #: Paths artifacts from the store may lie under: the root, Importer sources.
    read_roots: tuple[str, ...] = ()
    #: Executions whose executor is running now: execution id -> (node id, staging dirs).
    executing: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    #: Set when the run is interrupted (Ctrl-C): executors still finishing publish nothing.
    interrupted: threading.Event = field(default_factory=threading.Event)
    #: The nodes whose executions were canceled by the interrupt.
    canceled: list[str] = field(default_factory=list)
    #: Deletes scratch and emptied staging directories off the critical path; the runner
    #: drains it before the run returns.
    cleanup: DeferredCleanup = field(default_factory=DeferredCleanup)
    #: Node id -> id of its NODE context, created for every selected node at the start.
    node_context_ids: dict[str, int] = field(default_factory=dict)
    #: How an executor runs (the seam runners differ by): in this process by default; the
    #: Ray runner ships it to a cluster. Returns properties recorded on the execution.
    execute: Callable[..., dict[str, Any]] = execute_here

    def node_context_id(self, node_id: str) -> int:
        """The id of ``node_id``'s NODE context (created when it was not prepared)."""
        if node_id not in self.node_context_ids:
            name = f"{self.info.pipeline_name}.{node_id}"
            self.node_context_ids[node_id] = self.store.put_context(NODE, name).id
        return self.node_context_ids[node_id]


INTERRUPTED = "interrupted (Ctrl-C) while running; its partial outputs were discarded"


def cancel_executing(run: RunState) -> list[str]:
    """Record every execution still running as CANCELED and delete its staging and scratch
    files; return the canceled node ids. Called when the run is interrupted."""
    run.interrupted.set()
    for execution_id, (node_id, scratch) in list(run.executing.items()):
        _cancel_interrupted(run, execution_id, node_id, scratch)
    return list(run.canceled)


def _cancel_interrupted(run: RunState, execution_id: int, node_id: str,
                        scratch: list[str]) -> None:
    run.executing.pop(execution_id, None)
    for path in scratch:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))  # ".staging/<token>" once its outputs are gone
    execution = run.store.get_execution(execution_id)
    if execution.state in (ExecutionState.NEW, ExecutionState.RUNNING):
        publisher.publish_canceled(run.store, execution, INTERRUPTED)
        run.canceled.append(node_id)


def launch(component: BaseComponent, run: RunState, node_context_id: int) -> NodeResult:
    """Run one node through its lifecycle and return what happened."""
    result = NodeResult(component.id, component.type_name, ExecutionState.NEW)
    started = time.time()
    try:
        result.inputs = resolve_inputs(component, run)
        component = resolve_runtime_parameters(component, run.outputs)  # before the cache key
        if hasattr(component, "make_artifact"):  # an Importer node
            import_node(component, run, node_context_id, result)
        elif hasattr(component, "resolve_from_store"):  # a Resolver node
            resolve_node(component, run, node_context_id, result)
        else:
            _execute_with_retries(component, run, node_context_id, result)
    except Exception as e:  # fail this node, never the scheduling loop of the whole run
        result.state = ExecutionState.FAILED
        _set_failure(result, describe_failure(component.id, component.type_name, e,
                                              run.info.run_id))
        if result.execution_id is None:
            _record_failure_before_start(component, run, node_context_id, result)
        else:
            _fail_if_unfinished(run, result)
    result.seconds = time.time() - started
    if not result.reported:  # an Importer, or a failure between registration and execution
        run.hooks.after_node(run.info, result, ExecutionContext(
            component_id=component.id, pipeline_name=run.info.pipeline_name,
            run_id=run.info.run_id, execution_id=result.execution_id))
    return result


def _record_failure_before_start(component: BaseComponent, run: RunState,
                                 node_context_id: int, result: NodeResult) -> None:
    """A node failed before its execution was registered (its input data path is wrong, an
    input was modified): record a FAILED execution anyway (:func:`launch` then tells the
    hooks), so that ``runs show``, the progress lines and MLflow all show its error."""
    try:
        execution = publisher.register_execution(
            run.store, component_id=component.id, component_type=component.type_name,
            parameters=result.parameters, cache_key=None, ingredients={},
            context_ids=[*run.context_ids, node_context_id], inputs=result.inputs,
            outputs={}, pipeline_name=run.info.pipeline_name, run_id=run.info.run_id,
            state=ExecutionState.NEW)
        publisher.publish_failed(run.store, execution, result.error or "failed")
        result.execution_id = execution.id
    except Exception as e:  # the store itself is failing (full disk): the error still prints
        log.warning("could not record the failure of %s: %s", component.id, e)


def _fail_if_unfinished(run: RunState, result: NodeResult) -> None:
    """A lifecycle step failed after registration: do not leave the execution RUNNING."""
    if result.execution_id is None:
        return
    try:
        execution = run.store.get_execution(result.execution_id)
        if execution.state in (ExecutionState.NEW, ExecutionState.RUNNING):
            publisher.publish_failed(run.store, execution, result.error or "failed")
    except Exception as e:  # the store itself is failing (full disk); stale recovery will
        # catch the execution later, and the node's own error is kept and printed
        log.warning("could not mark execution %s FAILED: %s", result.execution_id, e)


def resolve_inputs(component: BaseComponent, run: RunState) -> dict[str, list[Artifact]]:
    """Each input channel's artifacts, checked against their fingerprints when reused."""
    resolved: dict[str, list[Artifact]] = {}
    for key, channel in component.inputs.items():
        if channel.producer is None:
            continue  # free-standing channels are a Resolver's business
        artifacts = run.outputs.get(channel.producer_id, {}).get(channel.output_key, [])
        for artifact in artifacts:
            if artifact.id not in run.produced_here:
                verify_intact(artifact, f"{component.id}({key}=...)", run.read_roots)
        resolved[key] = list(artifacts)
    return resolved


def verify_intact(artifact: Artifact, consumer: str, roots: tuple[str, ...] = ()) -> None:
    """Raise IntegrityError when an artifact's files no longer match its fingerprint, and
    ConfinementError (before reading anything) when they lie outside ``roots``."""
    what = f"{consumer}: artifact {artifact.id} ({artifact.type_name})"
    if object_store.is_remote(artifact.uri):
        object_store.check_confined(artifact.uri, roots, what)
        return object_store.verify_remote(artifact, consumer)
    if roots:
        confine(artifact.uri, roots, what=what)
    if not os.path.exists(artifact.uri):
        raise IntegrityError(f"{consumer}: artifact {artifact.id} ({artifact.type_name}) is "
                             f"missing: {artifact.uri} was deleted.", artifact_id=artifact.id,
                             uri=artifact.uri, fix="re-run its producer with --no-cache")
    if artifact.fingerprint and fingerprint_path(artifact.uri) != artifact.fingerprint:
        raise IntegrityError(f"{consumer}: artifact {artifact.id} ({artifact.type_name}) at "
                             f"{artifact.uri} was modified after it was published (fingerprint "
                             "mismatch).", artifact_id=artifact.id, uri=artifact.uri,
                             fix="re-run its producer with --no-cache")


def _execute_with_retries(component: BaseComponent, run: RunState, node_context_id: int,
                          result: NodeResult) -> None:
    """Execute; after an executor failure, try again up to ``max_execution_retries``
    times with exponential backoff. Every attempt is its own execution in the store."""
    options = component.execution_options
    for attempt in range(options.max_execution_retries + 1):
        if attempt:
            wait = options.retry_backoff_sec * 2 ** (attempt - 1)
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", component.id,
                        attempt, result.error, wait)
            time.sleep(wait)
            result.state, result.error = ExecutionState.NEW, None
        _execute_node(component, run, node_context_id, result)
        result.attempts = attempt + 1
        if result.state is not ExecutionState.FAILED:
            return
    if options.max_execution_retries:
        result.error = f"{result.error} (failed all {result.attempts} attempts)"


def _execute_node(component: BaseComponent, run: RunState, node_context_id: int,
                  result: NodeResult) -> None:
    started = time.time()
    ingredients = cache_ingredients(component, result.inputs, run.info.pipeline_name)
    key = cache_key(ingredients)
    result.parameters = ingredients["parameters"]
    use_cache = run.enable_cache if component.execution_options.enable_cache is None \
        else component.execution_options.enable_cache
    cached = _lookup_cache(run, key, component.id, result) if use_cache else None
    # (the earlier execution, its outputs as just checked: not read from the store again)
    token = uuid.uuid4().hex[:12]
    outputs = {} if cached else _plan_outputs(component, run, token)
    execution = publisher.register_execution(
        run.store, component_id=component.id, component_type=component.type_name,
        parameters=result.parameters, cache_key=key, ingredients=ingredients,
        context_ids=[*run.context_ids, node_context_id], inputs=result.inputs,
        outputs={k: [a for a, _ in v] for k, v in outputs.items()},
        pipeline_name=run.info.pipeline_name, run_id=run.info.run_id)
    result.execution_id = execution.id
    context = _make_context(component, run, execution, token, scratch=not cached)
    run.hooks.before_node(run.info, result, context)
    try:
        if cached:
            _finish_cached(run, execution, *cached, result)
        else:
            _run_executor(component, run, execution, outputs, context, result)
    finally:
        if not cached:
            run.cleanup.remove_tree(context.tmp_dir)
        result.seconds = time.time() - started
        run.hooks.after_node(run.info, result, context)


def _lookup_cache(run: RunState, key: str, node_id: str, result: NodeResult
                  ) -> tuple[ExecutionRecord, dict[str, list[Artifact]]] | None:
    store = run.store
    record = store.find_cached_execution(key)
    if record is None:
        result.cache_reason = "no earlier execution with this cache key"
        return None
    outputs = store.get_outputs(record.id)
    for artifacts in outputs.values():
        for artifact in artifacts:
            try:
                verify_intact(artifact, node_id, run.read_roots)
            except ConfinementError as e:  # never reuse it, never touch its path
                store.set_artifact_state(artifact.id, ArtifactState.ABANDONED)
                result.cache_reason = f"cached outputs refused: {e}"
                log.warning("%s", result.cache_reason)
                return None
            except IntegrityError as e:
                gone = not object_store.exists(artifact.uri)
                store.set_artifact_state(
                    artifact.id, ArtifactState.DELETED if gone else ArtifactState.ABANDONED)
                result.cache_reason = f"cached outputs unusable: {e}"
                log.warning("%s", result.cache_reason)
                return None
    return record, outputs


def _plan_outputs(component: BaseComponent, run: RunState, token: str
                  ) -> dict[str, list[tuple[Artifact, str]]]:
    """One artifact per output key: its final URI and its staging directory."""
    root = run.info.root
    planned = {}
    for key, spec in component.OUTPUTS.items():
        final = os.path.join(root, component.id, key, token)
        staging = os.path.join(object_store.local_dir(root), ".staging", token, key)
        artifact = spec.type(final, producer_component=component.id, output_key=key)
        planned[key] = [(artifact, staging)]
    return planned


def _make_context(component: BaseComponent, run: RunState, execution: ExecutionRecord,
                  token: str, scratch: bool = True) -> ExecutionContext:
    """The executor's context; its ``tmp_dir`` is created only when ``scratch`` (a node
    taken from the cache runs no executor and needs none)."""
    tmp_dir = os.path.join(object_store.local_dir(run.info.root), ".tmp", token)
    if scratch:
        os.makedirs(tmp_dir, exist_ok=True)
    return ExecutionContext(
        component_id=component.id, pipeline_name=run.info.pipeline_name,
        run_id=run.info.run_id, execution_id=execution.id, pipeline_root=run.info.root,
        tmp_dir=tmp_dir, beam_pipeline_args=[*run.beam_pipeline_args,
                                             *component.beam_pipeline_args],
        tracking_uri=run.info.tracking_uri or None, experiment_name=run.info.pipeline_name)


def _finish_cached(run: RunState, execution: ExecutionRecord, cached: ExecutionRecord,
                   outputs: dict[str, list[Artifact]], result: NodeResult) -> None:
    metrics = dict(cached.custom_properties.get("metrics", {}))
    publisher.publish_cached(run.store, execution, outputs,
                             {"cached_from_execution": cached.id, "metrics": metrics})
    result.state, result.outputs, result.metrics = ExecutionState.CACHED, outputs, metrics
    result.halt_reason = cached.custom_properties.get("halt_reason")
    # _lookup_cache has just checked their fingerprints; consumers need not hash them again.
    run.produced_here.update(a.id for v in outputs.values() for a in v)


def _run_executor(component: BaseComponent, run: RunState, execution: ExecutionRecord,
                  planned: dict[str, list[tuple[Artifact, str]]], context: ExecutionContext,
                  result: NodeResult) -> None:
    staging_views: dict[str, list[Artifact]] = {}
    for key, pairs in planned.items():
        staging_views[key] = []
        for artifact, staging in pairs:
            os.makedirs(staging, exist_ok=True)
            artifact.uri, final = staging, artifact.uri
            staging_views[key].append(artifact)
            artifact._final_uri = final  # type: ignore[attr-defined]
    staging_dirs = [s for v in planned.values() for _, s in v]
    run.executing[execution.id] = (component.id, [*staging_dirs, context.tmp_dir])
    try:
        placement = run.execute(component, context,
                                object_store.local_inputs(result.inputs, run.produced_here),
                                staging_views)
    except KeyboardInterrupt:
        _cancel_interrupted(run, execution.id, component.id, [*staging_dirs, context.tmp_dir])
        result.state, result.error = ExecutionState.CANCELED, INTERRUPTED
        raise
    except BaseException as e:
        run.executing.pop(execution.id, None)
        result.state = ExecutionState.FAILED
        _set_failure(result, describe_failure(component.id, component.type_name, e,
                                              run.info.run_id))
        try:
            publisher.publish_failed(run.store, execution, result.error, [
                s for v in planned.values() for _, s in v])
        except Exception as store_error:  # a full disk must not lose the node's own error
            result.error += (f"\n(the failure could not be recorded in the metadata store: "
                             f"{type(store_error).__name__}: {store_error})")
        if not isinstance(e, Exception):
            raise  # SystemExit still stops the run
        return
    run.executing.pop(execution.id, None)
    if run.interrupted.is_set():  # finished after Ctrl-C: the execution is CANCELED already
        _cancel_interrupted(run, execution.id, component.id, staging_dirs)
        result.state, result.error = ExecutionState.CANCELED, INTERRUPTED
        return
    staged = {k: [(_finalise(a), s) for a, s in v] for k, v in planned.items()}
    props: dict[str, Any] = {"metrics": context.metrics, **placement}
    if context.halt_reason:
        context.halt_reason = _published_paths(context.halt_reason, staged)
        props["halt_reason"] = context.halt_reason
    publisher.publish_succeeded(run.store, execution, staged, props,
                                run.cleanup.remove_if_empty)
    result.state, result.metrics = ExecutionState.COMPLETE, dict(context.metrics)
    result.halt_reason = context.halt_reason
    result.outputs = {k: [a for a, _ in v] for k, v in staged.items()}
    run.produced_here.update(a.id for v in result.outputs.values() for a in v)


def _published_paths(text: str, staged: dict[str, list[tuple[Artifact, str]]]) -> str:
    """``text`` with staging paths replaced by where the outputs live after publishing.

    Executors write into staging and name report files there (a halt reason points at the
    validator's report); staging is gone once the outputs are promoted.
    """
    moves = sorted(((s, a.uri) for pairs in staged.values() for a, s in pairs),
                   key=lambda move: -len(move[0]))  # ".../key2" before its prefix ".../key"
    for staging, final in moves:
        text = text.replace(staging, final)
    return text


def _finalise(artifact: Artifact) -> Artifact:
    artifact.uri = artifact.__dict__.pop("_final_uri")
    return artifact


def _set_failure(result: NodeResult, failure: Failure) -> None:
    """The node's error (printed under its progress line and in the summary)."""
    result.error, result.internal_error, result.bug_log = (
        failure.message, failure.internal, failure.bug_log)
