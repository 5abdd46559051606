"""Cross-cutting features as hooks with no-op defaults (the MLflow mirror, progress)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.types import Artifact, ExecutionState

log = logging.getLogger(__name__)


@dataclass
class RunInfo:
    """One pipeline run as hooks see it."""

    pipeline_name: str
    run_id: str
    root: str
    metadata_url: str | None
    tracking_uri: str | None
    params: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    mlflow_parent_run_id: str | None = None


@dataclass
class NodeResult:
    """What happened to one node in a run."""

    node_id: str
    component_type: str
    state: ExecutionState
    seconds: float = 0.0
    execution_id: int | None = None
    inputs: dict[str, list[Artifact]] = field(default_factory=dict)
    outputs: dict[str, list[Artifact]] = field(default_factory=dict)
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    halt_reason: str | None = None
    cache_reason: str | None = None
    attempts: int = 1
    #: Not run because a ``Cond`` predicate was false (or an upstream node was skipped);
    #: recorded as a CANCELED execution, shown as SKIPPED, and not a failure.
    skipped: bool = False
    #: What the user should know although the node succeeded (a damaged artifact retired).
    warnings: list[str] = field(default_factory=list)
    #: The node failed on a Gristmill bug (not the user's code); its traceback is in bug_log.
    internal_error: bool = False
    bug_log: str | None = None
    #: Set once the hooks have been told the node finished (``after_node``).
    reported: bool = field(default=False, repr=False, compare=False)

    @property
    def display_state(self) -> str:
        """``SKIPPED`` for skipped nodes, else the execution state."""
        return "SKIPPED" if self.skipped else self.state.value

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints for one component."""
        return {"name": self.node_id, "type": self.component_type, "state": self.display_state,
                "seconds": round(self.seconds, 3), "execution_id": self.execution_id,
                "outputs": {k: [{"id": a.id, "uri": a.uri} for a in v]
                            for k, v in self.outputs.items()},
                "error": self.error, "metrics": self.metrics, "attempts": self.attempts,
                "warnings": self.warnings, "internal_error": self.internal_error,
                "bug_log": self.bug_log}


class PipelineHooks:
    """Called around a run and each node. Every method is a no-op here; override some."""

    def before_pipeline_run(self, run: RunInfo) -> None:
        """The run is about to start."""

    def after_pipeline_run(self, run: RunInfo, status: str, results: list[NodeResult]) -> None:
        """The run finished with ``status`` ("COMPLETE" or "FAILED")."""

    def before_node(self, run: RunInfo, result: NodeResult, context: ExecutionContext) -> None:
        """A node is about to execute (or be taken from cache); may set ``context.reporter``."""

    def after_node(self, run: RunInfo, result: NodeResult, context: ExecutionContext) -> None:
        """A node finished, failed, was cached or canceled."""


class HookList(PipelineHooks):
    """Calls several hooks in order; a failing hook warns and never fails the run."""

    def __init__(self, hooks: list[PipelineHooks]):
        self.hooks = hooks

    def _call(self, name: str, *args) -> None:
        for hook in self.hooks:
            try:
                getattr(hook, name)(*args)
            except Exception as e:  # hooks are best-effort by contract
                log.warning("hook %s.%s failed and was skipped: %s", type(hook).__name__, name, e)

    def before_pipeline_run(self, run):
        self._call("before_pipeline_run", run)

    def after_pipeline_run(self, run, status, results):
        self._call("after_pipeline_run", run, status, results)

    def before_node(self, run, result, context):
        self._call("before_node", run, result, context)

    def after_node(self, run, result, context):
        result.reported = True
        self._call("after_node", run, result, context)
