"""Runners: one scheduling loop; subclasses differ only in how they execute a node."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gristmill.metadata.db_url import sqlite_url
from gristmill.metadata.errors import ConfigError, GristmillError, did_you_mean
from gristmill.metadata.settings import gristmill_home, redact_text
from gristmill.metadata.store import NODE, PIPELINE, PIPELINE_RUN, MetadataStore, open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import publisher
from gristmill.orchestrator.compiler import CompiledPipeline, compile_pipeline
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.hooks import HookList, NodeResult, PipelineHooks, RunInfo
from gristmill.orchestrator.launcher import RunState, cancel_executing, launch
from gristmill.orchestrator.store_lock import wait_for_write_lock


@dataclass
class RunResult:
    """The outcome of one pipeline run."""

    pipeline_name: str
    run_id: str
    status: str
    root: str
    seconds: float
    components: list[NodeResult] = field(default_factory=list)
    resume_command: str | None = None

    def node(self, node_id: str) -> NodeResult:
        """The result of one node."""
        return next(r for r in self.components if r.node_id == node_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``gristmill run --json`` prints."""
        return {"run_id": self.run_id, "pipeline": self.pipeline_name, "status": self.status,
                "seconds": round(self.seconds, 3), "root": self.root,
                "components": [r.to_dict() for r in self.components],
                "resume_command": self.resume_command}


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run: the running executions are CANCELED, the run too.

    Attributes:
        run_id: The interrupted run.
        canceled: The nodes that were running and were canceled.
        resume_command: The command that resumes (completed components come from cache).
    """

    def __init__(self, run_id: str, canceled: list[str], resume_command: str | None):
        self.run_id, self.canceled, self.resume_command = run_id, canceled, resume_command
        super().__init__(f"run {run_id} interrupted")


def _interrupted(state: RunState, resume_command: str | None) -> RunInterrupted:
    """Record the interrupted run (running executions CANCELED, run CANCELED) at once."""
    canceled = cancel_executing(state)
    state.store.put_context(PIPELINE_RUN, state.info.run_id,
                            {"status": "CANCELED", "end_time": time.time()})
    state.hooks.after_pipeline_run(state.info, "CANCELED", [])
    return RunInterrupted(state.info.run_id, canceled, resume_command)


def default_tracking_uri() -> str:
    """``sqlite:////<GRISTMILL_HOME>/mlflow.db``: MLflow 3 refuses the plain file store."""
    return sqlite_url(gristmill_home().resolve() / "mlflow.db")  # quoted: "?" may be in it


def run_status(results: list[NodeResult]) -> str:
    """FAILED when a node failed; HALTED when a node asked to stop its descendants (e.g.
    ERROR anomalies), even a node with no descendants in this run: the data did not pass,
    so the run is not a success, and re-running the same data would not help; COMPLETE
    when every node succeeded (or was skipped by a ``Cond``); otherwise FAILED."""
    if any(r.state is ExecutionState.FAILED for r in results):
        return "FAILED"
    if any(r.halt_reason for r in results):
        return "HALTED"
    if all(r.state.succeeded or r.skipped for r in results):
        return "COMPLETE"
    return "FAILED"


def artifact_root(pipeline: Pipeline) -> str:
    """The pipeline's artifact root: a local or shared-filesystem path, ``file://``, or an
    object-store URL (``s3://``, ``gs://``, ``abfs://``: see :mod:`.object_store`)."""
    root = str(pipeline.root or gristmill_home() / "pipelines" / pipeline.name)
    if root.startswith("file://"):
        root = root[len("file://"):]
    elif "://" in root:
        from gristmill.orchestrator.object_store import check_root

        return check_root(root, pipeline.name)
    return os.path.abspath(root)


class BaseRunner:
    """Runs a pipeline's nodes in dependency order; subclasses provide :meth:`_submit`.

    Args:
        hooks: Extra hooks (progress, custom mirrors). The MLflow mirror is added unless
            the pipeline's ``tracking_uri`` is ``""``.
        mirror_mlflow: Set False to turn the MLflow mirror off.
    """

    def __init__(self, hooks: Iterable[PipelineHooks] = (), mirror_mlflow: bool = True):
        self.extra_hooks = list(hooks)
        self.mirror_mlflow = mirror_mlflow

    def run(self, pipeline: Pipeline, *, from_nodes: Iterable[str] = (),
            to_nodes: Iterable[str] = (), enable_cache: bool | None = None,
            params: dict[str, Any] | None = None, resume_command: str | None = None,
            allow_shared_name: bool = False) -> RunResult:
        """Run ``pipeline`` and return what happened to every selected node.

        Args:
            from_nodes: Run only these nodes and their descendants.
            to_nodes: Run only these nodes and their ancestors.
            enable_cache: Override the pipeline's ``enable_cache``.
            params: Parameters the pipeline was built with (recorded on the run).
            resume_command: The command to print if the run fails.
            allow_shared_name: Run although another pipeline (another file or
                ``pipeline_id``) has used this name in the store: the two share history.
        """
        compiled = compile_pipeline(pipeline)
        selected = select_nodes(compiled, list(from_nodes), list(to_nodes))
        wait_for_write_lock(pipeline.metadata_url)
        with open_store(pipeline.metadata_url) as store:
            publisher.recover_stale(store, artifact_root(pipeline), pipeline.name)
            state = self._start_run(pipeline, store, params or {}, enable_cache,
                                    allow_shared_name)
            _prepare_node_contexts(selected, state)
            _load_skipped_outputs(compiled, selected, state)
            state.hooks.before_pipeline_run(state.info)
            try:
                results = self._schedule(compiled, selected, state)
            except KeyboardInterrupt:
                raise _interrupted(state, resume_command) from None
            finally:
                state.cleanup.drain()  # no scratch directory outlives the run
            status = run_status(results)
            store.put_context(PIPELINE_RUN, state.info.run_id,
                              {"status": status, "end_time": time.time()})
            state.hooks.after_pipeline_run(state.info, status, results)
        return RunResult(pipeline.name, state.info.run_id, status, state.info.root,
                         time.time() - state.info.started, results,
                         resume_command if status == "FAILED" else None)

    def _start_run(self, pipeline: Pipeline, store: MetadataStore, params: dict[str, Any],
                   enable_cache: bool | None, allow_shared_name: bool = False) -> RunState:
        root = artifact_root(pipeline)
        tracking = (default_tracking_uri() if pipeline.tracking_uri is None
                    else pipeline.tracking_uri)
        run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        info = RunInfo(pipeline.name, run_id, root, pipeline.metadata_url, tracking,
                       {k: redact_text(str(v)) for k, v in params.items()}, time.time())
        pipeline_ctx = claim_pipeline_name(store, pipeline, root, allow_shared_name)
        run_ctx = store.put_context(PIPELINE_RUN, run_id, {
            "pipeline": pipeline.name, "status": "RUNNING", "start_time": info.started,
            "params": info.params, "pid": os.getpid(), "host": socket.gethostname()})
        hooks: list[PipelineHooks] = list(self.extra_hooks)
        if tracking and self.mirror_mlflow:
            from gristmill.orchestrator.mlflow_mirror import MlflowMirror

            hooks.insert(0, MlflowMirror())
        cache = pipeline.enable_cache if enable_cache is None else enable_cache
        sources = [c.source_uri for c in pipeline.components if hasattr(c, "make_artifact")]
        return RunState(info, store, HookList(hooks), [pipeline_ctx.id, run_ctx.id], cache,
                        list(pipeline.beam_pipeline_args), read_roots=(root, *sources))

    def _schedule(self, compiled: CompiledPipeline, selected: list[str], state: RunState
                  ) -> list[NodeResult]:
        results: dict[str, NodeResult] = {}
        running: dict[Any, str] = {}
        waiting = [n for n in compiled.order if n in selected]
        while waiting or running:
            for node_id in list(waiting):
                verdict = _readiness(compiled, node_id, selected, results, state.outputs)
                if verdict == "wait":
                    continue
                waiting.remove(node_id)
                if verdict == "ready":
                    running[self._submit(self._launch_fn(compiled, node_id, state))] = node_id
                else:
                    results[node_id] = _cancel(compiled, node_id, state, verdict)
                    results[node_id].skipped = verdict.startswith(SKIPPED)
            if running:
                done = self._wait(list(running))
                for future in done:
                    node_id = running.pop(future)
                    results[node_id] = future.result()
                    _record_outputs(state, results[node_id])
        return [results[n] for n in compiled.order if n in results]

    @staticmethod
    def _launch_fn(compiled: CompiledPipeline, node_id: str, state: RunState
                   ) -> Callable[[], NodeResult]:
        component = compiled.nodes[node_id].component
        node_context_id = state.node_context_id(node_id)
        return lambda: launch(component, state, node_context_id)

    def _submit(self, fn: Callable[[], NodeResult]) -> Any:
        raise NotImplementedError

    def _wait(self, futures: list[Any]) -> Iterable[Any]:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return done


class LocalDagRunner(BaseRunner):
    """Runs independent nodes concurrently on a bounded thread pool (TFX runs them one by one).

    Args:
        max_workers: Nodes running at once (default: the number of CPU cores, at most 4).
    """

    def __init__(self, max_workers: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_workers = max_workers or max(1, min(4, os.cpu_count() or 1))
        self._pool: cf.ThreadPoolExecutor | None = None

    def run(self, pipeline: Pipeline, **kwargs: Any) -> RunResult:
        pool = cf.ThreadPoolExecutor(self.max_workers, thread_name_prefix="gristmill")
        self._pool = pool
        interrupted = False
        try:
            return super().run(pipeline, **kwargs)
        except KeyboardInterrupt:
            interrupted = True  # do not wait for running executors: they are CANCELED
            raise
        finally:
            self._pool = None
            pool.shutdown(wait=not interrupted, cancel_futures=True)

    def _submit(self, fn: Callable[[], NodeResult]) -> Any:
        assert self._pool is not None
        return self._pool.submit(fn)


class SequentialRunner(BaseRunner):
    """Runs one node at a time in the calling thread (easiest to debug)."""

    def _submit(self, fn: Callable[[], NodeResult]) -> Any:
        future: cf.Future = cf.Future()
        future.set_result(fn())
        return future


def claim_pipeline_name(store: MetadataStore, pipeline: Pipeline, root: str,
                        allow_shared_name: bool = False):
    """The pipeline's context, after checking that the name is this pipeline's.

    Runs of one name share history: the cache, Resolver baselines, the registered
    ``<name>@champion`` model. The context records the identities (source file or declared
    ``pipeline_id``) that ran under the name; a new identity is refused unless sharing is
    meant, and then it is recorded too. Stores from before identities were recorded adopt
    the first identity that runs.
    """
    known = known_identities(store, pipeline.name)
    properties: dict[str, Any] = {"root": root}
    identity = pipeline.identity
    if identity and identity not in known:
        if known and not allow_shared_name:
            raise shared_name_error(pipeline, known)
        properties["identities"] = [*known, identity]
    return store.put_context(PIPELINE, pipeline.name, properties)


def known_identities(store: MetadataStore, name: str) -> list[str]:
    """The identities that have run under pipeline name ``name`` in this store."""
    existing = store.get_context(PIPELINE, name)
    return list((existing.properties.get("identities") if existing else None) or [])


def shared_name_error(pipeline: Pipeline, known: list[str]) -> ConfigError:
    """The refusal of a pipeline whose name another pipeline (``known[0]``) has used."""
    identity = pipeline.identity or ""
    return ConfigError(
        f"Pipeline {pipeline.name!r} from {_describe_identity(identity)}: this metadata store "
        f"already holds the history of a different pipeline named {pipeline.name!r}, from "
        f"{_describe_identity(known[0])}. Runs of one name share the cache, Resolver "
        f"baselines and the registered '{pipeline.name}@champion' model, so this run would "
        "compare against and replace the other pipeline's models.",
        fix="rename this pipeline (Pipeline('another_name', ...)); or, if both are meant to "
            "share one history (the file was moved), run with --allow-shared-name (Python: "
            "runner.run(..., allow_shared_name=True)) or declare the same "
            "Pipeline(pipeline_id=...) in both")


def _describe_identity(identity: str) -> str:
    kind, _, value = identity.partition(":")
    return f"pipeline_id {value!r}" if kind == "id" else value


def select_nodes(compiled: CompiledPipeline, from_nodes: list[str], to_nodes: list[str]
                 ) -> list[str]:
    """The node ids a partial run executes (all of them when no bounds are given)."""
    for node_id in [*from_nodes, *to_nodes]:
        if node_id not in compiled.nodes:
            raise ConfigError(f"--from/--to: pipeline {compiled.pipeline.name!r} has no node "
                              f"{node_id!r}.{did_you_mean(node_id, compiled.nodes)}",
                              fix=f"use one of {sorted(compiled.nodes)}")
    chosen = set(compiled.order)
    if from_nodes:
        chosen = set(from_nodes).union(*(compiled.descendants(n) for n in from_nodes))
    if to_nodes:
        chosen &= set(to_nodes).union(*(compiled.ancestors(n) for n in to_nodes))
    return [n for n in compiled.order if n in chosen]


SKIPPED = "skipped: "


def _readiness(compiled: CompiledPipeline, node_id: str, selected: list[str],
               results: dict[str, NodeResult], outputs: dict) -> str:
    """'ready', 'wait', or the reason to cancel the node (``skipped: ...`` to skip it)."""
    for up in compiled.nodes[node_id].upstream:
        if up not in selected:
            continue
        if up not in results:
            return "wait"
        upstream = results[up]
        if upstream.skipped:
            return f"{SKIPPED}upstream {up} was skipped"
        if not upstream.state.succeeded:
            return f"upstream {up} {upstream.state.value.lower()}"
        if upstream.halt_reason:
            return f"upstream {up} halted downstream nodes: {upstream.halt_reason}"
    return _conditions_verdict(compiled.nodes[node_id].component, outputs)


def _conditions_verdict(component, outputs: dict) -> str:
    """'ready' when every ``Cond`` predicate of the node holds, else why it is skipped."""
    for predicate in component.conditions:
        try:
            if not predicate.evaluate(outputs):
                return f"{SKIPPED}Cond({predicate}) is false"
        except GristmillError as e:
            return f"its Cond({predicate}) could not be evaluated: {e}"
    return "ready"


def _cancel(compiled: CompiledPipeline, node_id: str, state: RunState, reason: str
            ) -> NodeResult:
    component = compiled.nodes[node_id].component
    execution = publisher.register_execution(
        state.store, component_id=node_id, component_type=component.type_name, parameters={},
        cache_key=None, ingredients={},
        context_ids=[*state.context_ids, state.node_context_id(node_id)],
        inputs={}, outputs={}, pipeline_name=state.info.pipeline_name,
        run_id=state.info.run_id, state=ExecutionState.NEW)
    publisher.publish_canceled(state.store, execution, reason)
    return NodeResult(node_id, component.type_name, ExecutionState.CANCELED,
                      execution_id=execution.id, error=reason)


def _record_outputs(state: RunState, result: NodeResult) -> None:
    if result.state.succeeded:
        state.outputs[result.node_id] = result.outputs


def _prepare_node_contexts(selected: list[str], state: RunState) -> None:
    """Get or create the NODE context of every selected node in one store transaction."""
    prefix = f"{state.info.pipeline_name}."
    contexts = state.store.put_contexts(NODE, [prefix + n for n in selected])
    state.node_context_ids.update({n: contexts[prefix + n].id for n in selected})


def _load_skipped_outputs(compiled: CompiledPipeline, selected: list[str], state: RunState
                          ) -> None:
    """Partial runs reuse the latest successful outputs of nodes they skip."""
    needed = {up for n in selected for up in compiled.nodes[n].upstream} - set(selected)
    for node_id in sorted(needed):  # a deterministic first error
        executions = state.store.list_executions(
            pipeline_name=state.info.pipeline_name, component_id=node_id,
            states=[ExecutionState.COMPLETE, ExecutionState.CACHED])
        if not executions:
            raise ConfigError(f"--from: node {node_id!r} is skipped but has never succeeded in "
                              f"pipeline {state.info.pipeline_name!r}, so its outputs are unknown.",
                              fix=f"run it first, or start the partial run at --from {node_id}")
        state.outputs[node_id] = state.store.get_outputs(executions[-1].id)
