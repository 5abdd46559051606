"""Mirror pipeline runs into MLflow: one parent run per pipeline run, one nested run per node.

Importing MLflow and opening its store costs about 2 s here, more than a whole cached
pipeline run, so the mirror never does it on the run's critical path. During the run this
hook appends events to a durable JSONL journal under ``$GRISTMILL_HOME/mirror/``; at the end
a detached ``python -m gristmill.orchestrator.mlflow_replay`` process replays it into MLflow
(``GRISTMILL_MLFLOW_MIRROR=sync`` replays in-process instead; ``off`` disables the mirror).
``gristmill ui`` replays pending journals before it starts. A failing mirror only warns.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.db_url import redact_text, redact_values
from gristmill.metadata.settings import gristmill_home
from gristmill.orchestrator.hooks import NodeResult, PipelineHooks, RunInfo
from gristmill.orchestrator.mlflow.conventions import DATASET_TYPES, journal_origin
from gristmill.orchestrator.mlflow.system_metrics import SAMPLED_TYPES, SystemSampler

log = logging.getLogger(__name__)
MODE_ENV = "GRISTMILL_MLFLOW_MIRROR"
#: Component types that register model versions: their model's source run is opened early.
REGISTERING_TYPES = frozenset({"Pusher"})


def mirror_dir() -> Path:
    """Where journals wait to be replayed."""
    return gristmill_home() / "mirror"


def mirror_mode() -> str:
    """``async`` (default), ``sync`` or ``off``."""
    return os.environ.get(MODE_ENV, "async").lower()


class Journal:
    """Append-only JSONL event log of one pipeline run; thread-safe."""

    def __init__(self, path: Path):
        self.path = path
        self.files_dir = path.with_suffix(".files")
        self._lock = threading.Lock()
        self._copies = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, op: str, **fields: Any) -> None:
        """Append one event (every URL password hidden) and flush it to disk."""
        line = json.dumps(redact_values({"op": op, "time": time.time(), **fields}),
                          default=str)
        with self._lock:
            # Owner-only: a journal names paths and parameters of the user's runs.
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with open(descriptor, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def keep_copy(self, path: str) -> str:
        """Copy a file or directory next to the journal (staging paths move on publish)."""
        with self._lock:
            self._copies += 1
            target = self.files_dir / f"{self._copies:04d}-{Path(path).name}"
            self.files_dir.mkdir(parents=True, exist_ok=True)
            if os.path.isdir(path):
                shutil.copytree(path, target)
            else:
                shutil.copy2(path, target)
        return str(target)


class JournalReporter(Reporter):
    """What an executor reports, written to the journal under its node id."""

    def __init__(self, journal: Journal, node_id: str):
        self.journal = journal
        self.node_id = node_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.journal.write("params", node=self.node_id, params=dict(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.journal.write("metrics", node=self.node_id, metrics=dict(metrics), step=step)

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        kept = self.journal.keep_copy(path)
        self.journal.write("artifact", node=self.node_id, path=kept, artifact_path=artifact_path,
                           name=Path(path).name)

    def log_model(self, model_dir: str, name: str = "model") -> None:
        kept = self.journal.keep_copy(model_dir)
        self.journal.write("model", node=self.node_id, path=kept, name=name)


class MlflowMirror(PipelineHooks):
    """Journals the run; replays it into MLflow when the run ends."""

    def __init__(self, mode: str | None = None):
        self.mode = mode or mirror_mode()
        self.journal: Journal | None = None
        self.tracking_uri: str | None = None  # in memory only: journals hold it redacted
        self.made: dict[str, set[int]] = {}  # node -> ids of the artifacts it output
        self.early: dict[str, Any] = {}  # MLflow runs opened during the run
        self.samplers: dict[str, SystemSampler] = {}  # node -> its system metrics sampler

    def before_pipeline_run(self, run: RunInfo) -> None:
        if self.mode == "off":
            return
        _start_tracking_store_creation(run.tracking_uri)
        self.tracking_uri = run.tracking_uri
        self.journal = Journal(mirror_dir() / f"{run.run_id}.jsonl")
        self.journal.write("start_pipeline", pipeline=run.pipeline_name, run_id=run.run_id,
                           tracking_uri=run.tracking_uri, params=run.params, root=run.root,
                           start=run.started, **journal_origin())

    def before_node(self, run: RunInfo, result: NodeResult, context: ExecutionContext) -> None:
        if self.journal is None:
            return
        context.reporter = JournalReporter(self.journal, result.node_id)
        self.journal.write("start_node", node=result.node_id, type=result.component_type,
                           execution_id=result.execution_id)
        if result.component_type in SAMPLED_TYPES and result.cache_reason is not None:
            self.samplers[result.node_id] = SystemSampler(
                lambda metrics, step, node=result.node_id: self.journal.write(
                    "metrics", node=node, metrics=metrics, step=step))
        # Only on a cache miss (cache_reason set): a cache hit registers nothing, and opening
        # runs costs the MLflow import (~2 s) on a cached run's critical path.
        if result.component_type in REGISTERING_TYPES and context.tracking_uri and \
                result.cache_reason is not None:
            context.mlflow_run_id = self._open_model_source_run(run, result)

    def _open_model_source_run(self, run: RunInfo, result: NodeResult) -> str | None:
        """The MLflow run of the node that made this node's ``model`` input in this pipeline
        run, opened now (see :func:`open_runs_early`); None for a model from
        an earlier run (its version then has no source run) or when MLflow fails."""
        models = result.inputs.get("model") or []
        producer = next((node for node, ids in self.made.items()
                         if models and models[0].id in ids), None)
        if producer is None:
            return None
        start = {"op": "start_pipeline", "pipeline": run.pipeline_name, "run_id": run.run_id,
                 "tracking_uri": self.tracking_uri, "params": run.params, "root": run.root,
                 "start": run.started, **journal_origin()}
        try:
            self.early = open_runs_early(start, producer, mirror_dir(), self.early)
        except Exception as e:  # the mirror never fails the run: register without a run
            log.warning("MLflow mirror: could not open the run of %s for %s's model version "
                        "(it gets no source run): %s", producer, result.node_id,
                        redact_text(str(e).splitlines()[0] if str(e) else type(e).__name__))
            return None
        self.journal.write("early_runs", **self.early)
        return self.early["nodes"][producer]

    def after_node(self, run: RunInfo, result: NodeResult, context: ExecutionContext) -> None:
        if self.journal is None:
            return
        sampler = self.samplers.pop(result.node_id, None)
        if sampler is not None:
            sampler.stop()
        if result.state.succeeded:
            self.made[result.node_id] = {a.id for v in result.outputs.values() for a in v}
        self.journal.write("end_node", node=result.node_id, type=result.component_type,
                           state=result.state.value, seconds=result.seconds,
                           execution_id=result.execution_id,
                           error=_redacted(result.error), metrics=result.metrics,
                           skipped=result.skipped, halt_reason=_redacted(result.halt_reason),
                           parameters=_redacted(result.parameters),
                           inputs=_artifact_refs(result.inputs),
                           outputs=_artifact_refs(result.outputs))

    def after_pipeline_run(self, run: RunInfo, status: str, results: list[NodeResult]) -> None:
        if self.journal is None:
            return
        for sampler in self.samplers.values():  # a node that never reached after_node
            sampler.stop()
        self.samplers.clear()
        for result in results:
            if result.state.value == "CANCELED":
                self.journal.write("end_node", node=result.node_id, type=result.component_type,
                                   state="CANCELED", seconds=0.0, skipped=result.skipped,
                                   execution_id=result.execution_id, error=_redacted(result.error),
                                   metrics={}, parameters={}, inputs={}, outputs={})
        self.journal.write("end_pipeline", status=status, seconds=time.time() - run.started)
        self.journal.path.rename(self.journal.path.with_suffix(".ready"))
        ready = str(self.journal.path.with_suffix(".ready"))
        if self.mode == "sync":
            from gristmill.orchestrator.mlflow_replay import replay_file

            replay_file(ready, self.tracking_uri)
        else:
            _spawn_replay(ready, self.tracking_uri)


def open_runs_early(start: dict[str, Any], node: str, lock_dir: Path,
                    early: dict[str, Any]) -> dict[str, Any]:
    """During a pipeline run, open its parent MLflow run and ``node``'s nested run now.

    The Pusher registers a model version while the pipeline runs, and MLflow sets a
    version's source ``run_id`` only at creation; so the run that trained the model must
    exist by then. The replay adopts these runs (the journal's ``early_runs`` event); the
    replay lock is held while writing. Written with the replay's direct SQLite writer when
    it may (no MLflow import on the critical path), else with MLflow's client.

    Args:
        start: The journal's ``start_pipeline`` event with the full tracking URI.
        node: The node whose run to open (the model's producer).
        lock_dir: Where the replay lock lives (replays and this never write at once).
        early: What an earlier call of this run returned (its parent run is reused).

    Returns:
        ``{"experiment", "parent", "nodes": {node: run id}}``.
    """
    import fcntl

    with open(lock_dir / ".replay.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _open_early_runs(start, node, early)


def _open_early_runs(start: dict[str, Any], node: str, early: dict[str, Any]
                     ) -> dict[str, Any]:
    """:func:`open_runs_early`'s writes: with the replay's direct SQLite writer when it may
    (no MLflow import on the pipeline's critical path), else, or when it refuses, rolled
    back and done with MLflow's client."""
    from gristmill.metadata.db_url import redact_text, sqlite_file
    from gristmill.metadata.mlflow_direct import write_directly
    from gristmill.orchestrator.mlflow import sqlite_writer

    refusal = sqlite_writer.direct_refusal(start["tracking_uri"], False)
    if refusal is None:
        written, opened = write_directly(
            sqlite_writer.SqliteWriter, sqlite_file(start["tracking_uri"]),
            lambda writer: _open_with(start, node, early, writer))
        if written:
            log.info("MLflow mirror: runs opened early directly (sqlite3)")
            return opened
        refusal = f"the direct writer refused: {opened}"
    log.info("MLflow mirror: runs opened early with MLflow's client: %s", redact_text(refusal))
    return _open_with(start, node, early, None)


def _open_with(start: dict[str, Any], node: str, early: dict[str, Any], writer
               ) -> dict[str, Any]:
    from gristmill.orchestrator.mlflow_replay import _Replayer

    replayer = _Replayer([start], retry=False, writer=writer)  # a new run id: no earlier replay
    if early.get("parent"):
        replayer.experiment_id, replayer.parent_id = early["experiment"], early["parent"]
        replayer.node_runs.update(early.get("nodes", {}))
    else:
        replayer._open_parent({})
    replayer._node_run({"node": node, "time": start["start"]})
    return {"experiment": replayer.experiment_id, "parent": replayer.parent_id,
            "nodes": dict(replayer.node_runs)}


def _redacted(value: Any) -> Any:
    """``value`` with the passwords of URLs in its strings hidden (MLflow shows params)."""
    return redact_values(value)


def _artifact_refs(artifacts: Mapping[str, list]) -> dict[str, list[dict[str, Any]]]:
    return {k: [_artifact_ref(a) for a in v] for k, v in artifacts.items()}


def _artifact_ref(artifact) -> dict[str, Any]:
    """Id, URI and type; for a Pusher's output also the model version it registered."""
    ref = {"id": artifact.id, "uri": artifact.uri, "type": artifact.type_name}
    if artifact.type_name in DATASET_TYPES:  # logged as an MLflow dataset by the replay
        props = getattr(artifact, "properties", None) or {}
        ref.update(fingerprint=artifact.fingerprint, key=artifact.output_key,
                   producer=artifact.producer_component, row_counts=props.get("row_counts"))
    props = getattr(artifact, "custom_properties", None) or {}
    if props.get("registered_model_name") and props.get("registered_model_version"):
        ref["model_version"] = {"name": str(props["registered_model_name"]),
                                "version": str(props["registered_model_version"]),
                                "alias": str(props.get("registered_model_alias") or ""),
                                "model_id": props.get("model_id")}
    return ref


def _start_tracking_store_creation(tracking_uri: str | None) -> None:
    """On a fresh home, build MLflow's schema in another process while the pipeline works."""
    from gristmill.components.framework.tracking_store import needs_creation

    if needs_creation(tracking_uri):
        subprocess.Popen([sys.executable, "-m", "gristmill.components.framework.tracking_store",
                          tracking_uri], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def _spawn_replay(path: str, tracking_uri: str | None) -> None:
    """Start a detached replay process that outlives this one; the full tracking URI goes
    through its environment (owner-readable only), never through a file."""
    from gristmill.orchestrator.mlflow_replay import TRACKING_URI_ENV

    log_path = Path(path).with_suffix(".log")
    env = {**os.environ, TRACKING_URI_ENV: tracking_uri or ""}
    with open(log_path, "ab") as log_file:
        subprocess.Popen([sys.executable, "-m", "gristmill.orchestrator.mlflow_replay", path],
                         stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True, env=env)
