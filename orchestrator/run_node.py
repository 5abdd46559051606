"""``gristmill run-node``: one node's whole lifecycle in its own process, for any scheduler.

Airflow, Kubeflow Pipelines or a shell loop run a pipeline across processes and machines by
calling ``run_node`` once per node, in dependency order, with one run id. Every call:

1. joins the pipeline run ``run_id`` in the shared metadata store: the first call creates
   the ``pipeline_run`` context, later calls (any process, any host) find the same one,
   so the run's executions, artifacts and status stay together as with ``gristmill run``;
2. returns at once when the node already succeeded (or was skipped) in this run, so a
   scheduler's retry or re-run of a finished task never executes it twice;
3. reads each upstream node's outputs of *this run* from the store; an upstream that has
   not succeeded yet is refused before anything is recorded (:class:`NodeNotReadyError`);
   an upstream that was skipped (``Cond``) skips this node; one that halted cancels it;
4. runs the launcher's lifecycle (:func:`gristmill.orchestrator.launcher.launch`: register,
   cache check, execute, publish) with one extra step between register and execute: the
   duplicate check of :class:`ExclusiveNode`, so two copies of the same node of the same
   run never both publish;
5. derives the run's status from the store (COMPLETE once every node succeeded or was
   skipped; FAILED, HALTED or RUNNING otherwise).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gristmill.metadata.errors import ConfigError, GristmillError, did_you_mean
from gristmill.metadata.settings import redact_text
from gristmill.metadata.store import NODE, PIPELINE_RUN, MetadataStore, open_store
from gristmill.metadata.types import Artifact, ArtifactState, ExecutionRecord, ExecutionState
from gristmill.orchestrator import publisher
from gristmill.orchestrator.compiler import CompiledPipeline, compile_pipeline
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.hooks import HookList, NodeResult, PipelineHooks, RunInfo
from gristmill.orchestrator.launcher import RunState, launch
from gristmill.orchestrator.runner import (
    SKIPPED,
    _cancel,
    _conditions_verdict,
    artifact_root,
    claim_pipeline_name,
    default_tracking_uri,
)

#: Exit codes of ``gristmill run-node``. 99 is Airflow's BashOperator ``skip_on_exit_code``.
EXIT_OK, EXIT_FAILED, EXIT_SKIPPED = 0, 1, 99
#: The error prefix of an execution refused because another copy of its node ran.
DUPLICATE = "duplicate: "
RUN_NODE_ORCHESTRATOR = "run-node"


class NodeNotReadyError(GristmillError):
    """An upstream node has not succeeded in this run yet: nothing was recorded."""


class DuplicateNodeError(GristmillError):
    """Another copy of this node of this run is running or has already published."""

    def __init__(self, message: str, *, rival: ExecutionRecord, fix: str | None = None):
        super().__init__(message, fix=fix)
        self.rival = rival


@dataclass
class NodeRunResult:
    """What ``run-node`` did, as its JSON line says it."""

    pipeline_name: str
    run_id: str
    node_id: str
    state: str
    exit_code: int
    execution_id: int | None = None
    error: str | None = None
    already_done: bool = False
    run_status: str | None = None
    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``gristmill run-node --json`` prints last."""
        return {"pipeline": self.pipeline_name, "run_id": self.run_id, "node": self.node_id,
                "state": self.state, "exit_code": self.exit_code,
                "execution_id": self.execution_id, "error": self.error,
                "already_done": self.already_done, "run_status": self.run_status,
                "outputs": self.outputs, "seconds": round(self.seconds, 3)}


def run_node(pipeline: Pipeline, node_id: str, run_id: str, *,
             params: dict[str, Any] | None = None, enable_cache: bool | None = None,
             scheduler_retries: bool = False, duplicate_wait_s: float = 600.0,
             hooks: Iterable[PipelineHooks] = ()) -> NodeRunResult:
    """Run node ``node_id`` of ``pipeline`` as part of run ``run_id``; see the module doc.

    Args:
        params: The parameters the pipeline was built with; every node of one run must
            pass the same (recorded on the run by its first node, then checked).
        enable_cache: Override the pipeline's ``enable_cache``.
        scheduler_retries: The scheduler retries failed tasks itself (Airflow ``retries``),
            so run one attempt here instead of the node's ``max_execution_retries``.
        duplicate_wait_s: How long to wait for a concurrent copy that registered after this
            one to decide (it refuses, or it publishes and this copy is refused).
        hooks: Extra hooks around the node (the MLflow mirror is the local runner's only).

    Raises:
        ConfigError: Unknown node, or ``run_id`` belongs to another pipeline, root or
            parameters.
        NodeNotReadyError: An upstream node has not succeeded in this run.
    """
    started = time.time()
    compiled = compile_pipeline(pipeline)
    if node_id not in compiled.nodes:
        raise ConfigError(f"run-node: pipeline {pipeline.name!r} has no node {node_id!r}."
                          f"{did_you_mean(node_id, compiled.nodes)}",
                          fix=f"use one of {sorted(compiled.nodes)}")
    component = compiled.nodes[node_id].component
    if scheduler_retries and component.execution_options.max_execution_retries:
        component = component.with_node_execution_options(  # one attempt per scheduler try
            replace(component.execution_options, max_execution_retries=0))
    recorded = {k: redact_text(str(v)) for k, v in (params or {}).items()}
    with open_store(pipeline.metadata_url) as store:
        publisher.recover_stale(store, artifact_root(pipeline), pipeline.name)
        _check_run(store, pipeline, run_id, recorded)
        done = _finished_in_run(store, pipeline.name, run_id, node_id)
        if done is not None:
            result = _already_done(pipeline.name, run_id, node_id, done, store)
        else:  # read the upstream outputs before recording anything
            outputs: dict[str, dict[str, list[Artifact]]] = {}
            verdict = _load_upstream(compiled, node_id, store, run_id, outputs)
            state = _join_run(store, pipeline, run_id, recorded, enable_cache)
            state.outputs.update(outputs)
            state.hooks = ExclusiveNode(HookList(list(hooks)), store, node_id,
                                        duplicate_wait_s)
            result = _run_or_cancel(compiled, node_id, component, state, verdict,
                                    duplicate_wait_s)
        result.run_status = update_run_status(store, compiled, run_id)
    result.seconds = time.time() - started
    return result


def _run_or_cancel(compiled: CompiledPipeline, node_id: str, component, state: RunState,
                   verdict: str, wait_s: float) -> NodeRunResult:
    """Launch the node (``verdict == "ready"``) or record it SKIPPED/CANCELED."""
    info, store = state.info, state.store
    if verdict == "ready":
        node_ctx = store.put_context(NODE, f"{info.pipeline_name}.{node_id}")
        node_result = launch(component, state, node_ctx.id)
    else:
        node_result = _cancel(compiled, node_id, state, verdict)
        node_result.skipped = verdict.startswith(SKIPPED)
    result = _to_run_result(info.pipeline_name, info.run_id, node_result)
    if result.state == "REFUSED":  # wait for the winning copy: its success is this one's
        winner = _await_winner(store, info, node_id, wait_s)
        if winner is not None and winner.state.succeeded:
            result.exit_code, result.already_done = EXIT_OK, True
    return result


def _await_winner(store: MetadataStore, info: RunInfo, node_id: str, wait_s: float,
                  poll_s: float = 0.2) -> ExecutionRecord | None:
    """The node's successful execution in the run once no other copy is unfinished (or
    ``wait_s`` has passed); ``None`` when none succeeded."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(
            e.state in (ExecutionState.NEW, ExecutionState.RUNNING)
            for e in _node_executions(store, info.pipeline_name, info.run_id, node_id)):
        time.sleep(poll_s)
    return _finished_in_run(store, info.pipeline_name, info.run_id, node_id)


def _check_run(store: MetadataStore, pipeline: Pipeline, run_id: str,
               params: dict[str, str]) -> None:
    """Refuse a node whose pipeline, root or parameters differ from its run's."""
    if not run_id or len(run_id) > 255:
        raise ConfigError(f"run-node: run id {run_id!r} must be 1-255 characters.",
                          fix="pass the scheduler's run id, e.g. --run-id \"$AIRFLOW_RUN_ID\"")
    existing = store.get_context(PIPELINE_RUN, run_id)
    if existing is None:
        return
    props = existing.properties
    recorded = {"pipeline": props.get("pipeline"), "root": props.get("root"),
                "params": props.get("params", {})}
    given = {"pipeline": pipeline.name, "root": artifact_root(pipeline), "params": params}
    for key, value in recorded.items():
        if key in props and value != given[key]:  # a `gristmill run` run records no root
            raise ConfigError(
                f"run-node {run_id!r}: this run was started with {key} {value!r}, but this "
                f"node was given {key} {given[key]!r}; the nodes of one run must agree.",
                fix="pass every node of a run the same pipeline file, --param values and "
                    "root, or use a new run id")


def _join_run(store: MetadataStore, pipeline: Pipeline, run_id: str, params: dict[str, str],
              enable_cache: bool | None) -> RunState:
    """The run's shared state: its contexts (created by the first node of the run)."""
    root = artifact_root(pipeline)
    pipeline_ctx = claim_pipeline_name(store, pipeline, root)  # same-name check, as `run`
    run_ctx = store.get_context(PIPELINE_RUN, run_id)
    if run_ctx is None:  # the first node of the run; a concurrent first node merges the same
        run_ctx = store.put_context(PIPELINE_RUN, run_id, {
            "pipeline": pipeline.name, "status": "RUNNING", "start_time": time.time(),
            "orchestrator": RUN_NODE_ORCHESTRATOR, "root": root, "params": params})
    tracking = default_tracking_uri() if pipeline.tracking_uri is None else pipeline.tracking_uri
    info = RunInfo(pipeline.name, run_id, root, pipeline.metadata_url, tracking, params,
                   run_ctx.properties.get("start_time") or time.time())
    cache = pipeline.enable_cache if enable_cache is None else enable_cache
    sources = [c.source_uri for c in pipeline.components if hasattr(c, "make_artifact")]
    return RunState(info, store, PipelineHooks(), [pipeline_ctx.id, run_ctx.id], cache,
                    list(pipeline.beam_pipeline_args), read_roots=(root, *sources))


def _node_executions(store: MetadataStore, pipeline_name: str, run_id: str, node_id: str
                     ) -> list[ExecutionRecord]:
    """The node's executions in this run, oldest first, without refused duplicates."""
    return [e for e in store.list_executions(run_id=run_id, pipeline_name=pipeline_name,
                                             component_id=node_id)
            if not (e.error or "").startswith(DUPLICATE)]


def _is_skip(execution: ExecutionRecord) -> bool:
    return (execution.state is ExecutionState.CANCELED
            and (execution.error or "").startswith(SKIPPED))


def _finished_in_run(store: MetadataStore, pipeline_name: str, run_id: str, node_id: str
                     ) -> ExecutionRecord | None:
    """The node's successful (or skipped) execution in this run, if it has one."""
    executions = _node_executions(store, pipeline_name, run_id, node_id)
    return next((e for e in reversed(executions) if e.state.succeeded or _is_skip(e)), None)


def _load_upstream(compiled: CompiledPipeline, node_id: str, store: MetadataStore,
                   run_id: str, outputs: dict[str, dict[str, list[Artifact]]]) -> str:
    """Fill ``outputs`` with the upstream nodes' outputs of this run.

    Returns ``"ready"``, ``"skipped: ..."`` or a reason to cancel (an upstream halted).

    Raises:
        NodeNotReadyError: An upstream has not succeeded (or been skipped) in this run.
    """
    name = compiled.pipeline.name
    not_ready, verdicts = [], []
    for up in sorted(compiled.nodes[node_id].upstream):
        done = _finished_in_run(store, name, run_id, up)
        if done is None:
            executions = _node_executions(store, name, run_id, up)
            not_ready.append(f"{up} ({_describe(executions[-1] if executions else None)})")
        elif _is_skip(done):
            verdicts.append(f"{SKIPPED}upstream {up} was skipped")
        else:
            outputs[up] = _live_outputs(store, done, node_id, up, run_id)
            if done.custom_properties.get("halt_reason"):
                verdicts.append(f"upstream {up} halted downstream nodes: "
                                f"{done.custom_properties['halt_reason']}")
    skip = next((v for v in verdicts if v.startswith(SKIPPED)), None)
    if skip or verdicts:
        return skip or verdicts[0]
    if not_ready:
        raise NodeNotReadyError(
            f"run-node {node_id}: run {run_id!r} of pipeline {name!r} has no LIVE outputs "
            f"yet from upstream {', '.join(not_ready)}; nothing was run or recorded.",
            fix="run the upstream nodes of this run first (the scheduler must order the "
                f"tasks by the pipeline's edges), then run {node_id} again")
    return _conditions_verdict(compiled.nodes[node_id].component, outputs)


def _describe(execution: ExecutionRecord | None) -> str:
    if execution is None:
        return "never ran in this run"
    detail = f": {execution.error.splitlines()[0]}" if execution.error else ""
    return f"latest execution {execution.id} is {execution.state.value}{detail}"


def _live_outputs(store: MetadataStore, execution: ExecutionRecord, node_id: str, up: str,
                  run_id: str) -> dict[str, list[Artifact]]:
    outputs = store.get_outputs(execution.id)
    for artifacts in outputs.values():
        for artifact in artifacts:
            if artifact.state is not ArtifactState.LIVE:
                raise NodeNotReadyError(
                    f"run-node {node_id}: output {artifact.output_key} (artifact "
                    f"{artifact.id}) of upstream {up} in run {run_id!r} is "
                    f"{artifact.state.value}, not LIVE.",
                    fix=f"re-run {up} in a new run (its files were removed or replaced)")
    return outputs


class ExclusiveNode(PipelineHooks):
    """Between register and execute: refuse this copy when another copy of the node won.

    Each copy registers its execution first (committed), then looks at the node's other
    executions in the run. It is refused when another copy already succeeded, or when a
    copy registered before it (smaller id) is still unfinished. When the only rivals
    registered after it, it waits for them: each either saw this copy and refuses, or did
    not and goes on to publish (then this copy is refused). Of any two copies at least one
    sees the other (each lists after its own commit), so never both publish; the one that
    waits only waits on larger ids, so nobody waits forever. A refused execution is
    CANCELED with a ``duplicate: ...`` error naming the rival.
    """

    def __init__(self, inner: PipelineHooks, store: MetadataStore, node_id: str,
                 wait_s: float, poll_s: float = 0.2):
        self.inner, self.store, self.node_id = inner, store, node_id
        self.wait_s, self.poll_s = wait_s, poll_s

    def before_node(self, run: RunInfo, result: NodeResult, context) -> None:
        mine = result.execution_id
        deadline = time.monotonic() + self.wait_s
        while True:
            rivals = self._rivals(run, mine)
            winner = next((e for e in rivals if e.state.succeeded), None) or next(
                (e for e in rivals if e.id < mine), None)
            if winner is not None or (rivals and time.monotonic() > deadline):
                self._refuse(run, result, context, winner or rivals[0])
            if not rivals:
                break
            time.sleep(self.poll_s)  # only later copies are unfinished: let them decide
        self.inner.before_node(run, result, context)

    def after_node(self, run: RunInfo, result: NodeResult, context) -> None:
        self.inner.after_node(run, result, context)

    def _rivals(self, run: RunInfo, mine: int) -> list[ExecutionRecord]:
        executions = self.store.list_executions(
            run_id=run.run_id, pipeline_name=run.pipeline_name, component_id=self.node_id)
        return [e for e in executions if e.id != mine and (
            e.state.succeeded or e.state in (ExecutionState.NEW, ExecutionState.RUNNING))]

    def _refuse(self, run: RunInfo, result: NodeResult, context, rival: ExecutionRecord
                ) -> None:
        shutil.rmtree(context.tmp_dir, ignore_errors=True)
        where = f"pid {rival.pid} on {rival.host}" if rival.pid else "another process"
        reason = (f"{DUPLICATE}node {result.node_id} of run {run.run_id!r} is already "
                  f"{rival.state.value} as execution {rival.id} ({where}); this copy "
                  f"(execution {result.execution_id}) was refused and published nothing.")
        publisher.publish_canceled(self.store, self.store.get_execution(result.execution_id),
                                   reason)
        raise DuplicateNodeError(
            reason, rival=rival,
            fix="none while the other copy runs; if its process is gone (a host that died "
                "cannot be checked from here), run the pipeline under a new run id: the "
                "completed nodes come from the cache")


def _to_run_result(pipeline_name: str, run_id: str, node: NodeResult) -> NodeRunResult:
    state = node.display_state
    error = node.error
    if node.execution_id is not None and (error or "").startswith(DUPLICATE):
        state = "REFUSED"
    exit_code = {"COMPLETE": EXIT_OK, "CACHED": EXIT_OK, "SKIPPED": EXIT_SKIPPED}.get(
        state, EXIT_FAILED)
    if node.halt_reason:
        error = f"halted downstream nodes: {node.halt_reason}"
    outputs = {k: [{"id": a.id, "uri": a.uri} for a in v] for k, v in node.outputs.items()}
    return NodeRunResult(pipeline_name, run_id, node.node_id, state, exit_code,
                         node.execution_id, error, outputs=outputs)


def _already_done(pipeline_name: str, run_id: str, node_id: str, done: ExecutionRecord,
                  store: MetadataStore) -> NodeRunResult:
    skipped = _is_skip(done)
    outputs = {} if skipped else {k: [{"id": a.id, "uri": a.uri} for a in v]
                                  for k, v in store.get_outputs(done.id).items()}
    return NodeRunResult(pipeline_name, run_id, node_id,
                         "SKIPPED" if skipped else done.state.value,
                         EXIT_SKIPPED if skipped else EXIT_OK, done.id,
                         done.error if skipped else None, already_done=True, outputs=outputs)


def update_run_status(store: MetadataStore, compiled: CompiledPipeline, run_id: str) -> str:
    """Derive run ``run_id``'s status from its executions and record it on its context.

    COMPLETE when every node succeeded or was skipped; HALTED when a node was canceled
    because an upstream halted; FAILED when a node's latest execution failed; else RUNNING.
    """
    name = compiled.pipeline.name
    ok, halted, failed = 0, False, False
    for node_id in compiled.order:
        executions = _node_executions(store, name, run_id, node_id)
        if any(e.state.succeeded or _is_skip(e) for e in executions):
            ok += 1
        elif executions and executions[-1].state is ExecutionState.CANCELED:
            halted = halted or "halted downstream" in (executions[-1].error or "")
            failed = failed or "halted downstream" not in (executions[-1].error or "")
        elif executions and executions[-1].state is ExecutionState.FAILED:
            failed = True
    status = ("COMPLETE" if ok == len(compiled.order) else "FAILED" if failed
              else "HALTED" if halted else "RUNNING")
    ctx = store.get_context(PIPELINE_RUN, run_id)
    if ctx is not None and ctx.properties.get("status") != status:
        changes: dict[str, Any] = {"status": status}
        if status != "RUNNING":
            changes["end_time"] = time.time()
        store.put_context(PIPELINE_RUN, run_id, changes)
    return status
